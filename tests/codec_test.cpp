// The JSON codec: exact round trips for every model value, and typed errors
// that name the bad field for every kind of bad input.
#include <catch2/catch.hpp>

#include "duroxide/codec.hpp"
#include "duroxide/limits.hpp"
#include "duroxide/detail/json.hpp"

using namespace duroxide;

namespace {

ErrorDetails sample_error() {
  ErrorDetails poison = ErrorDetails::poison("activity Hello", 11, 10);
  poison.message = "gave up";
  return poison;
}

// One event of every kind, with awkward values: unicode, quotes, newlines, empty
// strings, large ids, negative timestamps, cleared vs empty custom status.
History every_kind_of_event() {
  const std::string tricky = "Ünïcödé \"quoted\"\nline\ttab \\ 😀";
  std::vector<EventData> data = {
      events::OrchestrationStarted{"Orch", "1.2.3", tricky, "parent-1", 42},
      events::OrchestrationCompleted{""},
      events::OrchestrationFailed{ErrorDetails::cancelled("stop")},
      events::ActivityScheduled{"Act", tricky},
      events::ActivityCompleted{"done"},
      events::ActivityFailed{ErrorDetails::activity_failed("boom", true)},
      events::TimerCreated{-5},
      events::TimerFired{INT64_MAX},
      events::ExternalSubscribed{"Approve"},
      events::ExternalEvent{"Approve", ""},
      events::QueueSubscribed{"inbox"},
      events::QueueEventDelivered{"inbox", tricky},
      events::SubOrchestrationScheduled{"Child", "p::sub::1", "in", "2.0.0"},
      events::SubOrchestrationCompleted{"out"},
      events::SubOrchestrationFailed{sample_error()},
      events::DetachedOrchestrationStarted{"Other", "d-1", "x", ""},
      events::OrchestrationContinuedAsNew{"next", "3.0.0"},
      events::OrchestrationCancelRequested{"user"},
      events::ActivityCancelRequested{"dropped"},
      events::SubOrchestrationCancelRequested{"lost a select"},
      events::CustomStatusUpdated{std::nullopt},
      events::ExternalSubscribedCancelled{"lost a select"},
      events::KeyValueSet{"k\u00e9y", tricky},
      events::KeyValueCleared{"k"},
      events::KeyValuesCleared{},
  };
  REQUIRE(data.size() == kEventKindCount);
  History history;
  for (std::size_t i = 0; i < data.size(); ++i) {
    REQUIRE(data[i].index() == i);  // in EventKind order
    EventId source = (i % 2 == 0) ? 0 : (1ull << 62) + i;
    history.push_back(Event{i + 1, source, -1'000 + static_cast<TimestampMs>(i), data[i]});
  }
  history.push_back(Event{99, 0, 0, events::CustomStatusUpdated{std::string()}});
  history.push_back(Event{100, 0, 0,
                          events::OrchestrationStarted{"Next", "1.0.0", "", "p", 7, 2, 0,
                                                       std::string()}});
  history.push_back(Event{101, 0, 0, events::OrchestrationStarted{"Next", "1.0.0", "", "", 0, 0, 5,
                                                                   "carried status"}});
  events::OrchestrationStarted carried_kv{"Next", "1.0.0", "", "", 0, 0, 0, std::nullopt};
  carried_kv.kv = {{"a", KvEntry{tricky, -3}}, {"é", KvEntry{"", INT64_MAX}}};
  history.push_back(Event{102, 0, 0, carried_kv});
  history.push_back(Event{103, 0, 0, events::ActivityScheduled{"Render", "frame", "gpu-\u00e9"}});
  events::OrchestrationStarted pinned{"Next", "1.0.0", "", "", 0, 0, 0, std::nullopt};
  pinned.duroxide_version = "999999999.0.12";
  pinned.guid_seed = "0123456789abcdef";
  history.push_back(Event{104, 0, 0, pinned});
  return history;
}

std::vector<WorkItem> every_kind_of_work_item() {
  std::vector<WorkItem> items = {
      work::StartOrchestration{"i", "Orch", "", "in", "parent", 3, {}},
      work::ActivityExecute{"i", 2, 7, "Act", "in"},
      work::ActivityCompleted{"i", 2, 7, "out"},
      work::ActivityFailed{"i", 2, 7, ErrorDetails::activity_failed("x")},
      work::TimerFired{"i", 1, 4, 1234},
      work::ExternalRaised{"i", "Approve", "yes"},
      work::QueueMessage{"i", "inbox", "m"},
      work::SubOrchestrationCompleted{"p", 3, "p::sub::1", "r"},
      work::SubOrchestrationFailed{"p", 3, "p::sub::1", sample_error()},
      work::CancelInstance{"i", "why"},
      work::ContinueAsNew{"i", "Orch", "2.0.0", "next"},
  };
  items.push_back(work::ContinueAsNew{
      "i", "Orch", "", "next", "p", 3,
      {{work::CarriedMessage::Kind::External, "Approve", "yes"},
       {work::CarriedMessage::Kind::Queue, "inbox", ""}},
      0, std::string()});
  items.push_back(work::ContinueAsNew{"i", "Orch", "", "next", {}, 0, {}, 1001, "status"});
  items.push_back(work::ActivityExecute{"i", 2, 8, "Render", "frame", "gpu-\u00e9"});
  for (std::size_t i = 0; i < 11; ++i) REQUIRE(items[i].index() == i);
  return items;
}

template <typename F>
void require_codec_error(F&& decode, const std::string& field, const std::string& fragment) {
  try {
    decode();
    FAIL("expected a CodecError at " << field);
  } catch (const CodecError& error) {
    INFO(error.what());
    CHECK(error.field() == field);
    CHECK(std::string(error.what()).find(fragment) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("every event kind round-trips exactly", "[codec]") {
  History history = every_kind_of_event();
  std::string text = encode_history(history);
  History decoded = decode_history(text);
  REQUIRE(decoded == history);
  CHECK(encode_history(decoded) == text);
  for (const auto& event : history) {
    CHECK(decode_event(encode_event(event)) == event);
  }
}

TEST_CASE("the text encoders write what the JSON objects dump to, byte for byte", "[codec]") {
  // encode_event, encode_work_item and encode_pending_snapshot write text directly; the
  // exports and reports build nlohmann objects (detail::to_json). Both must agree.
  History history = every_kind_of_event();
  for (const std::string& text : {std::string("\x01\x1f\x7f/<>&'"), std::string("caf\xc3\xa9 \xf0\x9f\x98\x80"),
                                  std::string("\\\"\\"), std::string("say \"hi\" to C:\\dir\\ now"),
                                  std::string("a\"b\\c caf\xc3\xa9"), std::string()}) {
    history.push_back(Event{200, 3, 5, events::ExternalEvent{"e", text}});
    history.push_back(Event{201, 0, -7, events::CustomStatusUpdated{text}});
  }
  // A value handed to dump_json in a field written before others, and the integers' ends.
  history.push_back(Event{202, 0, INT64_MIN, events::ActivityScheduled{"\xc3\xa9", "a \"b\" c"}});
  history.push_back(Event{UINT64_MAX, UINT64_MAX, INT64_MAX, events::TimerCreated{INT64_MIN}});
  for (const Event& event : history) {
    CHECK(encode_event(event) == detail::dump_json(detail::to_json(event), "event"));
    CHECK(decode_event(encode_event(event)) == event);  // the flat reader's runs and escapes
  }
  for (const WorkItem& item : every_kind_of_work_item()) {
    CHECK(encode_work_item(item) == detail::dump_json(detail::to_json(item), "work_item"));
  }
  PendingSnapshot snapshot;
  snapshot.total = 5;
  snapshot.work.push_back(PendingWork{PendingKind::Activity, 4, "Act", "in \"x\"", "", 10, 0, true});
  snapshot.work.push_back(PendingWork{PendingKind::Timer, 6, "", "", "", -1, INT64_MAX, false});
  snapshot.work.push_back(PendingWork{PendingKind::SubOrchestration, 7, "Child", "\xc3\xa9", "p::sub::7", 0, 0, false});
  snapshot.work.push_back(PendingWork{PendingKind::Activity, 8, "Render", "f", "", 11, 0, false, "gpu"});
  CHECK(encode_pending_snapshot(snapshot) ==
        R"({"total":5,"work":[{"fire_at_ms":0,"input":"in \"x\"","input_truncated":true,"instance":"","kind":"activity",)"
        R"("name":"Act","scheduled_at_ms":10,"scheduled_event_id":4},{"fire_at_ms":9223372036854775807,"input":"",)"
        R"("input_truncated":false,"instance":"","kind":"timer","name":"","scheduled_at_ms":-1,"scheduled_event_id":6},)"
        R"({"fire_at_ms":0,"input":"é","input_truncated":false,"instance":"p::sub::7","kind":"sub_orchestration",)"
        R"("name":"Child","scheduled_at_ms":0,"scheduled_event_id":7},{"fire_at_ms":0,"input":"f","input_truncated":false,)"
        R"("instance":"","kind":"activity","name":"Render","scheduled_at_ms":11,"scheduled_event_id":8,"tag":"gpu"}]})");
  CHECK(decode_pending_snapshot(encode_pending_snapshot(snapshot)) == snapshot);
  CHECK(encode_pending_snapshot(PendingSnapshot{}) == R"({"total":0,"work":[]})");
  // Invalid UTF-8 is refused with the DOM path's error.
  Event bad{1, 0, 0, events::ExternalEvent{"a", std::string("ok \xff")}};
  std::string expected;
  try {
    detail::dump_json(detail::to_json(bad), "event");
  } catch (const CodecError& error) {
    expected = error.what();
  }
  REQUIRE_FALSE(expected.empty());
  require_codec_error([&] { encode_event(bad); }, "event", expected.substr(expected.find("cannot encode")));
}

namespace {

// What a decoder gave: the value encoded, or the error's text.
template <typename Decode>
std::string outcome(Decode&& decode) {
  try {
    return "value " + decode();
  } catch (const CodecError& error) {
    return std::string("error ") + error.what();
  }
}

}  // namespace

TEST_CASE("events and work items read straight from text decode as the JSON document does", "[codec]") {
  // decode_event and decode_work_item read an object of scalars without building a JSON
  // document (flat_object.hpp); whatever they are given, they must answer what reading
  // the document answers: the same value, or the same error.
  const std::vector<std::string> texts = {
      R"({"event_id":3,"kind":"ActivityCompleted","result":"Hello","source_event_id":2,"timestamp_ms":1700})",
      " \t\r\n{ \"event_id\" : 3 ,\"kind\":\"ActivityCompleted\",\"result\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\","
      "\"timestamp_ms\":-0 } \n",
      R"({"event_id":1,"kind":"TimerFired","fire_at_ms":-999999999999999999,"timestamp_ms":999999999999999999})",
      R"({"event_id":1,"kind":"TimerFired","fire_at_ms":9223372036854775807,"timestamp_ms":0})",
      R"({"event_id":1,"kind":"TimerFired","fire_at_ms":-9223372036854775809,"timestamp_ms":0})",
      R"({"event_id":18446744073709551616,"kind":"TimerFired","fire_at_ms":1,"timestamp_ms":0})",
      R"({"event_id":-1,"kind":"TimerFired","fire_at_ms":1,"timestamp_ms":0})",
      R"({"event_id":01,"kind":"TimerFired","fire_at_ms":1,"timestamp_ms":0})",
      R"({"event_id":1.0,"kind":"TimerFired","fire_at_ms":1,"timestamp_ms":0})",
      R"({"event_id":1e2,"kind":"TimerFired","fire_at_ms":1,"timestamp_ms":0})",
      R"({"event_id":1,"event_id":2,"kind":"TimerFired","fire_at_ms":1,"timestamp_ms":0})",
      R"({"event_id":1,"kind":"TimerFired","fire_at_ms":1,"timestamp_ms":0,"zz":1,"aa":true})",
      R"({"event_id":1,"kind":"CustomStatusUpdated","status":null,"timestamp_ms":0})",
      R"({"event_id":1,"kind":"CustomStatusUpdated","status":false,"timestamp_ms":0})",
      R"({"event_id":true,"kind":"TimerFired","fire_at_ms":1,"timestamp_ms":0})",
      R"({"event_id":1,"kind":"TimerFired","timestamp_ms":0})",
      R"({"event_id":1,"kind":"ExternalEvent","name":"\u00e9","data":"x","timestamp_ms":0})",
      "{\"event_id\":1,\"kind\":\"ExternalEvent\",\"name\":\"caf\xc3\xa9\",\"data\":\"x\",\"timestamp_ms\":0}",
      "{\"event_id\":1,\"kind\":\"ExternalEvent\",\"name\":\"\xff\",\"data\":\"x\",\"timestamp_ms\":0}",
      "{\"event_id\":1,\"kind\":\"ExternalEvent\",\"name\":\"tab\there\",\"data\":\"x\",\"timestamp_ms\":0}",
      R"({"event_id":1,"kind":"ExternalEvent","name":"a\x","data":"x","timestamp_ms":0})",
      R"({"event_id":1,"kind":"TimerFired","fire_at_ms":1,"timestamp_ms":0,})",
      R"({"event_id":1,"kind":"TimerFired","fire_at_ms":1,"timestamp_ms":0} x)",
      R"({"event_id":1,"kind":"TimerFired","fire_at_ms":1,"timestamp_ms":0}{})",
      R"({"event_id":1 "kind":"TimerFired"})",
      R"({"event_id":1,"kind":"TimerFired","fire_at_ms":1,"timestamp_ms":0)",
      R"({"event_id":1,"kind":"TimerFired","fire_at_ms":1,"timestamp_ms":tru})",
      R"({"event_id":1,"kind":"TimerFired","fire_at_ms":1,"timestamp_ms":nullx})",
      "\xef\xbb\xbf{\"event_id\":1,\"kind\":\"TimerFired\",\"fire_at_ms\":1,\"timestamp_ms\":0}",
      R"({"event_id":1,"kind":"OrchestrationFailed","error":{"kind":"Cancelled","message":"m"},"timestamp_ms":0})",
      R"({"kind":"ActivityExecute","instance":"i","execution_id":1,"id":2,"name":"A","input":""})",
      R"({"kind":"ActivityExecute","instance":"i","execution_id":1,"id":2,"name":"A","input":"","extra":null})",
      R"({"kind":"TimerFired","instance":"i","execution_id":1,"id":2,"fire_at_ms":-0})",
      R"({"kind":"Nope"})", R"({})", R"([])", R"("x")", "", "{", "{\"", "{\"a\"", "{\"a\":", "{\"a\":-", "{\"a\":1",
      R"({"kind":"ContinueAsNew","instance":"i","orchestration":"O","input":"","kv":{}})",
  };
  for (const std::string& text : texts) {
    INFO(text);
    CHECK(outcome([&] { return encode_event(decode_event(text)); }) ==
          outcome([&] { return encode_event(detail::event_from_json(detail::parse_json(text, "event"), "event")); }));
    CHECK(outcome([&] { return encode_work_item(decode_work_item(text)); }) ==
          outcome([&] {
            return encode_work_item(detail::work_item_from_json(detail::parse_json(text, "work_item"), "work_item"));
          }));
  }
  // Signed zero, duplicate keys and whitespace read as the document reads them.
  CHECK(std::get<events::TimerFired>(decode_event(texts[2]).data).fire_at_ms == -999'999'999'999'999'999);
  CHECK(decode_event(texts[10]).event_id == 2);
  CHECK(std::get<events::ActivityCompleted>(decode_event(texts[1]).data).result == "a\"b\\c/d\b\f\n\r\t");
}

TEST_CASE("continue-as-new items and start events stored before carrying still decode",
          "[codec]") {
  WorkItem next = decode_work_item(
      R"({"kind":"ContinueAsNew","instance":"i","orchestration":"Orch","input":"n"})");
  CHECK(next == WorkItem{work::ContinueAsNew{"i", "Orch", "", "n"}});
  Event started = decode_event(
      R"({"event_id":1,"timestamp_ms":0,"kind":"OrchestrationStarted","name":"O","version":"1.0.0","input":""})");
  const auto& data = *started.as<events::OrchestrationStarted>();
  CHECK(data.carried_messages == 0);
  CHECK(data.uncarried_messages == 0);
  CHECK_FALSE(data.custom_status.has_value());
  CHECK(data.duroxide_version.empty());  // written before executions were pinned
  require_codec_error(
      [] {
        decode_work_item(
            R"({"kind":"ContinueAsNew","instance":"i","orchestration":"O","input":"","carried":[{"kind":"timer","name":"a","data":""}]})");
      },
      "work_item.carried[0].kind", "unknown carried message kind");
}

TEST_CASE("events encode as flat objects with readable kinds", "[codec]") {
  Event event{3, 2, 1700, events::ActivityCompleted{"Hello, Ada!"}};
  CHECK(encode_event(event) ==
        R"({"event_id":3,"kind":"ActivityCompleted","result":"Hello, Ada!","source_event_id":2,"timestamp_ms":1700})");
  Event cleared{4, 0, 1, events::CustomStatusUpdated{std::nullopt}};
  CHECK(encode_event(cleared).find(R"("status":null)") != std::string::npos);
}

TEST_CASE("every work item kind, error kind and status round-trips", "[codec]") {
  for (const auto& item : every_kind_of_work_item()) {
    std::string text = encode_work_item(item);
    CHECK(decode_work_item(text) == item);
  }
  for (ErrorKind kind :
       {ErrorKind::ActivityFailed, ErrorKind::OrchestrationFailed, ErrorKind::Cancelled,
        ErrorKind::Provider, ErrorKind::HistoryCorrupted, ErrorKind::Nondeterminism,
        ErrorKind::UnregisteredOrchestration, ErrorKind::UnregisteredActivity,
        ErrorKind::Poison}) {
    ErrorDetails details;
    details.kind = kind;
    details.message = "m";
    details.resource = kind == ErrorKind::Provider ? "ack" : "";
    details.retryable = kind == ErrorKind::Provider;
    if (kind == ErrorKind::Poison) details = sample_error();
    CHECK(decode_error_details(encode_error_details(details)) == details);
  }
  std::vector<OrchestrationStatus> statuses = {
      OrchestrationStatus::not_found(), OrchestrationStatus::running("waiting"),
      OrchestrationStatus::completed("out"),
      OrchestrationStatus::failed(ErrorDetails::cancelled("r"), std::string())};
  statuses[1].custom_status_version = 7;
  for (const auto& status : statuses) CHECK(decode_status(encode_status(status)) == status);
}

TEST_CASE("error categories and display messages", "[codec][errors]") {
  CHECK(ErrorDetails::activity_failed("boom").display_message() == "boom");
  CHECK(ErrorDetails::activity_failed("boom").category() == ErrorCategory::Application);
  CHECK(ErrorDetails::cancelled("r").display_message() == "canceled: r");
  CHECK(ErrorDetails::nondeterminism("x").category() == ErrorCategory::Configuration);
  CHECK(ErrorDetails::unregistered_activity("A").display_message() == "unregistered activity: A");
  CHECK(ErrorDetails::unregistered_orchestration("O 1.0.0").category() ==
        ErrorCategory::Configuration);
  CHECK(ErrorDetails::provider("ack", "disk full", true).category() ==
        ErrorCategory::Infrastructure);
  CHECK(ErrorDetails::history_corrupted("x").display_message() == "history corrupted: x");
  CHECK(ErrorDetails::poison("activity A", 11, 10).display_message() ==
        "poison: activity A failed 11 times (max attempts 10)");
  CHECK(ErrorDetails::poison("x", 1, 1).category() == ErrorCategory::Poison);
}

TEST_CASE("bad JSON gives a CodecError naming the bad field", "[codec]") {
  require_codec_error([] { decode_history("[1,"); }, "history", "invalid JSON at byte");
  require_codec_error([] { decode_history(R"({"a":1})"); }, "history",
                      "expected an array of events, got object");
  require_codec_error([] { decode_history(R"([{"event_id":1,"timestamp_ms":0}])"); },
                      "history[0].kind", "missing");
  require_codec_error(
      [] { decode_history(R"([{"event_id":1,"timestamp_ms":0,"kind":"Bogus"}])"); },
      "history[0].kind", "unknown event kind \"Bogus\"");
  const std::string started =
      R"({"event_id":1,"timestamp_ms":0,"kind":"OrchestrationStarted","name":"O","version":"1.0.0","input":""})";
  require_codec_error(
      [&] {
        decode_history("[" + started +
                       R"(,{"event_id":2,"timestamp_ms":0,"kind":"TimerCreated","fire_at_ms":"soon"}])");
      },
      "history[1].fire_at_ms", "expected an integer, got string");
  for (const char* version : {"", "1.0", "1.0.0-beta", "01.0.0", "1.0.0.0", "1000000000.0.0"}) {
    require_codec_error(
        [&] {
          decode_event(R"({"event_id":1,"timestamp_ms":0,"kind":"OrchestrationStarted","name":"O","version":"1.0.0",)"
                       R"("input":"","duroxide_version":")" +
                       std::string(version) + "\"}");
        },
        "event.duroxide_version", "not MAJOR.MINOR.PATCH");
  }
  require_codec_error(
      [] { decode_event(R"({"event_id":-1,"timestamp_ms":0,"kind":"ExternalSubscribed","name":"a"})"); },
      "event.event_id", "negative");
  require_codec_error(
      [] { decode_event(R"({"event_id":1.5,"timestamp_ms":0,"kind":"ExternalSubscribed","name":"a"})"); },
      "event.event_id", "fraction");
  require_codec_error(
      [] {
        decode_event(R"({"event_id":1,"timestamp_ms":0,"kind":"ExternalSubscribed","name":"a","extra":1})");
      },
      "event.extra", "unknown field");
  require_codec_error(
      [] {
        decode_error_details(R"({"kind":"poison","category":"application","message":""})");
      },
      "error.category", "does not match kind");
  require_codec_error(
      [] { decode_work_item(R"({"kind":"Teleport","instance":"i"})"); }, "work_item.kind",
      "unknown work item kind");
  require_codec_error([] { decode_status(R"({"state":"Sleeping","custom_status":null,"custom_status_version":0})"); },
                      "status.state", "unknown state");
}

TEST_CASE("the codec enforces limits", "[codec][limits]") {
  std::string big(limits::kMaxPayloadBytes + 1, 'x');
  require_codec_error(
      [&] {
        decode_event(R"({"event_id":1,"timestamp_ms":0,"kind":"ExternalEvent","name":"e","data":")" + big + "\"}");
      },
      "event.data", "over the limit of 262144");
  // A completion's result may hold a value read from another instance as JSON (six bytes a byte).
  auto completed = [](std::size_t bytes) {
    return R"({"event_id":1,"timestamp_ms":0,"kind":"ActivityCompleted","source_event_id":1,"result":")" +
           std::string(bytes, 'x') + "\"}";
  };
  CHECK(decode_event(completed(limits::kMaxCompletionResultBytes)).as<events::ActivityCompleted>()->result.size() ==
        limits::kMaxCompletionResultBytes);
  require_codec_error([&] { decode_event(completed(limits::kMaxCompletionResultBytes + 1)); }, "event.result",
                      "over the limit of 393218");
  std::string long_name(limits::kMaxNameBytes + 1, 'n');
  require_codec_error(
      [&] {
        decode_event(R"({"event_id":1,"timestamp_ms":0,"kind":"ExternalSubscribed","name":")" +
                     long_name + "\"}");
      },
      "event.name", "over the limit of 256");
  std::string deep(40, '[');
  deep += std::string(40, ']');
  require_codec_error([&] { decode_history(deep); }, "history", "nested deeper than 16");
  Event invalid_utf8{1, 0, 0, events::ExternalEvent{"a", std::string("\xff\xfe")}};
  require_codec_error([&] { encode_event(invalid_utf8); }, "event", "cannot encode");
}

TEST_CASE("the nesting limit: keys and values sit at most 16 containers deep", "[codec][limits]") {
  auto nested = [](std::size_t containers, const std::string& inner) {
    return std::string(containers, '[') + inner + std::string(containers, ']');
  };
  CHECK(detail::parse_json(nested(16, "1"), "doc").dump() == nested(16, "1"));
  CHECK(detail::parse_json(nested(16, "{}"), "doc").dump() == nested(16, "{}"));  // a 17th container, empty
  require_codec_error([&] { detail::parse_json(nested(17, "1"), "doc"); }, "doc", "nested deeper than 16 levels");
  require_codec_error([&] { detail::parse_json(nested(16, R"({"k":1})"), "doc"); }, "doc", "nested deeper than 16");
  require_codec_error([&] { detail::parse_json(nested(18, ""), "doc"); }, "doc", "nested deeper than 16");
  // The limit is met as the text is read: a syntax error before it is what is reported.
  require_codec_error([&] { detail::parse_json("[1 2," + nested(40, ""), "doc"); }, "doc", "invalid JSON at byte 4");
  // A flat document of any length passes.
  std::string wide = "[";
  for (int i = 0; i < 10'000; ++i) wide += (i ? ",[1]" : "[1]");
  CHECK(detail::parse_json(wide + "]", "doc").size() == 10'000);
}

TEST_CASE("a number too large for a double is a CodecError", "[codec]") {
  // 1e400 overflows a double: the reader's own out-of-range error must not escape the codec.
  require_codec_error([&] { decode_event(R"({"event_id":1e400})"); }, "event", "number");
  require_codec_error([&] { decode_history("[-1e400]"); }, "history", "number");
  require_codec_error([&] { decode_work_item(R"({"kind":"TimerFired","fire_at_ms":4e999})"); }, "work_item",
                      "number");
}

TEST_CASE("decoding truncated documents never crashes", "[codec]") {
  std::string text = encode_history(every_kind_of_event());
  std::size_t decoded = 0;
  for (std::size_t length = 0; length < text.size(); length += 7) {
    try {
      decode_history(text.substr(0, length));
      ++decoded;
    } catch (const CodecError&) {
      // the only acceptable failure
    }
  }
  CHECK(decoded == 0);  // every strict prefix of an array is incomplete JSON
  for (const char* garbage : {"", "null", "true", "[null]", "[[]]", "[{}]", "\"x\"", "{", "[1]"}) {
    CHECK_THROWS_AS(decode_history(garbage), CodecError);
  }
}

TEST_CASE("key-value events and carried stores round-trip and decode within their limits",
          "[codec][kv]") {
  work::ContinueAsNew next{"i", "Orch", "", "n"};
  next.kv = {{"a", KvEntry{"1", 5}}, {"b", KvEntry{"", -1}}};
  CHECK(decode_work_item(encode_work_item(next)) == WorkItem{next});
  CHECK(decode_work_item(encode_work_item(work::ContinueAsNew{"i", "Orch", "", "n"})) ==
        WorkItem{work::ContinueAsNew{"i", "Orch", "", "n"}});
  const std::string big(limits::kMaxKvValueBytes + 1, 'v');
  CHECK_THROWS_AS(decode_event(R"({"event_id":2,"timestamp_ms":0,"kind":"KeyValueSet","key":"k","value":")" +
                               big + "\"}"),
                  CodecError);
  CHECK_THROWS_AS(decode_event(R"({"event_id":2,"timestamp_ms":0,"kind":"KeyValueCleared"})"), CodecError);
  CHECK_THROWS_AS(
      decode_event(R"({"event_id":1,"timestamp_ms":0,"kind":"OrchestrationStarted","name":"O","version":"1.0.0",)"
                   R"("input":"","kv":{"":{"value":"v","updated_at_ms":0}}})"),
      CodecError);
  CHECK_THROWS_AS(
      decode_event(R"({"event_id":1,"timestamp_ms":0,"kind":"OrchestrationStarted","name":"O","version":"1.0.0",)"
                   R"("input":"","kv":{"k":{"value":"v"}}})"),
      CodecError);
}
