// fuzz_seeds: writes the seed corpora (fuzz/corpus/<target>/) and dictionaries
// (fuzz/dict/<target>.dict) from real data: the sample catalog run on the fuzz targets'
// host (support.hpp), its histories and exports, and the command table itself, so the
// seeds and dictionaries follow the code. Run by `bash scripts/fuzz.sh seeds`; the
// output is checked in. Usage: fuzz_seeds <the fuzz/ folder>.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>

#include "duroxide/detail/json.hpp"
#include "duroxide/samples.hpp"
#include "support.hpp"

using namespace duroxide;
using fuzz::Json;
namespace fs = std::filesystem;

namespace {

fs::path root;

void write(const std::string& target, const std::string& name, const std::string& bytes) {
  const fs::path folder = root / "corpus" / target;
  fs::create_directories(folder);
  std::ofstream(folder / name, std::ios::binary) << bytes;
}

void write_dictionary(const std::string& target, const std::set<std::string>& words) {
  fs::create_directories(root / "dict");
  std::ofstream out(root / "dict" / (target + ".dict"), std::ios::binary);
  out << "# Written by fuzz_seeds (bash scripts/fuzz.sh seeds) from the code: do not edit.\n";
  // libFuzzer's format: a quoted string, with \\, \" and \xNN the only escapes.
  for (const auto& word : words) {
    out << '"';
    for (unsigned char c : word) {
      static const char* const kHex = "0123456789abcdef";
      if (c == '\\' || c == '"') {
        out << '\\' << c;
      } else if (c >= 0x20 && c < 0x7f) {
        out << c;
      } else {
        out << "\\x" << kHex[c >> 4] << kHex[c & 15];
      }
    }
    out << "\"\n";
  }
}

History history_of(fuzz::Host& host, const std::string& instance, ExecutionId execution) {
  return host.management->read_execution(instance, execution);
}

void history_seeds(fuzz::Host& host) {
  for (const char* sample : {"HelloWorld", "Approval", "Parent", "Saga", "Mailbox", "RetryFlaky", "Fails"}) {
    const std::string instance = std::string("sample-") + sample;
    const std::string history = encode_history(history_of(host, instance, 1));
    write("history", sample, history);
    write("replay", sample, history);
  }
  // One execution of a named instance: the Parent's sub-orchestration ids derive from its id.
  write("replay", "named-Parent",
        R"({"instance":"sample-Parent","execution":1,"history":)" + encode_history(history_of(host, "sample-Parent", 1)) + "}");
  const History counter = history_of(host, "sample-Counter", 1);
  write("history", "event", encode_event(counter.front()));
  write("json", "history", encode_history(counter));
}

void export_seeds(fuzz::Host& host) {
  for (const char* sample : {"HelloWorld", "Counter", "Approval", "Fails", "LongTimer"}) {
    const std::string document = host.management->export_instance(std::string("sample-") + sample);
    // The sample database holds the original.
    write("import", sample, fuzz::renamed_export(Json::parse(document), std::string("imported-") + sample).dump());
    if (std::string(sample) == "Counter") write("replay", "export-Counter", document);
    if (std::string(sample) == "HelloWorld") write("json", "export", document);
  }
}

void work_item_seeds() {
  const ErrorDetails failure = ErrorDetails::activity_failed("flaky failure 1", true);
  const std::vector<std::pair<std::string, WorkItem>> items = {
      {"start", work::StartOrchestration{"sample-HelloWorld", "HelloWorld", "1.0.0", "Ada", "", 0}},
      {"child-start", work::StartOrchestration{"sample-Parent::1", "HelloWorld", "", "a", "sample-Parent", 2}},
      {"activity", work::ActivityExecute{"sample-HelloWorld", 1, 2, "Hello", "Ada"}},
      {"activity-on-session", work::ActivityExecute{"sample-HelloWorld", 1, 2, "Hello", "Ada", "gpu", "chat-1"}},
      {"activity-completed", work::ActivityCompleted{"sample-HelloWorld", 1, 2, "Hello, Ada!"}},
      {"activity-failed", work::ActivityFailed{"sample-RetryFlaky", 1, 2, failure}},
      {"timer", work::TimerFired{"sample-Approval", 1, 3, 1'700'000'060'000}},
      {"event", work::ExternalRaised{"sample-Approval", "Approve", "yes"}},
      {"queue", work::QueueMessage{"sample-Mailbox", "inbox", "one"}},
      {"child-completed", work::SubOrchestrationCompleted{"sample-Parent", 2, "sample-Parent::1", "Hi, a!"}},
      {"child-failed", work::SubOrchestrationFailed{"sample-Parent", 2, "sample-Parent::1", failure}},
      {"cancel", work::CancelInstance{"sample-Approval", "canceled"}},
      {"continue", work::ContinueAsNew{"sample-Counter", "Counter", "1.0.0", R"({"count":1,"limit":3})", "", 0,
                                       {{work::CarriedMessage::Kind::Queue, "inbox", "one"}}, 0, "counting",
                                       {{"k", {"v", 1'700'000'000'000}}}}},
  };
  for (const auto& [name, item] : items) write("work_item", name, encode_work_item(item));
  write("work_item", "error-poison", encode_error_details(ErrorDetails::poison("ActivityExecute", 5, 5)));
  OrchestrationStatus status;
  status.state = RuntimeState::Failed;
  status.error = failure;
  status.custom_status = "waiting";
  status.custom_status_version = 2;
  write("work_item", "status", encode_status(status));
}

// A list argument as one CLI word: its items joined by commas.
std::string list_word(const Json& items) {
  std::string word;
  for (const auto& item : items) word += (word.empty() ? "" : ",") + (item.is_string() ? item.get<std::string>() : item.dump());
  return word;
}

// One seed per command of the table, with arguments naming the sample database's instances.
void command_seeds() {
  for (const auto& command : commands()) {
    Json args = Json::object();
    std::vector<std::string> words = {command.name};
    for (const auto& spec : command.args) {
      if (!spec.required && spec.type != ArgType::Filter) continue;
      Json value;
      switch (spec.type) {
        case ArgType::String: value = spec.name == "instance" ? "sample-Approval" : spec.name == "orchestration" ? "HelloWorld" : "Approve"; break;
        case ArgType::Integer: value = spec.min > 0 ? spec.min : 1; break;
        case ArgType::StringList: value = Json::array({"sample-HelloWorld", "sample-Approval"}); break;
        case ArgType::IntegerList: value = Json::array({1, 2}); break;
        case ArgType::Filter: value = Json{{"states", {"Running"}}, {"prefix", "sample-"}}; break;
        case ArgType::Document: value = "{\"format\":0}"; break;
        default: value = spec.fallback;
      }
      args[spec.name] = value;
      if (spec.type == ArgType::Filter) {
        words.insert(words.end(), {"--status", "Running", "--prefix", "sample-"});
      } else {
        if (!spec.positional) words.push_back("--" + kebab_case(spec.name));
        words.push_back(value.is_string() ? value.get<std::string>() : value.is_array() ? list_word(value) : value.dump());
      }
    }
    write("commands", command.name, command.name + "\n" + args.dump());
    // Every integer argument at both ends of its range, the rest as above.
    for (const auto& spec : command.args) {
      if (spec.type != ArgType::Integer) continue;
      for (const std::int64_t value : {spec.min, spec.max}) {
        Json edge = args;
        edge[spec.name] = value;
        write("commands", command.name + "-" + spec.name + "-" + (value == spec.min ? "min" : "max"),
              command.name + "\n" + edge.dump());
      }
    }
    words.insert(words.end(), {"--db", "store.db"});
    std::string argv;
    for (const auto& word : words) argv += word + '\0';
    write("cli", command.name, argv);
  }
  write("cli", "run", std::string("run\0HelloWorld\0Ada\0--id\0h1\0--timeout-ms\0100\0", 41));
  static const char kServe[] = "serve\0--db\0app.db\0--replay-versions\0" "0.0.0..0.1.0,2.0.0..2.9.9";
  write("cli", "serve", std::string(kServe, sizeof kServe));  // the words, each ended by a NUL
}

// The database target's inputs: mode byte, pick byte (even: inspect, odd: run), then flips
// (mode 1) or edits (mode 2).
void database_seeds() {
  write("database", "flip-header", std::string("\x01\x00\x10\x00\x00\xff", 6));
  write("database", "flip-page-2", std::string("\x01\x03\x00\x10\x00\x01", 6));
  const auto edit = [](std::uint8_t operation, std::uint8_t table, const std::string& rest) {
    return std::string(1, static_cast<char>(operation)) + static_cast<char>(table) + rest;
  };
  // Table indexes are in name order: activity_stats, changes, executions, history,
  // instance_counts, instance_locks, instances, kv_values, metric_buckets,
  // orchestrator_queue, parked_messages, worker_queue.
  const std::string event = R"({"event_id":2,"timestamp_ms":1,"kind":"TimerFired","fire_at_ms":5})";
  write("database", "history-cell", std::string("\x02\x00", 2) + edit(0, 3, std::string("\x05\x03", 2) + static_cast<char>(event.size()) + event + '\x01'));
  write("database", "status-cell", std::string("\x02\x01", 2) + edit(0, 6, std::string("\x04\x03\x07", 3) + "Unknown" + '\x00'));
  write("database", "delete-history-row", std::string("\x02\x02", 2) + edit(1, 3, std::string("\x02", 1)));
  write("database", "schema-version", std::string("\x02\x00", 2) + edit(3, 0, std::string("\x63\x00\x00\x00", 4)));
  write("database", "drop", std::string("\x02\x00", 2) + edit(4, 0, std::string("\x05", 1)));
  write("database", "empty", std::string("\x00\x00", 2));
  // Queue rows whose items name work that was never scheduled (table 9: orchestrator_queue,
  // column 3: item_json; its rows: LongTimer's timer, a queued start, a queued message),
  // run by the runtime.
  const std::vector<std::pair<std::string, std::string>> items = {
      {"completion-unknown-id", R"({"kind":"ActivityCompleted","instance":"sample-Mailbox","execution_id":1,"id":2,"result":"x"})"},
      {"timer-for-an-activity", R"({"kind":"TimerFired","instance":"sample-LongTimer","execution_id":1,"id":1,"fire_at_ms":0})"},
      {"completion-old-execution", R"({"kind":"ActivityCompleted","instance":"sample-Counter","execution_id":9,"id":2,"result":"1"})"},
      {"child-not-scheduled", R"({"kind":"SubOrchestrationCompleted","parent_instance":"sample-Mailbox","parent_id":2,"child_instance":"c","result":"x"})"},
  };
  for (const auto& [name, item] : items) {
    for (char row = 0; row < 3; ++row) {
      write("database", "queue-" + name + "-" + std::to_string(row),
            std::string("\x02\x01", 2) + edit(0, 9, std::string("\x03\x03", 2) + static_cast<char>(item.size()) + item + row));
    }
  }
}

std::set<std::string> codec_words() {
  std::set<std::string> words = {"{", "}", "[", "]", ":", ",", "\"", "null", "true", "false", "0", "-1",
                                 "18446744073709551615", "9223372036854775808", "1e400", "\\u0000", "\\ud800",
                                 "999999999.999999999.999999999"};
  for (const char* field : {"event_id", "source_event_id", "timestamp_ms", "kind", "name", "version", "input",
                            "output", "result", "error", "category", "message", "resource", "retryable",
                            "attempt_count", "max_attempts", "fire_at_ms", "data", "instance", "reason", "status",
                            "key", "value", "updated_at_ms", "kv", "parent_instance", "parent_id",
                            "carried_messages", "uncarried_messages", "custom_status", "execution_id", "id",
                            "orchestration", "queue", "child_instance", "carried", "uncarried", "state",
                            "custom_status_version", "duroxide_version", "guid_seed", "tag", "session_id", "next_start"}) {
    words.insert("\"" + std::string(field) + "\"");
  }
  for (std::size_t i = 0; i < std::variant_size_v<EventData>; ++i) {
    words.insert("\"" + std::string(to_string(static_cast<EventKind>(i))) + "\"");
  }
  for (std::size_t i = 0; i < std::variant_size_v<WorkItem>; ++i) {
    words.insert("\"" + std::string(to_string(static_cast<WorkItemKind>(i))) + "\"");
  }
  for (const char* word : {"activity_failed", "orchestration_failed", "cancelled", "provider", "history_corrupted",
                           "nondeterminism", "unregistered_orchestration", "unregistered_activity", "poison",
                           "application", "infrastructure", "configuration",
                           "Running", "Completed", "Failed", "NotFound", "QueueMessage", "ExternalRaised"}) {
    words.insert("\"" + std::string(word) + "\"");
  }
  return words;
}

void dictionaries() {
  const std::set<std::string> codec = codec_words();
  std::set<std::string> exports = codec;
  for (const char* field : {"format", "executions", "history", "orchestration_name", "orchestration_version",
                            "current_execution_id", "parent_instance", "created_at_ms", "updated_at_ms",
                            "continued_as_new", "started_at_ms", "completed_at_ms"}) {
    exports.insert("\"" + std::string(field) + "\"");
  }
  std::set<std::string> table = {"{", "}", "[", "]", "\n", "null", "true", "false", "-1", "0", "sample-",
                                 "sample-Approval", "\"Running\"", "\"Completed\"", "\"Failed\""};
  std::set<std::string> cli = {"--db", "--format", "csv", "json", "--read-only", "--status", "--name", "--version",
                               "--prefix", "--parent", "--roots", "--created-from", "--created-to",
                               "--updated-from", "--updated-to", "--ready-work-before", "--timeout-ms", "--id", "--execution",
                               "--prometheus", "run", "resume", "replay", "samples", "stats", "metrics", ",",
                               "serve", "--replay-versions", "any", "..", "0.0.0..0.1.0"};
  for (const auto& command : commands()) {
    table.insert(command.name);
    cli.insert(command.name);
    for (const auto& alias : command.cli_aliases) cli.insert(alias);
    for (const auto& spec : command.args) {
      table.insert("\"" + spec.name + "\"");
      cli.insert("--" + kebab_case(spec.name));
      for (const auto& choice : spec.choices) {
        table.insert("\"" + choice + "\"");
        cli.insert(choice);
      }
    }
  }
  for (const char* field : {"states", "rootsOnly", "createdFromMs", "createdToMs", "updatedFromMs", "updatedToMs",
                            "readyWorkBeforeMs", "prefix", "parent", "contains", "tenant"}) {
    table.insert("\"" + std::string(field) + "\"");
  }
  write_dictionary("json", {"{", "}", "[", "]", ":", ",", "\"", "null", "true", "false", "-0", "1e400", "1.5e-7",
                            "\\u0000", "\\ud800\\udc00", "\\ud800", "\\\"", "18446744073709551616"});
  write_dictionary("history", codec);
  write_dictionary("work_item", codec);
  write_dictionary("replay", exports);
  write_dictionary("import", exports);
  write_dictionary("commands", table);
  write_dictionary("cli", cli);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_seeds <the fuzz/ folder>\n";
    return 2;
  }
  root = argv[1];
  // Inputs that once broke a target (regression-*) stay; the rest is written afresh.
  for (const auto& folder : {root / "corpus", root / "dict"}) {
    if (!fs::exists(folder)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(folder)) {
      if (entry.is_regular_file() && entry.path().filename().string().rfind("regression-", 0) != 0) fs::remove(entry.path());
    }
  }
  fuzz::Host host(fuzz::sample_database());
  history_seeds(host);
  export_seeds(host);
  work_item_seeds();
  command_seeds();
  database_seeds();
  write("json", "nested-16", std::string(15, '[') + std::string(15, ']'));
  write("json", "values", R"({"a":[1,-2,3.25,true,false,null,"é\n\u0000"],"b":{}})");
  dictionaries();
  std::cout << "fuzz_seeds: the sample database is " << fuzz::sample_database().size() << " bytes\n";
  std::cout << "fuzz_seeds: wrote " << (root / "corpus").string() << " and " << (root / "dict").string() << "\n";
  return 0;
}
