#include "bulk_walk.hpp"

#include <cstdio>
#include <optional>

#include "duroxide/text.hpp"

namespace duroxide::bulk_walk {

namespace {

constexpr const char* kPrefix = "bulk1.";
constexpr std::size_t kMaxContinuationBytes = 1024;

ClientError invalid(const std::string& message) {
  return ClientError(ClientError::Kind::InvalidInput, message);
}

void mix(std::uint64_t& hash, const std::string& text) {
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ull;
  }
  hash ^= 0x1f;  // a separator, so ("ab", "c") and ("a", "bc") differ
  hash *= 0x100000001b3ull;
}

bool hex_digits(const std::string& text) {
  if (text.size() != 16) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// A listing cursor as the stores write it: "<ms>|<id>" (a time any row may hold).
bool listing_cursor(const std::string& text) {
  const std::size_t bar = text.find('|');
  return bar != std::string::npos && parse_int64(std::string_view(text).substr(0, bar)) && bar + 1 < text.size();
}

}  // namespace

void check_request(const BulkRequest& request) {
  if (request.instances.size() > kMaxBulkBatch) {
    throw invalid("at most " + std::to_string(kMaxBulkBatch) + " instance ids per call, got " +
                  std::to_string(request.instances.size()));
  }
  for (const auto& id : request.instances) RuntimeClient::check_identifier(id, "an instance id");
  if (request.batch == 0 || request.batch > kMaxBulkBatch) {
    throw invalid("batch must be 1 to " + std::to_string(kMaxBulkBatch));
  }
  if (!request.instances.empty() && !request.continuation.empty()) {
    throw invalid("a continuation goes on a filtered walk: a call with explicit ids takes none");
  }
}

std::uint64_t selection_hash(const std::string& operation, const InstanceFilter& filter,
                             const std::vector<RuntimeState>& states) {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  mix(hash, operation);
  for (RuntimeState state : states) mix(hash, std::string(to_string(state)));
  mix(hash, filter.orchestration_name);
  mix(hash, filter.orchestration_version);
  mix(hash, filter.instance_prefix);
  mix(hash, filter.parent_instance);
  mix(hash, filter.roots_only ? "roots" : "all");
  mix(hash, filter.contains);
  mix(hash, filter.tenant);
  for (TimestampMs ms : {filter.created_from_ms, filter.created_to_ms, filter.updated_from_ms, filter.updated_to_ms,
                         filter.ready_work_before_ms}) {
    mix(hash, std::to_string(ms));
  }
  return hash;
}

Position read_continuation(const std::string& continuation, std::uint64_t hash) {
  const std::string prefix = kPrefix;
  if (continuation.size() > kMaxContinuationBytes || continuation.compare(0, prefix.size(), prefix) != 0) {
    throw invalid("malformed continuation: pass back the continuation of the previous call");
  }
  const std::size_t hash_end = continuation.find('.', prefix.size());
  const std::size_t bound_end = hash_end == std::string::npos ? hash_end : continuation.find('.', hash_end + 1);
  if (bound_end == std::string::npos) {
    throw invalid("malformed continuation: pass back the continuation of the previous call");
  }
  const std::string hash_text = continuation.substr(prefix.size(), hash_end - prefix.size());
  const std::string bound_text = continuation.substr(hash_end + 1, bound_end - hash_end - 1);
  Position position;
  position.cursor = continuation.substr(bound_end + 1);
  const std::optional<std::int64_t> bound = parse_int64(bound_text);
  if (!hex_digits(hash_text) || !bound || !listing_cursor(position.cursor)) {
    throw invalid("malformed continuation: pass back the continuation of the previous call");
  }
  if (std::stoull(hash_text, nullptr, 16) != hash) {
    throw invalid("the continuation belongs to another bulk operation or filter");
  }
  position.bound = *bound;
  return position;
}

std::string write_continuation(std::uint64_t hash, TimestampMs bound, const std::string& cursor) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(hash));
  return kPrefix + std::string(hex) + "." + std::to_string(bound) + "." + cursor;
}

}  // namespace duroxide::bulk_walk
