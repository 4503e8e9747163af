#include "duroxide/codec.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <type_traits>

#include "duroxide/limits.hpp"
#include "duroxide/semver.hpp"
#include "duroxide/text.hpp"
#include "duroxide/detail/flat_object.hpp"
#include "duroxide/detail/json.hpp"

namespace duroxide {
namespace detail {

namespace {

using limits::kMaxGuidSeedBytes;
using limits::kMaxIdentifierBytes;
using limits::kMaxNameBytes;
using limits::kMaxPayloadBytes;
using limits::kMaxVersionBytes;

// Carried messages name their kind after the work item they came from.
const char* carried_kind_name(work::CarriedMessage::Kind kind) {
  return kind == work::CarriedMessage::Kind::Queue ? "QueueMessage" : "ExternalRaised";
}

std::string json_type_name(const Json& value) {
  if (value.is_number_unsigned() || value.is_number_integer()) return "integer";
  if (value.is_number_float()) return "number with a fraction";
  return value.type_name();
}

// The one description of every event's and work item's fields, used by both the
// encoder and the decoder so the two can never disagree. `V` is Writer or Reader.
template <typename V, typename E>
void fields(V& v, E& e) {
  using T = std::remove_const_t<E>;
  // ---- events ----
  if constexpr (std::is_same_v<T, events::OrchestrationStarted>) {
    v.text("name", e.name, kMaxNameBytes);
    v.text("version", e.version, kMaxVersionBytes);
    v.text("input", e.input, kMaxPayloadBytes);
    v.optional_text("parent_instance", e.parent_instance, kMaxIdentifierBytes);
    v.optional_unsigned("parent_id", e.parent_id);
    v.optional_unsigned("carried_messages", e.carried_messages);
    v.optional_unsigned("uncarried_messages", e.uncarried_messages);
    v.optional_nullable_text("custom_status", e.custom_status, kMaxPayloadBytes);
    v.kv("kv", e.kv);
    v.optional_semver("duroxide_version", e.duroxide_version);
    v.optional_text("guid_seed", e.guid_seed, kMaxGuidSeedBytes);
  } else if constexpr (std::is_same_v<T, events::OrchestrationCompleted>) {
    v.text("output", e.output, kMaxPayloadBytes);
  } else if constexpr (std::is_same_v<T, events::OrchestrationFailed> ||
                       std::is_same_v<T, events::ActivityFailed> ||
                       std::is_same_v<T, events::SubOrchestrationFailed>) {
    v.details("error", e.details);
  } else if constexpr (std::is_same_v<T, events::ActivityScheduled>) {
    v.text("name", e.name, kMaxNameBytes);
    v.text("input", e.input, kMaxPayloadBytes);
    v.optional_text("tag", e.tag, limits::kMaxTagBytes);
    v.optional_text("session_id", e.session_id, limits::kMaxSessionIdBytes);
  } else if constexpr (std::is_same_v<T, events::ActivityCompleted> ||
                       std::is_same_v<T, events::SubOrchestrationCompleted>) {
    v.text("result", e.result, limits::kMaxCompletionResultBytes);
  } else if constexpr (std::is_same_v<T, events::TimerCreated> ||
                       std::is_same_v<T, events::TimerFired>) {
    v.signed_number("fire_at_ms", e.fire_at_ms);
  } else if constexpr (std::is_same_v<T, events::ExternalSubscribed> ||
                       std::is_same_v<T, events::QueueSubscribed>) {
    v.text("name", e.name, kMaxNameBytes);
  } else if constexpr (std::is_same_v<T, events::ExternalEvent> ||
                       std::is_same_v<T, events::QueueEventDelivered>) {
    v.text("name", e.name, kMaxNameBytes);
    v.text("data", e.data, kMaxPayloadBytes);
  } else if constexpr (std::is_same_v<T, events::SubOrchestrationScheduled> ||
                       std::is_same_v<T, events::DetachedOrchestrationStarted>) {
    v.text("name", e.name, kMaxNameBytes);
    v.text("instance", e.instance, kMaxIdentifierBytes);
    v.text("input", e.input, kMaxPayloadBytes);
    v.optional_text("version", e.version, kMaxVersionBytes);
  } else if constexpr (std::is_same_v<T, events::OrchestrationContinuedAsNew>) {
    v.text("input", e.input, kMaxPayloadBytes);
    v.optional_text("version", e.version, kMaxVersionBytes);
  } else if constexpr (std::is_same_v<T, events::OrchestrationCancelRequested> ||
                       std::is_same_v<T, events::ActivityCancelRequested> ||
                       std::is_same_v<T, events::SubOrchestrationCancelRequested> ||
                       std::is_same_v<T, events::ExternalSubscribedCancelled>) {
    v.text("reason", e.reason, kMaxPayloadBytes);
  } else if constexpr (std::is_same_v<T, events::CustomStatusUpdated>) {
    v.nullable_text("status", e.status, kMaxPayloadBytes);
  } else if constexpr (std::is_same_v<T, events::KeyValueSet>) {
    v.text("key", e.key, limits::kMaxKvKeyBytes);
    v.text("value", e.value, limits::kMaxKvValueBytes);
  } else if constexpr (std::is_same_v<T, events::KeyValueCleared>) {
    v.text("key", e.key, limits::kMaxKvKeyBytes);
  } else if constexpr (std::is_same_v<T, events::KeyValuesCleared>) {
    // no fields
    // ---- work items ----
  } else if constexpr (std::is_same_v<T, work::StartOrchestration>) {
    v.text("instance", e.instance, kMaxIdentifierBytes);
    v.text("orchestration", e.orchestration, kMaxNameBytes);
    v.optional_text("version", e.version, kMaxVersionBytes);
    v.text("input", e.input, kMaxPayloadBytes);
    v.optional_text("parent_instance", e.parent_instance, kMaxIdentifierBytes);
    v.optional_unsigned("parent_id", e.parent_id);
    v.optional_text("tenant", e.tenant, kMaxIdentifierBytes);
  } else if constexpr (std::is_same_v<T, work::ActivityExecute>) {
    v.text("instance", e.instance, kMaxIdentifierBytes);
    v.unsigned_number("execution_id", e.execution_id);
    v.unsigned_number("id", e.id);
    v.text("name", e.name, kMaxNameBytes);
    v.text("input", e.input, kMaxPayloadBytes);
    v.optional_text("tag", e.tag, limits::kMaxTagBytes);
    v.optional_text("session_id", e.session_id, limits::kMaxSessionIdBytes);
  } else if constexpr (std::is_same_v<T, work::ActivityCompleted>) {
    v.text("instance", e.instance, kMaxIdentifierBytes);
    v.unsigned_number("execution_id", e.execution_id);
    v.unsigned_number("id", e.id);
    v.text("result", e.result, limits::kMaxCompletionResultBytes);
  } else if constexpr (std::is_same_v<T, work::ActivityFailed>) {
    v.text("instance", e.instance, kMaxIdentifierBytes);
    v.unsigned_number("execution_id", e.execution_id);
    v.unsigned_number("id", e.id);
    v.details("error", e.details);
  } else if constexpr (std::is_same_v<T, work::TimerFired>) {
    v.text("instance", e.instance, kMaxIdentifierBytes);
    v.unsigned_number("execution_id", e.execution_id);
    v.unsigned_number("id", e.id);
    v.signed_number("fire_at_ms", e.fire_at_ms);
  } else if constexpr (std::is_same_v<T, work::ExternalRaised>) {
    v.text("instance", e.instance, kMaxIdentifierBytes);
    v.text("name", e.name, kMaxNameBytes);
    v.text("data", e.data, kMaxPayloadBytes);
  } else if constexpr (std::is_same_v<T, work::QueueMessage>) {
    v.text("instance", e.instance, kMaxIdentifierBytes);
    v.text("queue", e.queue, kMaxNameBytes);
    v.text("data", e.data, kMaxPayloadBytes);
  } else if constexpr (std::is_same_v<T, work::SubOrchestrationCompleted>) {
    v.text("parent_instance", e.parent_instance, kMaxIdentifierBytes);
    v.unsigned_number("parent_id", e.parent_id);
    v.text("child_instance", e.child_instance, kMaxIdentifierBytes);
    v.text("result", e.result, kMaxPayloadBytes);
  } else if constexpr (std::is_same_v<T, work::SubOrchestrationFailed>) {
    v.text("parent_instance", e.parent_instance, kMaxIdentifierBytes);
    v.unsigned_number("parent_id", e.parent_id);
    v.text("child_instance", e.child_instance, kMaxIdentifierBytes);
    v.details("error", e.details);
  } else if constexpr (std::is_same_v<T, work::CancelInstance>) {
    v.text("instance", e.instance, kMaxIdentifierBytes);
    v.text("reason", e.reason, kMaxPayloadBytes);
    v.optional_text("parent_instance", e.parent_instance, kMaxIdentifierBytes);
    v.optional_unsigned("parent_id", e.parent_id);
  } else if constexpr (std::is_same_v<T, work::ContinueAsNew>) {
    // Every field after `input` is optional: items stored before they existed decode
    // as a root instance carrying nothing.
    v.text("instance", e.instance, kMaxIdentifierBytes);
    v.text("orchestration", e.orchestration, kMaxNameBytes);
    v.optional_text("version", e.version, kMaxVersionBytes);
    v.text("input", e.input, kMaxPayloadBytes);
    v.optional_text("parent_instance", e.parent_instance, kMaxIdentifierBytes);
    v.optional_unsigned("parent_id", e.parent_id);
    v.carried("carried", e.carried);
    v.optional_unsigned("uncarried", e.uncarried);
    v.optional_nullable_text("custom_status", e.custom_status, kMaxPayloadBytes);
    v.kv("kv", e.kv);
  } else {
    static_assert(sizeof(T) == 0, "every event and work item kind needs its fields listed");
  }
}

Json carried_json(const std::vector<work::CarriedMessage>& messages) {
  Json list = Json::array();
  for (const auto& message : messages) {
    list.push_back({{"kind", carried_kind_name(message.kind)}, {"name", message.name}, {"data", message.data}});
  }
  return list;
}

// An object of key -> {value, updated_at_ms}.
Json kv_json(const KvMap& entries) {
  Json map = Json::object();
  for (const auto& [name, entry] : entries) {
    map[name] = {{"value", entry.value}, {"updated_at_ms", entry.updated_at_ms}};
  }
  return map;
}

// Writes fields into a JSON object (the DOM the exports and replay reports build on).
struct Writer {
  Json& out;
  void text(const char* key, const std::string& value, std::size_t) { out[key] = value; }
  void optional_text(const char* key, const std::string& value, std::size_t) {
    if (!value.empty()) out[key] = value;
  }
  void optional_semver(const char* key, const std::string& value) { optional_text(key, value, 0); }
  void nullable_text(const char* key, const std::optional<std::string>& value, std::size_t) {
    out[key] = value ? Json(*value) : Json(nullptr);
  }
  void optional_nullable_text(const char* key, const std::optional<std::string>& value,
                              std::size_t) {
    if (value) out[key] = *value;
  }
  void carried(const char* key, const std::vector<work::CarriedMessage>& messages) {
    if (!messages.empty()) out[key] = carried_json(messages);
  }
  // Absent when empty.
  void kv(const char* key, const KvMap& entries) {
    if (!entries.empty()) out[key] = kv_json(entries);
  }
  void unsigned_number(const char* key, std::uint64_t value) { out[key] = value; }
  void optional_unsigned(const char* key, std::uint64_t value) {
    if (value != 0) out[key] = value;
  }
  void signed_number(const char* key, std::int64_t value) { out[key] = value; }
  void boolean(const char* key, bool value) { out[key] = value; }
  void details(const char* key, const ErrorDetails& value) { out[key] = to_json(value); }
};

// Writes the same fields as Writer straight to text, byte for byte what
// dump_json(Writer's object) gives: compact, keys in sorted order (nlohmann's objects
// are std::maps). Every event and work item a store writes is encoded here, without
// building a DOM first. Strings of printable ASCII are quoted here; any other string
// (control bytes, UTF-8, invalid UTF-8) goes through dump_json, which escapes and
// checks it, so the output and the errors are the DOM path's.
class TextWriter {
 public:
  explicit TextWriter(std::string path) : path_(std::move(path)) {
    fields_.reserve(8);
    values_.reserve(256);
  }

