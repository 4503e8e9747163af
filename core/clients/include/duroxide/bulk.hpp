// Bulk operations that finish: what a bulk call acts on, how a long one is walked in
// pages, and what each call reports. RuntimeClient's cancel, raise and enqueue over
// many instances, and ManagementClient's bulk prune, take a BulkRequest and return a
// BulkResult (runtime_client.hpp, management_client.hpp).
//
// Contract:
// - a request names explicit ids (`instances`, at most kMaxBulkBatch, each acted on
//   once in this call whatever the duplicates) or else a filter; a filtered request
//   acts on at most `batch` instances per call and returns a `continuation` until it
//   has walked every match, which the next call passes back with the same filter;
// - a filtered walk goes oldest created first and stops at the newest instance that
//   matched when it began, so instances started during the walk are not chased and
//   no instance is visited twice, even when acting on one takes it out of the filter;
// - a continuation is opaque: one from another filter or operation, or any other
//   text, is ClientError(InvalidInput);
// - `dry_run` lists what the call would act on and changes nothing; its pages walk
//   exactly as the real run's would;
// - an instance the access policy hides is neither acted on nor named.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "duroxide/management_provider.hpp"

namespace duroxide {

// Explicit ids per call, and a filtered call's largest batch.
inline constexpr std::size_t kMaxBulkBatch = 1'000;

// The result of one instance in a bulk operation.
struct BulkItemResult {
  std::string instance;
  bool ok = false;
  std::string error;  // why it failed, when !ok
};

struct BulkRequest {
  std::vector<std::string> instances;  // these ids; when empty, the filter's matches
  InstanceFilter filter;               // its states are the operation's (Running for control)
  std::size_t batch = 100;             // filtered: instances per call, 1..kMaxBulkBatch
  std::string continuation;            // filtered: the previous call's; empty to begin
  bool dry_run = false;                // list what would be acted on, change nothing
};

struct BulkResult {
  std::vector<BulkItemResult> items;  // this call's instances, in walk order
  std::uint64_t succeeded = 0;        // items with ok (a dry run: would be acted on)
  std::uint64_t failed = 0;           // items with an error
  std::string continuation;           // empty once every match has been walked
  bool dry_run = false;
  std::uint64_t executions_pruned = 0;  // a bulk prune's executions removed; 0 otherwise
  std::uint64_t events_pruned = 0;      // their history events; 0 otherwise
};

}  // namespace duroxide
