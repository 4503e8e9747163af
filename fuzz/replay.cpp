// The replayer's outside input (replay_document.hpp): what the playground's "replay a
// history file" and the JS API's replayHistory(history | export) hand the engine.
// Properties: any bytes give a replay document or raise a typed error (a history the
// code cannot replay is reported in the document, never by a crash).
#include "support.hpp"

#include "duroxide/replay_document.hpp"
#include "duroxide/samples.hpp"

using namespace duroxide;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const Registry registry = [] {
    Registry catalog;
    samples::register_all(catalog);
    return catalog;
  }();
  fuzz::refused_cleanly([&] {
    const fuzz::Json document = replay_document(registry, fuzz::as_text(data, size));
    document.dump(-1, ' ', false, fuzz::Json::error_handler_t::strict);
  });
  return 0;
}