  void text(const char* key, const std::string& value, std::size_t) {
    begin(key);
    quoted(value);
    end();
  }
  void optional_text(const char* key, const std::string& value, std::size_t max) {
    if (!value.empty()) text(key, value, max);
  }
  void optional_semver(const char* key, const std::string& value) { optional_text(key, value, kMaxVersionBytes); }
  void nullable_text(const char* key, const std::optional<std::string>& value, std::size_t max) {
    if (value) return text(key, *value, max);
    add(key, "null");
  }
  void optional_nullable_text(const char* key, const std::optional<std::string>& value, std::size_t max) {
    if (value) text(key, *value, max);
  }
  void carried(const char* key, const std::vector<work::CarriedMessage>& messages) {
    if (!messages.empty()) add(key, dump_json(carried_json(messages), path_));
  }
  void kv(const char* key, const KvMap& entries) {
    if (!entries.empty()) add(key, dump_json(kv_json(entries), path_));
  }
  void unsigned_number(const char* key, std::uint64_t value) { number(key, value); }
  void optional_unsigned(const char* key, std::uint64_t value) {
    if (value != 0) unsigned_number(key, value);
  }
  void signed_number(const char* key, std::int64_t value) { number(key, value); }
  void boolean(const char* key, bool value) { add(key, value ? "true" : "false"); }
  void details(const char* key, const ErrorDetails& value) { add(key, dump_json(to_json(value), path_)); }
  // A value already encoded as JSON text.
  void raw(const char* key, const std::string& json) { add(key, json); }

