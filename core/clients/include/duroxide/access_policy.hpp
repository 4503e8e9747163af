// Access by caller: who is asking (a Caller), what they may do (an AccessPolicy), and
// which instances they may see at all (their tenant).
//
// Contract:
// - a client carries one Caller (ClientOptions::caller, ManagementOptions::caller);
// - tenants isolate, whatever the policy: every instance belongs to the tenant its
//   start was made under (the starting caller's; a sub-orchestration or detached start
//   inherits its parent's), and a caller bound to a tenant sees and reaches only that
//   tenant's instances. Listings, counts, bulk work, the change feed, statistics and
//   time series are filtered by tenant in the store's SQL; an instance of another
//   tenant is NotFound to it, exactly as one that does not exist. Instance ids are one
//   namespace for the whole store: a start of an id another tenant holds is still
//   AlreadyExists. Store-wide views (system metrics, queue depths, parked messages,
//   diagnostics, the health score) describe every tenant at once and are AccessDenied
//   to a bound caller;
//   so is an import under another tenant;
// - the policy (if any) decides per operation and per instance: `allows` sees the
//   operation, the caller, and the instance with its orchestration and tenant (empty
//   for store-wide operations). A denial is ClientError(AccessDenied) and changes
//   nothing. It must be thread-safe if the clients are shared between threads.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace duroxide {

enum class AccessOperation {
  Start,
  RaiseEvent,
  EnqueueEvent,
  Cancel,
  ReadStatus,
  List,
  ReadDetails,
  ReadHistory,
  Stats,
  Delete,
  Prune,
  Purge,
  Export,
  Import,
};

std::string_view to_string(AccessOperation operation);
// The name to_string gives; false for any other text.
bool parse_access_operation(std::string_view text, AccessOperation& out);

// Who is asking. Every field is optional: an empty tenant is a caller over every
// tenant (an operator of the whole store); without a policy, roles decide nothing.
struct Caller {
  std::string principal;           // the user or service, for the policy (and its audit)
  std::string tenant;              // the one tenant this caller may see; empty: all
  std::vector<std::string> roles;  // what the policy grants by

  bool has_role(std::string_view role) const;
};

// Checks a caller's fields against the identifier rules (1..256 bytes of UTF-8 without
// control characters; an empty tenant or principal is allowed); at most kMaxCallerRoles
// roles. Returns the problem, or an empty string when the caller is well-formed.
inline constexpr std::size_t kMaxCallerRoles = 64;
std::string caller_problem(const Caller& caller);

struct AccessRequest {
  AccessOperation operation = AccessOperation::ReadStatus;
  std::string instance;       // empty for store-wide operations and listings
  std::string orchestration;  // the instance's (or the listing's filter's) orchestration name
  std::string tenant;         // the instance's tenant (for listings and statistics: the caller's)
  const Caller* caller = nullptr;  // never null when a client asks; valid during the call
};

class AccessPolicy {
 public:
  virtual ~AccessPolicy() = default;
  virtual bool allows(const AccessRequest& request) const = 0;
  // Whether answers depend on the instance (id, name or tenant) rather than on the
  // operation and the caller alone. When they do, listings and counts ask the policy
  // about every instance and walk what the store returns; when they do not, the store
  // answers counts itself (tenants are filtered in SQL either way).
  virtual bool decides_per_instance() const { return true; }
};

// Grants by role: each role names the operations it allows; a caller may do what any of
// its roles allows. standard() defines
//   reader:   ReadStatus, List, ReadDetails, ReadHistory, Stats, Export
//   operator: reader's, and Start, RaiseEvent, EnqueueEvent, Cancel
//   admin:    every operation (Delete, Prune, Purge and Import too).
class RolePolicy : public AccessPolicy {
 public:
  explicit RolePolicy(std::map<std::string, std::vector<AccessOperation>> grants);
  static RolePolicy standard();
  // Whether the policy grants `role` anything (a name it knows).
  bool knows(const std::string& role) const { return grants_.count(role) != 0; }
  bool allows(const AccessRequest& request) const override;
  bool decides_per_instance() const override { return false; }

 private:
  std::map<std::string, std::vector<AccessOperation>> grants_;
};

}  // namespace duroxide
