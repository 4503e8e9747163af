// The generated workload's program language: the statements a generated
// orchestration is made of, its interpreter on the engine and its reference
// model. See duroxide/sim/generator.hpp and docs/simulator.md.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "duroxide/registry.hpp"
#include "duroxide/sim/random.hpp"
#include "duroxide/sim/user_workload.hpp"

namespace duroxide::sim::program {

enum class Kind {
  Call,      // an activity: returns r(<data>), or fails with "boom <marker>"
  Retry,     // an activity with a retry policy and backoff: fails its first `fail_times` runs
  Timer,     // a durable timer of `ms`
  Wait,      // the next external event `name`
  Dequeue,   // the next message of queue `name`
  Sub,       // a sub-orchestration running `child`
  Par,       // join of the leaf statements in `body`
  Select,    // first of the leaf statements in `body` (losers cancelled)
  Try,       // runs `body`; a failure inside ends it with "caught"
  Status,    // sets the custom status to `name`
  Detach,    // a detached start of `child` under the id <instance>~d<id>.<execution>
  Fail,      // throws "fail <marker>"
  Payload,   // an activity returning a payload of kind `payload`
  BadInput,  // an activity input that is not valid UTF-8: the instance fails
};

enum class PayloadKind { Unicode, InvalidUtf8, AtLimit, OverLimit };

struct Program;

struct Stmt {
  Kind kind = Kind::Call;
  std::uint32_t id = 0;      // unique within its program
  std::string name;          // Wait/Dequeue: event or queue; Status: the text
  std::string data;          // Call: the activity input (ending "@<session>" with a session)
  std::string session;       // Call: the activity session it runs in (empty: none)
  bool fails = false;        // Call: the activity throws
  std::uint32_t fail_times = 0;  // Retry: runs that fail before one succeeds
  std::uint32_t attempts = 0;    // Retry: the policy's attempts
  std::int64_t ms = 0;           // Timer: delay; Retry: the first backoff
  PayloadKind payload = PayloadKind::Unicode;
  std::shared_ptr<const Program> child;  // Sub, Detach
  std::vector<Stmt> body;                // Par, Select, Try
};

struct Program {
  std::string name;                 // the registered orchestration name
  std::vector<Stmt> body;
  std::uint32_t executions = 1;     // 1 + continue-as-new count
};

// Never reached by a Retry: its activity always fails.
constexpr std::uint32_t kAlwaysFails = 1'000'000;

// ---- drawing (program_generate.cpp)
struct DrawLimits {
  std::size_t max_statements = 6;
  int depth = 0;            // 0 for a root program; children are drawn at depth + 1
  bool root = true;         // only roots wait on events and queues (clients know their ids)
};
std::shared_ptr<Program> draw_program(SimRandom& random, const std::string& name, const DrawLimits& limits);
// The program as readable pseudo-code.
std::string to_text(const Program& program);
// Events and messages the program may consume at most, per name, over all executions.
std::map<std::string, std::size_t> max_consumption(const Program& program, Kind kind);

// ---- the interpreter on the engine (program_interpret.cpp)
struct Shared {
  Coverage coverage;
  std::map<std::string, std::uint32_t> retry_runs;  // Retry activity runs by instance, execution and input
};
// Registers `program` and, recursively, its children, and the activities (once).
void register_program(Registry& registry, std::shared_ptr<const Program> program, std::shared_ptr<Shared> shared);
void register_activities(Registry& registry, std::shared_ptr<Shared> shared);
std::string initial_input();
// What the Payload activity returns for each kind.
std::string payload_value(PayloadKind kind);

// ---- the reference model (program_model.cpp)
struct Inputs {
  std::map<std::string, std::vector<std::string>> events;    // accepted raises, by name, in order
  std::map<std::string, std::vector<std::string>> messages;  // accepted enqueues, by queue, in order
};
// The problems with an instance's end, given the program and what the clients did.
std::vector<std::string> check_end(const Program& program, const InstanceEnd& end, const InstanceLookup& lookup);
// How many distinct ends the model allows with these inputs (capped at `cap`).
std::size_t model_breadth(const Program& program, const Inputs& inputs, std::size_t cap);

// Observations and markers shared by the interpreter and the model.
std::string marker(const Program& program, const Stmt& stmt);
std::string short_value(const std::string& value);

}  // namespace duroxide::sim::program