  // The object's text; the writer is spent.
  std::string finish() {
    std::sort(fields_.begin(), fields_.end(),
              [](const Field& a, const Field& b) { return std::strcmp(a.key, b.key) < 0; });
    std::size_t size = 2;
    for (const Field& field : fields_) size += std::strlen(field.key) + field.length + 4;
    std::string out;
    out.reserve(size);
    out += '{';
    for (const Field& field : fields_) {
      if (out.size() > 1) out += ',';
      out += '"';
      out += field.key;  // keys are the codec's own ASCII names
      out += "\":";
      out.append(values_, field.offset, field.length);
    }
    out += '}';
    return out;
  }

 private:
  // A field's value is values_[offset, offset + length): every value goes into one
  // buffer as it is written, and finish() copies them out in key order.
  struct Field {
    const char* key;
    std::size_t offset;
    std::size_t length;
  };

  void begin(const char* key) { fields_.push_back(Field{key, values_.size(), 0}); }
  void end() { fields_.back().length = values_.size() - fields_.back().offset; }
  void add(const char* key, std::string_view json) {
    begin(key);
    values_.append(json.data(), json.size());
    end();
  }
  template <typename Integer>
  void number(const char* key, Integer value) {
    char digits[24];
    const std::to_chars_result written = std::to_chars(digits, digits + sizeof digits, value);
    add(key, std::string_view(digits, static_cast<std::size_t>(written.ptr - digits)));
  }

