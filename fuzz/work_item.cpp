// The work-item codec (decode_work_item) and the two other values stores keep as JSON:
// error details (decode_error_details) and statuses (decode_status).
// Properties: any bytes decode or raise CodecError; decode_work_item answers what reading
// the text as a JSON document answers (flat_object.hpp); what decodes encodes and
// decodes back equal (codec.hpp's round-trip contract).
#include "support.hpp"

#include "duroxide/detail/json.hpp"

using namespace duroxide;

namespace {

template <typename Value, typename Decode, typename Encode>
void round_trip(std::string_view text, Decode decode, Encode encode, const char* what) {
  Value value;
  if (!fuzz::refused_cleanly([&] { value = decode(text); })) return;
  std::string encoded;
  fuzz::check(fuzz::refused_cleanly([&] { encoded = encode(value); }), what);
  fuzz::check(decode(encoded) == value, what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  fuzz::check(fuzz::decoded_or_error([&] { return encode_work_item(decode_work_item(text)); }) ==
                  fuzz::decoded_or_error([&] {
                    return encode_work_item(detail::work_item_from_json(detail::parse_json(text, "work_item"), "work_item"));
                  }),
              "a work item decodes from its text as from its JSON document");
  round_trip<WorkItem>(text, decode_work_item, encode_work_item, "a work item round-trips");
  round_trip<ErrorDetails>(text, decode_error_details, encode_error_details, "error details round-trip");
  round_trip<OrchestrationStatus>(text, decode_status, encode_status, "a status round-trips");
  return 0;
}
