// nlohmann-level pieces of the codec, for core sources that build larger
// documents (replay reports, exports) out of model values. Not a public header.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "duroxide/codec.hpp"

namespace duroxide::detail {

using Json = nlohmann::json;

// Parses with the document size and depth limits; errors name `path`.
Json parse_json(std::string_view text, const std::string& path);
// Serialises compactly; strings that are not valid UTF-8 raise CodecError at `path`.
std::string dump_json(const Json& value, const std::string& path);

Json to_json(const Event& event);
Event event_from_json(const Json& value, const std::string& path);
Json to_json(const History& history);
History history_from_json(const Json& value, const std::string& path);
Json to_json(const WorkItem& item);
WorkItem work_item_from_json(const Json& value, const std::string& path);
Json to_json(const ErrorDetails& details);
ErrorDetails error_details_from_json(const Json& value, const std::string& path);
Json to_json(const OrchestrationStatus& status);
OrchestrationStatus status_from_json(const Json& value, const std::string& path);

struct FlatObject;  // flat_object.hpp

// Reads one JSON object field by field, checking types and limits, and rejects
// fields it was never asked about. Every error names the full path of the field.
class ObjectReader {
 public:
  ObjectReader(const Json& value, std::string path);
  // The same reads over an object read by read_flat_object (flat_object.hpp).
  ObjectReader(const FlatObject* value, std::string path);

  std::string text(const char* key, std::size_t max_bytes);
  std::string optional_text(const char* key, std::size_t max_bytes);  // missing -> ""
  std::optional<std::string> nullable_text(const char* key, std::size_t max_bytes);
  std::uint64_t unsigned_number(const char* key);
  std::uint64_t optional_unsigned_number(const char* key);  // missing -> 0
  std::int64_t signed_number(const char* key);
  bool optional_boolean(const char* key);  // missing -> false
  const Json& object(const char* key);
  const Json& array(const char* key);
  bool has(const char* key) const;
  std::string field_path(const char* key) const { return path_ + "." + key; }
  const std::string& path() const { return path_; }

  // Throws if the object holds a field not read above.
  void finish() const;

 private:
  const Json& field(const char* key);
  const Json* find(const char* key) const;
  const Json* object_ = nullptr;    // one of the two
  const FlatObject* flat_ = nullptr;
  std::string path_;
  std::vector<std::string> read_;
};

}  // namespace duroxide::detail