  // Appends `value` quoted. Runs between the characters to escape are appended whole, not
  // byte by byte (long payloads: docs/bench.md, "Strings copied by runs"); a byte outside
  // printable ASCII hands the whole string to dump_json, which escapes and checks it.
  void quoted(const std::string& value) {
    const std::size_t start = values_.size();
    values_ += '"';
    std::size_t run = 0;  // where the run not yet appended starts
    for (std::size_t i = 0; i < value.size(); ++i) {
      const char c = value[i];
      const auto byte = static_cast<unsigned char>(c);
      if (byte < 0x20 || byte >= 0x7f) {
        values_.resize(start);
        values_ += dump_json(Json(value), path_);
        return;
      }
      if (c == '"' || c == '\\') {
        values_.append(value, run, i - run);
        values_ += '\\';
        run = i;  // the character itself starts the next run
      }
    }
    values_.append(value, run, std::string::npos);
    values_ += '"';
  }

  std::string path_;
  std::string values_;
  std::vector<Field> fields_;
};

struct Reader {
  ObjectReader& in;
  void text(const char* key, std::string& value, std::size_t max) { value = in.text(key, max); }
  void optional_text(const char* key, std::string& value, std::size_t max) {
    value = in.optional_text(key, max);
  }
  // Absent: empty; present: MAJOR.MINOR.PATCH.
  void optional_semver(const char* key, std::string& value) {
    value = in.optional_text(key, kMaxVersionBytes);
    if (in.has(key) && !SemVer::parse(value)) {
      throw CodecError(in.field_path(key), "is \"" + value + "\", not MAJOR.MINOR.PATCH");
    }
  }
  void nullable_text(const char* key, std::optional<std::string>& value, std::size_t max) {
    value = in.nullable_text(key, max);
  }
  // Absent: nullopt; present: the text (an empty string stays an empty string).
  void optional_nullable_text(const char* key, std::optional<std::string>& value,
                              std::size_t max) {
    if (in.has(key)) {
      value = in.text(key, max);
    } else {
      in.optional_text(key, max);  // marks the absent key as read
      value = std::nullopt;
    }
  }
  void carried(const char* key, std::vector<work::CarriedMessage>& messages) {
    messages.clear();
    if (!in.has(key)) {
      in.optional_text(key, 0);  // marks the absent key as read
      return;
    }
    const Json& list = in.array(key);
    if (list.size() > limits::kMaxCarriedMessages) {
      throw CodecError(in.field_path(key), "has " + std::to_string(list.size()) +
                                               " messages, over the limit of " +
                                               std::to_string(limits::kMaxCarriedMessages));
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
      ObjectReader item(list[i], in.field_path(key) + "[" + std::to_string(i) + "]");
      work::CarriedMessage message;
      std::string kind = item.text("kind", kMaxNameBytes);
      if (kind == carried_kind_name(work::CarriedMessage::Kind::Queue)) {
        message.kind = work::CarriedMessage::Kind::Queue;
      } else if (kind != carried_kind_name(work::CarriedMessage::Kind::External)) {
        throw CodecError(item.field_path("kind"), "unknown carried message kind \"" + kind + "\"");
      }
      message.name = item.text("name", kMaxNameBytes);
      message.data = item.text("data", kMaxPayloadBytes);
      item.finish();
      messages.push_back(std::move(message));
    }
  }
  void kv(const char* key, KvMap& entries) {
    entries.clear();
    if (!in.has(key)) {
      in.optional_text(key, 0);  // marks the absent key as read
      return;
    }
    const Json& map = in.object(key);
    if (map.size() > limits::kMaxKvKeys) {
      throw CodecError(in.field_path(key), "has " + std::to_string(map.size()) +
                                               " keys, over the limit of " +
                                               std::to_string(limits::kMaxKvKeys));
    }
    for (auto it = map.begin(); it != map.end(); ++it) {
      std::string path = in.field_path(key) + "." + it.key();
      if (it.key().empty() || it.key().size() > limits::kMaxKvKeyBytes) {
        throw CodecError(path, "is not a key of 1 to " + std::to_string(limits::kMaxKvKeyBytes) +
                                   " bytes");
      }
      ObjectReader item(it.value(), path);
      KvEntry entry;
      entry.value = item.text("value", limits::kMaxKvValueBytes);
      entry.updated_at_ms = item.signed_number("updated_at_ms");
      item.finish();
      entries.emplace(it.key(), std::move(entry));
    }
  }
  void unsigned_number(const char* key, std::uint64_t& value) {
    value = in.unsigned_number(key);
  }
  void optional_unsigned(const char* key, std::uint64_t& value) {
    value = in.optional_unsigned_number(key);
  }
  void signed_number(const char* key, std::int64_t& value) { value = in.signed_number(key); }
  void details(const char* key, ErrorDetails& value) {
    value = error_details_from_json(in.object(key), in.field_path(key));
  }
};

// Builds variant alternative `index` by reading its fields.
template <typename Variant, std::size_t I = 0>
Variant read_alternative(std::size_t index, ObjectReader& in) {
  if constexpr (I < std::variant_size_v<Variant>) {
    if (index == I) {
      std::variant_alternative_t<I, Variant> value{};
      Reader reader{in};
      fields(reader, value);
      return Variant{std::in_place_index<I>, std::move(value)};
    }
    return read_alternative<Variant, I + 1>(index, in);
  } else {
    throw CodecError(in.path(), "unknown kind index");  // unreachable: index comes from a parse
  }
}

}  // namespace

// ---------------------------------------------------------------- ObjectReader

ObjectReader::ObjectReader(const Json& value, std::string path)
    : object_(&value), path_(std::move(path)) {
  if (!value.is_object()) {
    throw CodecError(path_, "expected an object, got " + json_type_name(value));
  }
}

ObjectReader::ObjectReader(const FlatObject* value, std::string path) : flat_(value), path_(std::move(path)) {
  read_.reserve(value->fields.size());
}

const Json* ObjectReader::find(const char* key) const {
  if (flat_) return flat_->find(key);
  const auto it = object_->find(key);
  return it == object_->end() ? nullptr : &*it;
}

bool ObjectReader::has(const char* key) const { return find(key) != nullptr; }

const Json& ObjectReader::field(const char* key) {
  read_.emplace_back(key);
  const Json* value = find(key);
  if (!value) throw CodecError(field_path(key), "missing");
  return *value;
}

std::string ObjectReader::text(const char* key, std::size_t max_bytes) {
  const Json& value = field(key);
  if (!value.is_string()) {
    throw CodecError(field_path(key), "expected a string, got " + json_type_name(value));
  }
  const auto& text = value.get_ref<const std::string&>();
  if (text.size() > max_bytes) {
    throw CodecError(field_path(key), "is " + std::to_string(text.size()) +
                                          " bytes, over the limit of " +
                                          std::to_string(max_bytes));
  }
  return text;
}

std::string ObjectReader::optional_text(const char* key, std::size_t max_bytes) {
  if (!has(key)) {
    read_.emplace_back(key);
    return {};
  }
  return text(key, max_bytes);
}

std::optional<std::string> ObjectReader::nullable_text(const char* key, std::size_t max_bytes) {
  const Json* value = find(key);
  if (value && value->is_null()) {
    read_.emplace_back(key);
    return std::nullopt;
  }
  return text(key, max_bytes);
}

std::uint64_t ObjectReader::unsigned_number(const char* key) {
  const Json& value = field(key);
  if (value.is_number_unsigned()) return value.get<std::uint64_t>();
  if (value.is_number_integer() && value.get<std::int64_t>() >= 0) {
    return static_cast<std::uint64_t>(value.get<std::int64_t>());
  }
  throw CodecError(field_path(key),
                   "expected a non-negative integer, got " +
                       (value.is_number_integer() ? std::string("a negative integer")
                                                  : json_type_name(value)));
}

std::uint64_t ObjectReader::optional_unsigned_number(const char* key) {
  if (!has(key)) {
    read_.emplace_back(key);
    return 0;
  }
  return unsigned_number(key);
}

std::int64_t ObjectReader::signed_number(const char* key) {
  const Json& value = field(key);
  if (value.is_number_unsigned()) {
    auto raw = value.get<std::uint64_t>();
    if (raw > static_cast<std::uint64_t>(INT64_MAX)) {
      throw CodecError(field_path(key), "integer out of range");
    }
    return static_cast<std::int64_t>(raw);
  }
  if (value.is_number_integer()) return value.get<std::int64_t>();
  throw CodecError(field_path(key), "expected an integer, got " + json_type_name(value));
}

bool ObjectReader::optional_boolean(const char* key) {
  if (!has(key)) {
    read_.emplace_back(key);
    return false;
  }
  const Json& value = field(key);
  if (!value.is_boolean()) {
    throw CodecError(field_path(key), "expected a boolean, got " + json_type_name(value));
  }
  return value.get<bool>();
}

const Json& ObjectReader::object(const char* key) {
  const Json& value = field(key);
  if (!value.is_object()) {
    throw CodecError(field_path(key), "expected an object, got " + json_type_name(value));
  }
  return value;
}

const Json& ObjectReader::array(const char* key) {
  const Json& value = field(key);
  if (!value.is_array()) {
    throw CodecError(field_path(key), "expected an array, got " + json_type_name(value));
  }
  return value;
}

void ObjectReader::finish() const {
  auto unread = [this](const std::string& key) { return std::find(read_.begin(), read_.end(), key) == read_.end(); };
  if (object_) {
    for (const auto& item : object_->items()) {
      if (unread(item.key())) throw CodecError(path_ + "." + item.key(), "unknown field");
    }
    return;
  }
  // The first unknown key in key order, as an object (a sorted map) names it.
  const std::string* first = nullptr;
  for (const auto& [key, value] : flat_->fields) {
    if (unread(key) && (!first || key < *first)) first = &key;
  }
  if (first) throw CodecError(path_ + "." + *first, "unknown field");
}

// ---------------------------------------------------------------- documents

namespace {

// nlohmann's DOM builder with the nesting limit checked as it reads: a container may open
// at depth 0..kMaxJsonDepth, and keys and values may sit at most kMaxJsonDepth containers
// deep. The library's callback parser can check the same, but calls a std::function for
// every key and value and keeps a flag per container; this reader is on the hot path
// (every event and work item read from a store goes through it).
class DepthLimitedReader {
 public:
  DepthLimitedReader(Json& root, const std::string& path) : builder_(root), path_(path) {}

