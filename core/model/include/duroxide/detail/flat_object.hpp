// A JSON object of scalar values read straight from its text: the shape of nearly every
// stored event and work item. Not a public header.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "duroxide/detail/json.hpp"

namespace duroxide::detail {

struct FlatObject {
  // In text order. A repeated key keeps every occurrence; find() answers with the last,
  // as parse_json's object does.
  std::vector<std::pair<std::string, Json>> fields;

  // The value of `key`, or nullptr.
  const Json* find(std::string_view key) const;
};

// Reads `text` into `out` when it is an object in the subset this reader takes:
// strings of printable ASCII with the two-character escapes (\" \\ \/ \b \f \n \r \t),
// integers of up to 18 digits, true, false and null, and no nested object or array.
// What it reads is exactly what parse_json would read from the same text. Anything
// else (a nested value, \u escapes, bytes outside printable ASCII, fractions, long
// numbers, syntax errors, a document over the size limit) returns false, and the caller
// reads the text with parse_json, which then decodes it or raises the CodecError.
bool read_flat_object(std::string_view text, FlatObject& out);

}  // namespace duroxide::detail
