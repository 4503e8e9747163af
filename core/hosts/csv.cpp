#include "duroxide/csv.hpp"

namespace duroxide::csv {

namespace {

// An optional sign, digits with at most one decimal point, an optional exponent.
bool is_number(std::string_view text) {
  std::size_t i = 0;
  auto digits = [&] {
    const std::size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    return i > start;
  };
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
  bool mantissa = digits();
  if (i < text.size() && text[i] == '.') {
    ++i;
    mantissa = digits() || mantissa;
  }
  if (!mantissa) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
    if (!digits()) return false;
  }
  return i == text.size();
}

// A spreadsheet runs a cell starting with one of these as a formula.
bool starts_like_formula(std::string_view text) {
  return !text.empty() && std::string_view("=+-@\t\r").find(text.front()) != std::string_view::npos &&
         !is_number(text);
}

}  // namespace

std::string field(std::string_view text) {
  std::string neutralised;
  if (starts_like_formula(text)) {
    neutralised = "'" + std::string(text);
    text = neutralised;
  }
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