  bool null() {
    within_limit();
    return builder_.null();
  }
  bool boolean(bool value) {
    within_limit();
    return builder_.boolean(value);
  }
  bool number_integer(Json::number_integer_t value) {
    within_limit();
    return builder_.number_integer(value);
  }
  bool number_unsigned(Json::number_unsigned_t value) {
    within_limit();
    return builder_.number_unsigned(value);
  }
  bool number_float(Json::number_float_t value, const Json::string_t& text) {
    within_limit();
    return builder_.number_float(value, text);
  }
  bool string(Json::string_t& value) {
    within_limit();
    return builder_.string(value);
  }
  bool binary(Json::binary_t& value) {
    within_limit();
    return builder_.binary(value);
  }
  bool key(Json::string_t& value) {
    within_limit();
    return builder_.key(value);
  }
  bool start_object(std::size_t size) {
    within_limit();
    ++depth_;
    return builder_.start_object(size);
  }
  bool start_array(std::size_t size) {
    within_limit();
    ++depth_;
    return builder_.start_array(size);
  }
  bool end_object() {
    --depth_;
    return builder_.end_object();
  }
  bool end_array() {
    --depth_;
    return builder_.end_array();
  }
  template <class Exception>
  bool parse_error(std::size_t position, const std::string& token, const Exception& error) {
    return builder_.parse_error(position, token, error);
  }

