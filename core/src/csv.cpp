#include "duroxide/csv.hpp"

namespace duroxide::csv {

std::string field(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string row(const std::vector<std::string>& fields) {
  std::string out;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) out += ',';
    out += field(fields[i]);
  }
  out += "\r\n";
  return out;
}

std::string table(const nlohmann::json& rows, const std::vector<std::string>& columns) {
  std::string out = row(columns);
  if (!rows.is_array()) return out;
  for (const auto& object : rows) {
    std::vector<std::string> fields;
    for (const auto& column : columns) {
      if (!object.is_object() || !object.contains(column) || object[column].is_null()) {
        fields.emplace_back();
      } else if (object[column].is_string()) {
        fields.push_back(object[column].get<std::string>());
      } else {
        fields.push_back(object[column].dump());
      }
    }
    out += row(fields);
  }
  return out;
}

}  // namespace duroxide::csv
