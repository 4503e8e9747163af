// The history codec (decode_history, decode_event): what the stores read back from
// their rows, what imports and the replayer are given.
// Properties: any bytes decode or raise CodecError; decode_event answers what reading
// the text as a JSON document answers (it reads objects of scalars straight from the
// text: flat_object.hpp); a decoded history encodes and decodes back equal (codec.hpp's
// round-trip contract); folding it (history_state.hpp, the management views of a
// running instance) never fails.
#include "support.hpp"

#include "duroxide/detail/json.hpp"
#include "duroxide/history_state.hpp"
#include "duroxide/json_views.hpp"

using namespace duroxide;

namespace {

void check_event(std::string_view text) {
  fuzz::check(fuzz::decoded_or_error([&] { return encode_event(decode_event(text)); }) ==
                  fuzz::decoded_or_error([&] {
                    return encode_event(detail::event_from_json(detail::parse_json(text, "event"), "event"));
                  }),
              "an event decodes from its text as from its JSON document");
  Event event;
  if (!fuzz::refused_cleanly([&] { event = decode_event(text); })) return;
  std::string encoded;
  fuzz::check(fuzz::refused_cleanly([&] { encoded = encode_event(event); }), "a decoded event encodes");
  fuzz::check(decode_event(encoded) == event, "an event round-trips");
}

void check_history(std::string_view text) {
  History history;
  if (!fuzz::refused_cleanly([&] { history = decode_history(text); })) return;
  std::string encoded;
  fuzz::check(fuzz::refused_cleanly([&] { encoded = encode_history(history); }), "a decoded history encodes");
  fuzz::check(decode_history(encoded) == history, "a history round-trips");
  for (std::size_t count = 0; count <= history.size(); ++count) fold_history(history, count);
  json_views::history(history);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  check_event(text);
  check_history(text);
  return 0;
}
