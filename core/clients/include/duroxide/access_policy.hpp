// AccessPolicy: an optional check both clients make before every read and
// control operation. A denial is ClientError(AccessDenied) and changes nothing.
//
// Contract: `allows` is called with the operation, the instance it targets
// (empty for store-wide operations) and that instance's orchestration name
// (looked up when the caller did not give it; empty when unknown or store-wide).
// It must be thread-safe if the clients are shared between threads.
#pragma once

#include <string>
#include <string_view>

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

struct AccessRequest {
  AccessOperation operation = AccessOperation::ReadStatus;
  std::string instance;
  std::string orchestration;
};

class AccessPolicy {
 public:
  virtual ~AccessPolicy() = default;
  virtual bool allows(const AccessRequest& request) const = 0;
};

}  // namespace duroxide
