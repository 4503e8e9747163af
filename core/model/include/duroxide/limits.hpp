// Explicit limits on every input the engine accepts. A value past a limit is
// rejected with a typed error before anything is written; nothing is truncated.
#pragma once

#include <cstddef>
#include <cstdint>

namespace duroxide::limits {

// Instance ids, orchestration/activity/event/queue names and versions.
inline constexpr std::size_t kMaxIdentifierBytes = 256;
inline constexpr std::size_t kMaxNameBytes = 256;
inline constexpr std::size_t kMaxVersionBytes = 64;
// OrchestrationStarted's guid seed (the engine writes 16 hex digits).
inline constexpr std::size_t kMaxGuidSeedBytes = 64;

// Any single payload: inputs, outputs, event data, error messages, custom status.
inline constexpr std::size_t kMaxPayloadBytes = 256 * 1024;

// Events in one execution's history. A turn that would grow the history past
// this fails the orchestration instead of writing an unbounded history.
inline constexpr std::size_t kMaxHistoryEvents = 1'000'000;

// Raw JSON text accepted by the codec for one document (a whole history).
inline constexpr std::size_t kMaxJsonDocumentBytes = 512u * 1024u * 1024u;

// Nesting depth accepted in any JSON document; events are flat objects.
inline constexpr std::size_t kMaxJsonDepth = 16;

// Coroutine resumptions between two deliveries: the code running without waiting for
// anything new (default; TurnInput can lower it). A runaway orchestration (an endless loop
// of already-completed awaits) fails instead of hanging the dispatcher. Counted afresh at
// each delivery, replayed ones included, so a long history does not add up to it.
inline constexpr std::uint64_t kMaxResumptionsWithoutWaiting = 5'000'000;

// Messages a continue-as-new carries into the next execution: external events and
// queue messages that were delivered but not yet consumed, or that arrived in the same
// turn as the continue-as-new. Bytes count names plus data. Past either limit nothing
// is carried and the next execution fails naming the count: no message disappears
// without a trace.
inline constexpr std::size_t kMaxCarriedMessages = 1000;
inline constexpr std::size_t kMaxCarriedBytes = 4u * 1024u * 1024u;

// The key-value store of one instance (OrchestrationContext::set_value): keys are
// non-empty UTF-8 of at most kMaxKvKeyBytes, values UTF-8 of at most kMaxKvValueBytes,
// and an instance holds at most kMaxKvKeys keys. A set past a limit fails the
// orchestration, naming the limit. (Upstream Duroxide: 150 keys of 64 KiB.)
inline constexpr std::size_t kMaxKvKeys = 150;
inline constexpr std::size_t kMaxKvKeyBytes = 256;
inline constexpr std::size_t kMaxKvValueBytes = 64 * 1024;

// A completion's result as decoded from a work item or a history event. Results of
// user activities and sub-orchestrations stay within kMaxPayloadBytes (the worker and
// the engine fail larger ones), but the reserved read of another instance's value
// (OrchestrationContext::get_value_from_instance) completes with the value as a JSON
// string: up to six bytes a byte ("\u0001") and the two quotes, over kMaxPayloadBytes
// for a value of control characters at kMaxKvValueBytes.
inline constexpr std::size_t kMaxCompletionResultBytes = 6 * kMaxKvValueBytes + 2;
static_assert(kMaxCompletionResultBytes >= kMaxPayloadBytes);

// Delays, lock timeouts and extensions accepted by providers: up to ten years.
inline constexpr std::int64_t kMaxDelayMs = 10LL * 365 * 24 * 3600 * 1000;

// Retry policies.
inline constexpr std::uint32_t kMaxRetryAttempts = 1000;

// Activity tags (ActivityOptions::tag, TagFilter): a tag is non-empty UTF-8 of at
// most kMaxTagBytes; a worker's filter names 1 to kMaxWorkerTags of them. (Upstream
// Duroxide: MAX_TAG_NAME_BYTES 256, MAX_WORKER_TAGS 5.)
inline constexpr std::size_t kMaxTagBytes = 256;
inline constexpr std::size_t kMaxWorkerTags = 5;

// Activity sessions (ActivityOptions::session_id, RuntimeOptions' session options): a
// session id is non-empty UTF-8 of at most kMaxSessionIdBytes; a runtime's worker node id
// (its session owner id) is at most kMaxWorkerNodeIdBytes; a runtime runs the activities of
// at most kMaxSessionsPerRuntime sessions at once.
inline constexpr std::size_t kMaxSessionIdBytes = 256;
inline constexpr std::size_t kMaxWorkerNodeIdBytes = 256;
inline constexpr std::size_t kMaxSessionsPerRuntime = 10'000;

// Capability filters (CapabilityFilter): the version ranges a runtime replays.
inline constexpr std::size_t kMaxSupportedVersionRanges = 8;

}  // namespace duroxide::limits