 private:
  // A key, a value or a container opening at the current depth.
  void within_limit() const {
    if (depth_ > limits::kMaxJsonDepth) {
      throw CodecError(path_, "nested deeper than " + std::to_string(limits::kMaxJsonDepth) + " levels");
    }
  }

  nlohmann::detail::json_sax_dom_parser<Json> builder_;
  const std::string& path_;
  std::size_t depth_ = 0;  // containers open
};

}  // namespace

Json parse_json(std::string_view text, const std::string& path) {
  if (text.size() > limits::kMaxJsonDocumentBytes) {
    throw CodecError(path, "document is " + std::to_string(text.size()) +
                               " bytes, over the limit of " +
                               std::to_string(limits::kMaxJsonDocumentBytes));
  }
  Json result;
  DepthLimitedReader reader(result, path);
  try {
    Json::sax_parse(text.begin(), text.end(), &reader);
  } catch (const Json::parse_error& error) {
    throw CodecError(path, "invalid JSON at byte " + std::to_string(error.byte) + ": " +
                               std::string(error.what()));
  } catch (const Json::out_of_range& error) {
    // A number a double cannot hold (1e400): the reader's only other error.
    throw CodecError(path, std::string("number out of range: ") + error.what());
  }
  return result;
}

std::string dump_json(const Json& value, const std::string& path) {
  try {
    return value.dump(-1, ' ', false, Json::error_handler_t::strict);
  } catch (const Json::type_error& error) {
    throw CodecError(path, std::string("cannot encode: ") + error.what());
  }
}

// ---------------------------------------------------------------- values

Json to_json(const ErrorDetails& details) {
  Json out = Json::object();
  out["kind"] = std::string(to_string(details.kind));
  out["category"] = std::string(to_string(details.category()));
  // Error text is written by the engine on behalf of user code and stores: it
  // is repaired and bounded rather than refused, so what is stored reads back.
  out["message"] = bounded_text(details.message, kMaxPayloadBytes);
  if (!details.resource.empty()) out["resource"] = bounded_text(details.resource, kMaxPayloadBytes);
  if (details.retryable) out["retryable"] = true;
  if (details.kind == ErrorKind::Poison) {
    out["attempt_count"] = details.attempt_count;
    out["max_attempts"] = details.max_attempts;
  }
  return out;
}

ErrorDetails error_details_from_json(const Json& value, const std::string& path) {
  ObjectReader in(value, path);
  ErrorDetails details;
  std::string kind = in.text("kind", kMaxNameBytes);
  if (!parse_error_kind(kind, details.kind)) {
    throw CodecError(in.field_path("kind"), "unknown error kind \"" + kind + "\"");
  }
  if (in.has("category")) {
    std::string category = in.text("category", kMaxNameBytes);
    if (category != to_string(details.category())) {
      throw CodecError(in.field_path("category"),
                       "\"" + category + "\" does not match kind \"" + kind + "\" (expected \"" +
                           std::string(to_string(details.category())) + "\")");
    }
  }
  details.message = in.text("message", kMaxPayloadBytes);
  details.resource = in.optional_text("resource", kMaxPayloadBytes);
  details.retryable = in.optional_boolean("retryable");
  if (details.kind == ErrorKind::Poison) {
    auto read_count = [&](const char* key) {
      std::uint64_t count = in.unsigned_number(key);
      if (count > UINT32_MAX) throw CodecError(in.field_path(key), "integer out of range");
      return static_cast<std::uint32_t>(count);
    };
    details.attempt_count = read_count("attempt_count");
    details.max_attempts = read_count("max_attempts");
  }
  in.finish();
  return details;
}

namespace {

// An event's fields, for Writer and TextWriter alike.
template <typename W>
void write_event(W& writer, const Event& event) {
  writer.unsigned_number("event_id", event.event_id);
  writer.optional_unsigned("source_event_id", event.source_event_id);
  writer.signed_number("timestamp_ms", event.timestamp_ms);
  writer.text("kind", std::string(to_string(event.kind())), kMaxNameBytes);
  std::visit([&writer](const auto& data) { fields(writer, data); }, event.data);
}

template <typename W>
void write_work_item(W& writer, const WorkItem& item) {
  writer.text("kind", std::string(to_string(kind_of(item))), kMaxNameBytes);
  std::visit([&writer](const auto& data) { fields(writer, data); }, item);
}

template <typename W>
void write_pending_work(W& writer, const PendingWork& item) {
  writer.text("kind", std::string(to_string(item.kind)), kMaxNameBytes);
  writer.unsigned_number("scheduled_event_id", item.scheduled_event_id);
  writer.text("name", item.name, kMaxNameBytes);
  writer.text("input", item.input, kMaxPendingInputKept);
  writer.text("instance", item.instance, kMaxNameBytes);
  writer.signed_number("scheduled_at_ms", item.scheduled_at_ms);
  writer.signed_number("fire_at_ms", item.fire_at_ms);
  writer.boolean("input_truncated", item.input_truncated);
  writer.optional_text("tag", item.tag, limits::kMaxTagBytes);
  writer.optional_text("session_id", item.session_id, limits::kMaxSessionIdBytes);
  writer.optional_text("version", item.version, limits::kMaxVersionBytes);
}

}  // namespace

Json to_json(const Event& event) {
  Json out = Json::object();
  Writer writer{out};
  write_event(writer, event);
  return out;
}

namespace {

Event event_from(ObjectReader& in) {
  Event event;
  event.event_id = in.unsigned_number("event_id");
  event.source_event_id = in.optional_unsigned_number("source_event_id");
  event.timestamp_ms = in.signed_number("timestamp_ms");
  std::string kind_text = in.text("kind", kMaxNameBytes);
  EventKind kind{};
  if (!parse_event_kind(kind_text, kind)) {
    throw CodecError(in.field_path("kind"), "unknown event kind \"" + kind_text + "\"");
  }
  event.data = read_alternative<EventData>(static_cast<std::size_t>(kind), in);
  in.finish();
  return event;
}

WorkItem work_item_from(ObjectReader& in) {
  std::string kind_text = in.text("kind", kMaxNameBytes);
  WorkItemKind kind{};
  if (!parse_work_item_kind(kind_text, kind)) {
    throw CodecError(in.field_path("kind"), "unknown work item kind \"" + kind_text + "\"");
  }
  WorkItem item = read_alternative<WorkItem>(static_cast<std::size_t>(kind), in);
  in.finish();
  return item;
}

}  // namespace

Event event_from_json(const Json& value, const std::string& path) {
  ObjectReader in(value, path);
  return event_from(in);
}

Json to_json(const History& history) {
  Json out = Json::array();
  for (const auto& event : history) out.push_back(to_json(event));
  return out;
}

History history_from_json(const Json& value, const std::string& path) {
  if (!value.is_array()) {
    throw CodecError(path, "expected an array of events, got " + json_type_name(value));
  }
  if (value.size() > limits::kMaxHistoryEvents) {
    throw CodecError(path, "has " + std::to_string(value.size()) +
                               " events, over the limit of " +
                               std::to_string(limits::kMaxHistoryEvents));
  }
  History history;
  history.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    history.push_back(event_from_json(value[i], path + "[" + std::to_string(i) + "]"));
  }
  return history;
}

Json to_json(const WorkItem& item) {
  Json out = Json::object();
  Writer writer{out};
  write_work_item(writer, item);
  return out;
}

WorkItem work_item_from_json(const Json& value, const std::string& path) {
  ObjectReader in(value, path);
  return work_item_from(in);
}

Json to_json(const OrchestrationStatus& status) {
  Json out = Json::object();
  out["state"] = std::string(to_string(status.state));
  if (status.state == RuntimeState::Completed) out["output"] = status.output;
  if (status.error) out["error"] = to_json(*status.error);
  out["custom_status"] = status.custom_status ? Json(*status.custom_status) : Json(nullptr);
  out["custom_status_version"] = status.custom_status_version;
  return out;
}

OrchestrationStatus status_from_json(const Json& value, const std::string& path) {
  ObjectReader in(value, path);
  OrchestrationStatus status;
  std::string state = in.text("state", kMaxNameBytes);
  if (!parse_runtime_state(state, status.state)) {
    throw CodecError(in.field_path("state"), "unknown state \"" + state + "\"");
  }
  if (status.state == RuntimeState::Completed) status.output = in.text("output", kMaxPayloadBytes);
  if (status.state == RuntimeState::Failed) {
    status.error = error_details_from_json(in.object("error"), in.field_path("error"));
  }
  status.custom_status = in.nullable_text("custom_status", kMaxPayloadBytes);
  status.custom_status_version = in.unsigned_number("custom_status_version");
  in.finish();
  return status;
}

Json to_json(const PendingSnapshot& snapshot) {
  Json work = Json::array();
  for (const PendingWork& item : snapshot.work) {
    Json entry = Json::object();
    Writer writer{entry};
    write_pending_work(writer, item);
    work.push_back(std::move(entry));
  }
  return Json{{"total", snapshot.total}, {"work", std::move(work)}};
}

std::string pending_snapshot_text(const PendingSnapshot& snapshot, const std::string& path) {
  std::string work = "[";
  for (const PendingWork& item : snapshot.work) {
    TextWriter writer(path);
    write_pending_work(writer, item);
    if (work.size() > 1) work += ',';
    work += writer.finish();
  }
  work += ']';
  TextWriter writer(path);
  writer.unsigned_number("total", snapshot.total);
  writer.raw("work", work);
  return writer.finish();
}

PendingKind pending_kind_from(ObjectReader& in) {
  const std::string text = in.text("kind", kMaxNameBytes);
  for (PendingKind kind : {PendingKind::Activity, PendingKind::Timer, PendingKind::ExternalWait,
                           PendingKind::QueueWait, PendingKind::SubOrchestration}) {
    if (text == to_string(kind)) return kind;
  }
  throw CodecError(in.field_path("kind"), "unknown pending work kind \"" + text + "\"");
}

PendingWork pending_work_from_json(const Json& value, const std::string& path) {
  ObjectReader in(value, path);
  PendingWork work;
  work.kind = pending_kind_from(in);
  work.scheduled_event_id = in.unsigned_number("scheduled_event_id");
  work.name = in.text("name", kMaxNameBytes);
  work.input = in.text("input", kMaxPendingInputKept);
  work.instance = in.optional_text("instance", kMaxNameBytes);
  work.scheduled_at_ms = in.signed_number("scheduled_at_ms");
  work.fire_at_ms = in.signed_number("fire_at_ms");
  work.input_truncated = in.optional_boolean("input_truncated");
  work.tag = in.optional_text("tag", limits::kMaxTagBytes);
  work.session_id = in.optional_text("session_id", limits::kMaxSessionIdBytes);
  work.version = in.optional_text("version", limits::kMaxVersionBytes);
  in.finish();
  return work;
}

PendingSnapshot pending_snapshot_from_json(const Json& value, const std::string& path) {
  ObjectReader in(value, path);
  PendingSnapshot snapshot;
  snapshot.total = in.unsigned_number("total");
  const Json& work = in.array("work");
  if (work.size() > kMaxPendingKept || work.size() > snapshot.total) {
    throw CodecError(in.field_path("work"), "holds " + std::to_string(work.size()) + " items, over " +
                                                std::to_string(std::min<std::uint64_t>(kMaxPendingKept, snapshot.total)));
  }
  for (std::size_t i = 0; i < work.size(); ++i) {
    snapshot.work.push_back(pending_work_from_json(work[i], in.field_path("work") + "[" + std::to_string(i) + "]"));
  }
  in.finish();
  return snapshot;
}

}  // namespace detail

