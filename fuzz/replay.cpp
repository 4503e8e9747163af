// The replayer's outside input (replay_document.hpp): what the playground's "replay a
// history file" and the JS API's replayHistory(history | export) hand the engine.
// Properties: any bytes give a replay document or raise a typed error (a history the
// code cannot replay is reported in the document, never by a crash); a document's first
// window of steps has one step per event.
#include "support.hpp"

#include <algorithm>

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
    const std::string_view text = fuzz::as_text(data, size);
    const fuzz::Json document = replay_document(registry, text);
    document.dump(-1, ' ', false, fuzz::Json::error_handler_t::strict);
    // The scrubber's steps, as the JS API reads them: the first window.
    const fuzz::Json steps = replay_steps_document(text, 0, kMaxReplayStepsPerCall);
    fuzz::check(steps.size() == std::min<std::size_t>(document.at("events").get<std::size_t>(), kMaxReplayStepsPerCall),
                "a window of steps has one step per event");
    steps.dump(-1, ' ', false, fuzz::Json::error_handler_t::strict);
  });
  return 0;
}
