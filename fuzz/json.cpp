// The project's JSON reader (detail::parse_json: the document size and nesting limits
// every codec and import goes through) and writer (detail::dump_json).
// Properties: any bytes parse or raise CodecError; a parsed value dumps (its strings are
// valid UTF-8) and the dump parses back to an equal value.
#include "support.hpp"

#include "duroxide/detail/json.hpp"

using namespace duroxide;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  detail::Json value;
  if (!fuzz::refused_cleanly([&] { value = detail::parse_json(fuzz::as_text(data, size), "fuzz"); })) return 0;
  std::string dumped;
  fuzz::check(fuzz::refused_cleanly([&] { dumped = detail::dump_json(value, "fuzz"); }),
              "a parsed document dumps");
  detail::Json again;
  fuzz::check(fuzz::refused_cleanly([&] { again = detail::parse_json(dumped, "fuzz"); }),
              "a dumped document parses");
  fuzz::check(again == value, "a dumped document parses back to the same value");
  return 0;
}
