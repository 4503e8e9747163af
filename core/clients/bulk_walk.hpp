// The paging of a filtered bulk operation (duroxide/bulk.hpp): which instances each
// call lists and the continuation it hands back. Shared by the clients.
//
// A continuation is "bulk1.<selection hash>.<bound ms>.<listing cursor>":
// - the selection hash (FNV-1a, 16 hex digits) covers the operation, the filter (its tenant too) and the
//   states, so a continuation is refused with any other selection;
// - the bound is the creation time of the newest match when the walk began: later calls
//   list only instances created up to it, so new starts are not chased;
// - the listing cursor is the keyset position of the last instance listed, oldest
//   created first, so every match is listed once whatever acting on it changes.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "duroxide/bulk.hpp"
#include "duroxide/management_provider.hpp"
#include "duroxide/runtime_client.hpp"
#include "duroxide/saturating.hpp"

namespace duroxide::bulk_walk {

struct Page {
  std::vector<InstanceInfo> instances;
  std::string continuation;  // empty: the walk is over
};

// Checks the parts of a request every bulk operation shares (ids, batch size).
void check_request(const BulkRequest& request);

// The selection hash of an operation over `filter` narrowed to `states`.
std::uint64_t selection_hash(const std::string& operation, const InstanceFilter& filter,
                             const std::vector<RuntimeState>& states);

// The next page of a filtered walk of `request` (its `instances` empty) over the
// instances in `states`. `list(filter, page)` lists for the client (its provider call,
// with the client's error mapping). A malformed or foreign continuation is
// ClientError(InvalidInput).
template <typename List>
Page next_page(const std::string& operation, const BulkRequest& request,
               const std::vector<RuntimeState>& states, List&& list);

// One call of a bulk operation: `act(id, listed)` on each distinct id the request
// lists (listed = nullptr), or else on each instance of the filtered walk's next page
// that `visible(info)` lets through (listed = its row as the walk read it, so `act`
// need not read it again), each recorded as ok or with the message of the ClientError
// it threw. Checks the request first.
template <typename List, typename Visible, typename Act>
BulkResult run(const std::string& operation, const BulkRequest& request, const std::vector<RuntimeState>& states,
               List&& list, Visible&& visible, Act&& act);

// ---- implementation

struct Position {
  TimestampMs bound = 0;
  std::string cursor;  // empty: from the oldest
};

// The position a continuation names; throws ClientError(InvalidInput) unless it was
// written for this selection.
Position read_continuation(const std::string& continuation, std::uint64_t hash);
std::string write_continuation(std::uint64_t hash, TimestampMs bound, const std::string& cursor);

template <typename List>
Page next_page(const std::string& operation, const BulkRequest& request,
               const std::vector<RuntimeState>& states, List&& list) {
  InstanceFilter filter = request.filter;
  filter.states = states;
  const std::uint64_t hash = selection_hash(operation, request.filter, states);
  Position position;
  if (request.continuation.empty()) {
    // The newest instance the other conditions select bounds the walk: a search's page can
    // end short of its first match (management_provider.hpp), and a looser bound lists nothing more.
    InstanceFilter unsearched = filter;
    unsearched.contains.clear();
    const InstancePage newest = list(unsearched, PageRequest{{}, 1, InstanceOrder::CreatedDesc});
    if (newest.instances.empty()) return {};
    position.bound = newest.instances.front().created_at_ms;
  } else {
    position = read_continuation(request.continuation, hash);
  }
  const TimestampMs bound_end = saturating_add(position.bound, 1);  // created_to_ms is exclusive
  if (filter.created_to_ms == 0 || filter.created_to_ms > bound_end) filter.created_to_ms = bound_end;
  InstancePage page = list(filter, PageRequest{position.cursor, request.batch, InstanceOrder::CreatedAsc});
  Page out;
  out.instances = std::move(page.instances);
  if (!page.next_cursor.empty()) out.continuation = write_continuation(hash, position.bound, page.next_cursor);
  return out;
}

template <typename List, typename Visible, typename Act>
BulkResult run(const std::string& operation, const BulkRequest& request, const std::vector<RuntimeState>& states,
               List&& list, Visible&& visible, Act&& act) {
  check_request(request);
  BulkResult result;
  result.dry_run = request.dry_run;
  auto record = [&](const std::string& id, const InstanceInfo* listed) {
    BulkItemResult item{id, true, {}};
    try {
      act(id, listed);
    } catch (const ClientError& error) {
      item.ok = false;
      item.error = error.what();
    }
    ++(item.ok ? result.succeeded : result.failed);
    result.items.push_back(std::move(item));
  };
  if (!request.instances.empty()) {
    std::set<std::string> seen;
    for (const auto& id : request.instances) {
      if (seen.insert(id).second) record(id, nullptr);
    }
    return result;
  }
  const Page page = next_page(operation, request, states, list);
  for (const auto& info : page.instances) {
    if (visible(info)) record(info.instance, &info);
  }
  result.continuation = page.continuation;
  return result;
}

}  // namespace duroxide::bulk_walk
