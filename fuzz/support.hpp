// What the fuzz targets of fuzz/ share: the failure report, the error classes a
// decoder may raise, and a host like the playground's (wasm/bindings.cpp): the sample
// catalog, an SQLite store on an in-memory disk, a step driver on a virtual clock, and
// both clients behind the command table (core/hosts/include/duroxide/commands.hpp).
//
// A decoder of outside data may refuse its input only with a typed error
// (CodecError, CommandError, ClientError, ProviderError): that is the clear error the
// hosts show. Any other exception (a JSON library type error, std::out_of_range,
// std::bad_alloc...) escaping a decoder is a finding, and so is a crash, a sanitizer
// report, a failed round trip, a hang (-timeout) or unbounded memory (-rss_limit_mb).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "duroxide/management_client.hpp"
#include "duroxide/registry.hpp"
#include "duroxide/runtime.hpp"
#include "duroxide/runtime_client.hpp"
#include "duroxide/sim/memory_vfs.hpp"
#include "duroxide/sqlite_provider.hpp"

namespace duroxide::fuzz {

using Json = nlohmann::json;

// Reports a broken property and aborts: libFuzzer saves the input as a crash.
[[noreturn]] void fail(const std::string& what);
inline void check(bool condition, const char* what) {
  if (!condition) fail(what);
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Runs `body`; a typed error is a refusal and returns false; any other exception fails.
template <typename Body>
bool refused_cleanly(Body&& body);

// What a decoder answers for an input: "value " and the value encoded again, or "error "
// and the CodecError's text. Two decoders of the same text must answer the same.
template <typename Decode>
std::string decoded_or_error(Decode&& decode);

// Reads an input front to back: the structured targets draw choices from it.
class ByteReader {
 public:
  explicit ByteReader(std::string_view bytes) : bytes_(bytes) {}
  bool empty() const { return position_ >= bytes_.size(); }
  std::uint8_t byte();                 // 0 when the input is used up
  std::uint64_t number(int bytes);     // little-endian, 1..8 bytes
  std::string text(std::size_t max);   // a length byte, then up to that many bytes
  std::string_view rest();             // everything not read yet

 private:
  std::string_view bytes_;
  std::size_t position_ = 0;
};

// The playground's StepPacer (runtime.hpp: drive the runtime, and move the virtual clock
// by the time asked for when it is idle or still busy after a bound of steps), with a
// smaller bound (20 steps) and, after 100 polls within one Host, an hour per poll: a
// command may wait up to a day 50 ms per poll, minutes under the sanitizers (docs/
// fuzzing.md, "Known limits"). Timers due within such an hour fire late; nothing else differs.
class FastForwardPacer final : public Pacer {
 public:
  FastForwardPacer(StepDriver& driver, ManualClock& clock) : driver_(driver), clock_(clock) {}
  TimestampMs now_ms() override { return clock_.now_ms(); }
  void wait(std::int64_t ms) override;

 private:
  StepDriver& driver_;
  ManualClock& clock_;
  int polls_ = 0;
};

// The playground's engine without JavaScript: a store opened from `database` bytes
// (empty: a new database), the sample catalog, a StepDriver on a ManualClock.
class Host {
 public:
  explicit Host(const std::string& database = {});
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  // One command of the command table, as the CLI and the JS facade run it.
  Json command(const std::string& name, const Json& args);
  // At most `max_steps` dispatcher steps (the playground's "run").
  void run(std::size_t max_steps);
  // What the playground's inspector reads for a database: the store-wide views and
  // the listing, then two instances of the listing (picked by `pick`) in full.
  void inspect(std::uint8_t pick);
  // One instance as the inspector shows it: status, details, tree, children, stats,
  // values, executions, each execution's history and its replay step by step, and the
  // export, re-imported under a new id, which must export the same document (`intact`).
  void inspect_instance(const std::string& instance);
  // The database's bytes after a checkpoint (the playground's saveDatabase).
  std::string save();

  // Whether an export re-imported must export the same document: not on a file with
  // flipped bytes, where SQLite may read a damaged index without noticing.
  bool intact = true;
  ManualClock clock{1'700'000'000'000};
  SequentialIdSource ids{"fuzz"};
  Registry registry;
  std::unique_ptr<SqliteProvider> store;
  std::unique_ptr<StepDriver> driver;
  std::unique_ptr<FastForwardPacer> pacer;
  std::unique_ptr<RuntimeClient> client;
  std::unique_ptr<ManagementClient> management;

 private:
  void remove_files();  // the database and every file SQLite keeps beside it
  std::string path_;
};

// The in-memory disk every Host's database lives on.
sim::MemoryVfs& disk();

// An export document of another instance id: the instance and the messages queued for it
// (InstanceExport::messages) renamed, so it imports beside the original.
Json renamed_export(Json document, const std::string& instance);

// Fails unless every Host's files are gone (their memory would add up over a run).
void check_disk_empty();

// The bytes of a database holding one instance of each sample in the catalog, run to
// completion or to its first wait (built once per process).
const std::string& sample_database();

// The sample database after its queued work ran (built once per process): every
// instance waits on a timer or an event, nothing is due, so a target's bounded run
// executes only what its input queued instead of the same queued work every time.
const std::string& settled_database();

}  // namespace duroxide::fuzz

#include "support_impl.hpp"