// ---------------------------------------------------------------- public API

std::string encode_event(const Event& event) {
  detail::TextWriter writer("event");
  detail::write_event(writer, event);
  return writer.finish();
}
// The stores read every event and work item back through these two: an object of
// scalars is read straight from its text (flat_object.hpp), anything else through the
// JSON document. Both give the same value or the same error for the same text.
Event decode_event(std::string_view json_text) {
  detail::FlatObject flat;
  if (detail::read_flat_object(json_text, flat)) {
    detail::ObjectReader in(&flat, "event");
    return detail::event_from(in);
  }
  return detail::event_from_json(detail::parse_json(json_text, "event"), "event");
}
std::string encode_history(const History& history) {
  return detail::dump_json(detail::to_json(history), "history");
}
History decode_history(std::string_view json_text) {
  return detail::history_from_json(detail::parse_json(json_text, "history"), "history");
}
std::string encode_work_item(const WorkItem& item) {
  detail::TextWriter writer("work_item");
  detail::write_work_item(writer, item);
  return writer.finish();
}
WorkItem decode_work_item(std::string_view json_text) {
  detail::FlatObject flat;
  if (detail::read_flat_object(json_text, flat)) {
    detail::ObjectReader in(&flat, "work_item");
    return detail::work_item_from(in);
  }
  return detail::work_item_from_json(detail::parse_json(json_text, "work_item"), "work_item");
}
std::string encode_error_details(const ErrorDetails& details) {
  return detail::dump_json(detail::to_json(details), "error");
}
ErrorDetails decode_error_details(std::string_view json_text) {
  return detail::error_details_from_json(detail::parse_json(json_text, "error"), "error");
}
std::string encode_status(const OrchestrationStatus& status) {
  return detail::dump_json(detail::to_json(status), "status");
}
OrchestrationStatus decode_status(std::string_view json_text) {
  return detail::status_from_json(detail::parse_json(json_text, "status"), "status");
}
std::string encode_pending_snapshot(const PendingSnapshot& snapshot) {
  return detail::pending_snapshot_text(snapshot, "pending");
}
PendingSnapshot decode_pending_snapshot(std::string_view json_text) {
  return detail::pending_snapshot_from_json(detail::parse_json(json_text, "pending"), "pending");
}

}  // namespace duroxide
