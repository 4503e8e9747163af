// Registry: the orchestrations (versioned) and activities a host can run.
//
// Contract:
// - orchestration versions are semantic versions `MAJOR.MINOR.PATCH`; registering
//   without a version registers 1.0.0;
// - a new instance starts the version the caller asked for, else the name's
//   policy decides: Latest (default: the highest version) or Exact (a pinned one);
// - an instance that already started always replays the version recorded in its
//   history (`find_orchestration`), never the policy's choice;
// - registration errors (bad version, duplicate, empty name) throw
//   std::invalid_argument: they are programming errors found at startup.
#pragma once

#include <atomic>
#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "duroxide/semver.hpp"
#include "duroxide/task.hpp"
#include "duroxide/work_item.hpp"

namespace duroxide {

class OrchestrationContext;

// What an activity knows about the work it performs.
struct ActivityContext {
  std::string instance;
  ExecutionId execution_id = 0;
  EventId activity_id = 0;
  std::string name;
  // Set when the activity's lock is lost (its orchestration cancelled it, or the
  // lock expired and another worker may run it): a long activity should poll
  // is_cancelled() and stop; its result will be dropped either way.
  std::shared_ptr<const std::atomic<bool>> cancellation;
  std::string tag = {};  // the tag it was scheduled with (ActivityOptions::tag); empty: untagged
  // The session it runs in (ActivityOptions::session_id); empty: none. The key of the
  // state a session keeps in this process's memory.
  std::string session_id = {};
  // The orchestration and version of its instance when it was fetched (WorkerItem's;
  // empty when the instance has no row).
  std::string orchestration_name = {};
  std::string orchestration_version = {};

  bool is_cancelled() const { return cancellation && cancellation->load(); }
};

using OrchestrationFn = std::function<Task<std::string>(OrchestrationContext&, std::string)>;
// Returns the result; throwing fails the activity with the exception's message.
using ActivityFn = std::function<std::string(ActivityContext&, const std::string&)>;

enum class VersionPolicy { Latest, Exact };

class Registry {
 public:
  static constexpr const char* kDefaultVersion = "1.0.0";

  void register_orchestration(const std::string& name, OrchestrationFn fn);
  void register_orchestration(const std::string& name, const std::string& version,
                              OrchestrationFn fn);
  // Exact pins `version`, which must be registered.
  void set_version_policy(const std::string& name, VersionPolicy policy,
                          const std::string& version = {});
  void register_activity(const std::string& name, ActivityFn fn);
  // Registers, or replaces an earlier registration: for hosts that supply their
  // own implementation of a catalog activity (the JS API's registerActivity).
  void replace_activity(const std::string& name, ActivityFn fn);
  // Registers `version`, or replaces its earlier registration: for hosts whose users
  // edit an orchestration's code in place (the playground's code panel). Instances
  // pinned to that version replay against the new code from their next turn; a
  // change their histories do not allow ends them with a nondeterminism error.
  void replace_orchestration(const std::string& name, const std::string& version,
                             OrchestrationFn fn);

  struct Resolved {
    std::string version;
    const OrchestrationFn* fn = nullptr;
  };
  // For a new instance: `requested_version` if given, else the policy's choice.
  std::optional<Resolved> resolve_for_start(const std::string& name,
                                            const std::string& requested_version) const;
  // For an instance that already started: exactly the recorded version.
  const OrchestrationFn* find_orchestration(const std::string& name,
                                            const std::string& version) const;
  const ActivityFn* find_activity(const std::string& name) const;

  std::vector<std::string> orchestration_names() const;
  std::vector<std::string> orchestration_versions(const std::string& name) const;
  std::vector<std::string> activity_names() const;

 private:
  struct Versions {
    std::map<SemVer, OrchestrationFn> by_version;
    VersionPolicy policy = VersionPolicy::Latest;
    SemVer pinned;
  };
  std::map<std::string, Versions> orchestrations_;
  std::map<std::string, ActivityFn> activities_;
};

}  // namespace duroxide
