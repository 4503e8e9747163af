// CSV (RFC 4180) for exports beside JSON: listings, statistics.
//
// Contract: a field containing a comma, a double quote, CR or LF is wrapped in
// double quotes with inner quotes doubled; other fields are written as they
// are; rows end with CRLF. Nested JSON values are written as compact JSON text.
// A field a spreadsheet would run as a formula (one starting with =, +, -, @,
// tab or CR that is not a plain number) is prefixed with a single quote, so it
// is shown as text (OWASP's advice against CSV injection).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace duroxide::csv {

std::string field(std::string_view text);
std::string row(const std::vector<std::string>& fields);
// A header row of `columns`, then one row per object of `rows` (an array of
// objects); a missing or null value is an empty field.
std::string table(const nlohmann::json& rows, const std::vector<std::string>& columns);

}  // namespace duroxide::csv
