// The command table (core/hosts/include/duroxide/commands.hpp): its schema checks, its handlers'
// JSON, and that no argument value makes a command fail other than with a typed error.
#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>
#include <set>

#include "duroxide/samples.hpp"
#include "duroxide/commands.hpp"
#include "step_host.hpp"

using namespace duroxide;
using Json = nlohmann::json;

namespace {

Registry catalog() {
  Registry registry;
  samples::register_all(registry);
  return registry;
}

struct Host : testing::StepHost {
  Host() : StepHost(catalog()) {}
  Json run(const std::string& name, const Json& args = Json::object()) {
    Clients clients{client, management, pacer};
    return run_command(name, args, clients);
  }
};

std::string invalid_message(const std::string& name, const Json& args) {
  Host host;
  try {
    host.run(name, args);
  } catch (const CommandError& error) {
    CHECK(error.kind() == CommandError::Kind::InvalidInput);
    return error.what();
  }
  FAIL("no CommandError for " << name << " " << args.dump());
  return {};
}

}  // namespace

TEST_CASE("every row of the table is complete and its names are consistent", "[commands]") {
  std::set<std::string> names;
  for (const auto& command : commands()) {
    INFO(command.name);
    CHECK(names.insert(command.name).second);
    CHECK(command.handler != nullptr);
    CHECK(!command.help.empty());
    CHECK(!command.returns.empty());
    CHECK(kebab_case(camel_case(command.name)) == command.name);
    CHECK(find_command(command.name) == &command);
    for (const auto& alias : command.cli_aliases) CHECK(find_command(alias) == &command);
    for (const auto& arg : command.args) {
      INFO(arg.name);
      CHECK(!arg.help.empty());
      CHECK(camel_case(kebab_case(arg.name)) == arg.name);
      if (arg.type == ArgType::Integer) CHECK(arg.min <= arg.max);
      if (arg.type == ArgType::String || arg.type == ArgType::StringList || arg.type == ArgType::IntegerList ||
          arg.type == ArgType::Document) {
        CHECK(arg.max > 0);  // every input has a limit
      }
    }
  }
  CHECK(commands().size() == 50);  // one row per RuntimeClient and ManagementClient operation
  const Json table = commands_json();
  REQUIRE(table.size() == commands().size());
  CHECK(table[0]["method"] == camel_case(commands()[0].name));
}

TEST_CASE("arguments are checked against the schema before the handler runs", "[commands]") {
  Host host;
  SECTION("unknown commands, and CLI aliases, are UnknownCommand") {
    for (const char* name : {"no-such-command", "status", ""}) {
      try {
        host.run(name);
        FAIL("ran " << name);
      } catch (const CommandError& error) {
        CHECK(error.kind() == CommandError::Kind::UnknownCommand);
        CHECK(std::string(error.kind_name()) == "UnknownCommand");
      }
    }
  }
  SECTION("each kind of bad argument names the argument") {
    CHECK(invalid_message("get-status", Json::array()) == "get-status: the arguments must be a JSON object");
    CHECK(invalid_message("get-status", Json::object()) == "get-status needs instance (the instance id)");
    CHECK(invalid_message("get-status", {{"instance", "x"}, {"extra", 1}}) == "get-status has no argument extra");
    CHECK(invalid_message("get-status", {{"instance", 7}}) == "instance must be a string");
    CHECK(invalid_message("list-instances", {{"limit", 0}}) == "limit must be 1 to 1000, got 0");
    CHECK(invalid_message("list-instances", {{"limit", 1.5}}) == "limit must be an integer, got 1.5");
    CHECK(invalid_message("watch-metrics", {{"cursor", -1}}).rfind("cursor must be 0 to", 0) == 0);
    CHECK(invalid_message("watch-metrics", {{"cursor", 18446744073709551615ull}}).find("over the limit") != std::string::npos);
    CHECK(invalid_message("wait-for-orchestration", {{"instance", "x"}, {"timeoutMs", 86'400'001}}) ==
          "timeoutMs must be 0 to 86400000, got 86400001");
    CHECK(invalid_message("delete-instance", {{"instance", "x"}, {"force", "yes"}}) == "force must be true or false");
    CHECK(invalid_message("get-time-series", {{"bucket", "day"}}) == "bucket takes minute, hour, got \"day\"");
    CHECK(invalid_message("get-bulk-status", {{"instances", "a,b"}}) == "instances must be an array of strings");
    CHECK(invalid_message("get-bulk-status", {{"instances", Json::array({"a", 1})}}) == "instances must be an array of strings");
    CHECK(invalid_message("get-bulk-status", {{"instances", std::vector<std::string>(1001, "a")}}) ==
          "instances has 1001 items, over the limit of 1000");
    CHECK(invalid_message("start-orchestration", {{"instance", "a"}, {"orchestration", "HelloWorld"},
                                                  {"input", std::string(limits::kMaxPayloadBytes + 1, 'x')}})
              .find("over the limit of 262144") != std::string::npos);
    // Ids and names at their own limits, as the clients check them.
    CHECK(invalid_message("get-status", {{"instance", std::string(limits::kMaxIdentifierBytes + 1, 'x')}}) ==
          "instance is 257 bytes, over the limit of 256");
    CHECK(invalid_message("raise-event", {{"instance", "a"}, {"event", std::string(limits::kMaxNameBytes + 1, 'e')}}) ==
          "event is 257 bytes, over the limit of 256");
    CHECK(invalid_message("list-instances", {{"filter", {{"bogus", 1}}}}) == "filter.bogus is not a filter field");
    CHECK(invalid_message("list-instances", {{"filter", {{"states", {"Sleeping"}}}}}) ==
          "filter.states takes Running, Completed or Failed, got \"Sleeping\"");
    CHECK(invalid_message("list-instances", {{"filter", {{"createdFromMs", -5}}}}).find("non-negative") != std::string::npos);
    CHECK(invalid_message("import-instance", {{"data", 5}}) == "data must be a JSON object or its text");
  }
  SECTION("durations take ms or whole units, and are checked as ms") {
    const Command& purge = *find_command("purge-completed");
    const Command& wait = *find_command("wait-for-orchestration");
    CHECK(checked_args(purge, {{"olderThanMs", "7d"}})["olderThanMs"] == 604'800'000);
    CHECK(checked_args(purge, {{"olderThanMs", "1h30m"}})["olderThanMs"] == 5'400'000);
    CHECK(checked_args(purge, {{"olderThanMs", "45s500ms"}})["olderThanMs"] == 45'500);
    CHECK(checked_args(purge, {{"olderThanMs", "90"}})["olderThanMs"] == 90);
    CHECK(checked_args(purge, {{"olderThanMs", 0}})["olderThanMs"] == 0);
    CHECK(checked_args(wait, {{"instance", "x"}, {"timeoutMs", "2m"}})["timeoutMs"] == 120'000);
    const std::string form = "olderThanMs must be a duration in ms or whole units (7d, 12h, 1h30m, 45s, 500ms), got ";
    for (const char* bad : {"", "-1d", "7x", "1h30", "d", "1.5h", "7 d", "1e3"}) {
      CHECK(invalid_message("purge-completed", {{"olderThanMs", bad}}) == form + Json(bad).dump());
    }
    CHECK(invalid_message("purge-completed", {{"olderThanMs", -1}}).rfind("olderThanMs must be 0 to", 0) == 0);
    CHECK(invalid_message("purge-completed", {{"olderThanMs", "999999999999999d"}}).find("over the limit") !=
          std::string::npos);
    CHECK(invalid_message("wait-for-orchestration", {{"instance", "x"}, {"timeoutMs", "2d"}}) ==
          "timeoutMs must be 0 to 86400000, got 172800000");
    // Purging every finished instance takes an explicit 0.
    CHECK(invalid_message("purge-completed", Json::object()).rfind("purge-completed needs olderThanMs", 0) == 0);
  }
  SECTION("defaults are filled in and null counts as absent") {
    const Command& list = *find_command("list-instances");
    const Json args = checked_args(list, {{"cursor", nullptr}});
    CHECK(args == Json{{"filter", Json::object()}, {"cursor", ""}, {"limit", 50}, {"sort", "created-desc"}});
    CHECK(checked_args(*find_command("get-time-series"), Json::object()) ==
          Json{{"metric", "all"}, {"orchestration", ""}, {"bucket", "minute"}});
  }
}

TEST_CASE("commands run the clients and return the json_views shapes", "[commands]") {
  Host host;
  CHECK(host.run("start-orchestration", {{"instance", "h"}, {"orchestration", "HelloWorld"}, {"input", "Ada"}}) == "h");
  const Json status = host.run("wait-for-orchestration", {{"instance", "h"}, {"timeoutMs", 1000}});
  CHECK(status["status"] == "Completed");
  CHECK(status["output"] == "Hi, Ada!");
  CHECK(host.run("get-status", {{"instance", "h"}}) == status);
  CHECK(host.run("get-status", {{"instance", "ghost"}})["status"] == "NotFound");

  host.run("start-orchestration", {{"instance", "a"}, {"orchestration", "Approval"}, {"input", R"({"timeout_ms":600000})"}});
  host.driver.run_until_idle();
  CHECK(host.run("raise-event", {{"instance", "a"}, {"event", "Approve"}, {"data", "yes"}}).is_null());
  CHECK(host.run("wait-for-instances", {{"instances", {"a", "h"}}})[0]["output"] == "approved:yes");
  CHECK(host.run("cancel-instance", {{"instance", "a"}}) == false);  // already finished

  const Json stats = host.run("get-orchestration-stats", {{"name", "HelloWorld"}});
  REQUIRE(stats.size() == 1);
  CHECK(stats[0]["name"] == "HelloWorld");
  CHECK(stats[0]["completed"] == 1);
  CHECK(host.run("get-performance-metrics", {{"name", "HelloWorld"}})["count"] == 1);
  CHECK(host.run("count-by-status") == Json{{"Completed", 2}, {"Failed", 0}, {"Running", 0}});
  CHECK(host.run("count-instances", {{"filter", {{"name", "Approval"}}}}) == 1);
  CHECK(host.run("list-instances", {{"limit", 1}})["next_cursor"] != "");
  CHECK(host.run("get-execution-info", {{"instance", "h"}, {"execution", 2}}).is_null());
  CHECK(host.run("read-execution", {{"instance", "h"}, {"kinds", {"OrchestrationStarted"}}}).size() == 1);
  CHECK(host.run("get-system-metrics")["total_instances"] == 2);

  const Json exported = host.run("export-instance", {{"instance", "h"}});
  CHECK(host.run("delete-instance", {{"instance", "h"}})["instances"] == 1);
  CHECK(host.run("import-instance", {{"data", exported}}) == "h");           // as an object
  CHECK(host.run("delete-instance", {{"instance", "h"}})["instances"] == 1);
  CHECK(host.run("import-instance", {{"data", exported.dump()}}) == "h");    // or as its text
  try {
    host.run("import-instance", {{"data", exported}});
    FAIL("imported twice");
  } catch (const ClientError& error) {
    CHECK(error.kind() == ClientError::Kind::AlreadyExists);
  }
  // "now" is the host's clock: purge cuts at now - olderThanMs.
  host.clock.advance(10'000);
  CHECK(host.run("purge-completed", {{"olderThanMs", 20'000}})["instances"] == 0);
  CHECK(host.run("purge-completed", {{"olderThanMs", 5'000}})["instances"] == 2);
  const Json series = host.run("get-time-series", {{"metric", "starts"}});
  CHECK(series["points"].size() == 60);
  CHECK(series["to_ms"].get<std::int64_t>() > host.clock.now_ms());
}

TEST_CASE("no argument value makes a command fail other than with a typed error", "[commands]") {
  const std::vector<Json> values = {nullptr, true, -1, 0, 1, 1.5, 9'223'372'036'854'775'807LL, "", "x", "\xff\xfe",
                                    std::string(300 * 1024, 'y'), Json::array(), Json::array({"a", 2}),
                                    Json::object(), Json{{"states", {"Running"}}}, Json{{"rootsOnly", 1}}};
  for (const auto& command : commands()) {
    for (const auto& arg : command.args) {
      for (const auto& value : values) {
        Host host;
        host.run("start-orchestration", {{"instance", "x"}, {"orchestration", "LongTimer"}});
        host.driver.run_until_idle();
        Json args{{arg.name, value}};
        for (const auto& other : command.args) {
          if (other.required && other.name != arg.name) args[other.name] = other.type == ArgType::Integer ? Json(1) : Json("x");
        }
        if (command.name.rfind("wait", 0) == 0 && !args.contains("timeoutMs")) args["timeoutMs"] = 100;
        INFO(command.name << " " << args.dump(-1, ' ', false, Json::error_handler_t::replace));
        try {
          host.run(command.name, args);
        } catch (const CommandError&) {
        } catch (const ClientError&) {
        }
      }
    }
  }
}

TEST_CASE("run_command_text reads the arguments within the codec's limits", "[commands]") {
  Host host;
  Clients clients{host.client, host.management, host.pacer};
  CHECK(run_command_text("count-instances", "", clients) == 0);
  CHECK(run_command_text("count-instances", R"({"filter":{"states":["Running"]}})", clients) == 0);
  const auto invalid = [&](const std::string& text) -> std::string {
    try {
      run_command_text("count-instances", text, clients);
    } catch (const CommandError& error) {
      CHECK(error.kind() == CommandError::Kind::InvalidInput);
      return error.what();
    }
    FAIL("no CommandError for " << text.substr(0, 80));
    return {};
  };
  CHECK_THAT(invalid("{not json"), Catch::Contains("count-instances arguments: invalid JSON at byte 3"));
  const std::string deep = R"({"filter":{"states":)" + std::string(10'000, '[') + std::string(10'000, ']') + "}}";
  CHECK_THAT(invalid(deep), Catch::Contains("nested deeper than 16 levels"));
  CHECK_THAT(invalid(R"({"filter":{"createdFromMs":1e400}})"), Catch::Contains("number out of range"));
  CHECK_THAT(invalid("[]"), Catch::Contains("the arguments must be a JSON object"));
}

TEST_CASE("a paged command's row takes a continuation, and its walk merges every page", "[commands][bulk]") {
  for (const auto& command : commands()) {
    INFO(command.name);
    const bool takes = std::any_of(command.args.begin(), command.args.end(),
                                   [](const ArgSpec& arg) { return arg.name == "continuation"; });
    CHECK(takes == command.paged);
  }
  Host host;
  for (int i = 0; i < 5; ++i) host.client.start_orchestration("p-" + std::to_string(i), "LongTimer", "");
  host.client.start_orchestration("done", "HelloWorld", "Ada");
  host.driver.run_until_idle();
  Clients clients{host.client, host.management, host.pacer};
  std::vector<std::int64_t> progress;
  const Json total = run_command_pages(
      "cancel-instances", {{"filter", {{"prefix", "p-"}}}, {"batch", 2}, {"reason", "r"}}, clients,
      [&](const Json& so_far) { progress.push_back(so_far.at("succeeded").get<std::int64_t>()); });
  CHECK(progress == std::vector<std::int64_t>{2, 4, 5});
  CHECK(total.at("pages") == 3);
  CHECK(total.at("failed") == 0);
  CHECK(total.at("failures").empty());
  CHECK(total.at("continuation") == "");
  // Failed items are kept as failures; the rest only count.
  const Json by_ids = run_command_pages("cancel-instances", {{"instances", {"done", "ghost"}}}, clients);
  CHECK(by_ids.at("failed") == 2);
  REQUIRE(by_ids.at("failures").size() == 2);
  CHECK(by_ids.at("failures")[0].at("instance") == "done");
  // A command without pages runs once.
  CHECK(run_command_pages("count-instances", Json::object(), clients) == 6);
}

TEST_CASE("merge_page adds numbers, joins lists and keeps the latest continuation", "[commands][bulk]") {
  Json total;
  merge_page(total, {{"instances", 2}, {"denied", {"a"}}, {"continuation", "c1"}, {"dry_run", true}});
  merge_page(total, {{"instances", 3}, {"denied", {"b"}}, {"continuation", ""}, {"dry_run", true}});
  CHECK(total == Json{{"pages", 2}, {"instances", 5}, {"denied", {"a", "b"}}, {"continuation", ""}, {"dry_run", true}});
  CHECK_THROWS_AS(merge_page(total, Json::array()), CommandError);
}

TEST_CASE("list-parked-messages and delete-parked-messages: what the store parked, seen and deleted by id",
          "[commands][parked]") {
  Host host;
  testing::ProviderUnderTest& f = *host.under;
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"ghost", "Approve", "yes"}, 0);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"ghost", "Approve", "again"}, 0);
  CHECK_FALSE(f.provider().fetch_orchestration_item(30'000).has_value());  // parks both

  const Json parked = host.run("list-parked-messages");
  REQUIRE(parked.size() == 2);
  CHECK(parked[0]["instance"] == "ghost");
  CHECK(parked[0]["reason"] == "instance does not exist");
  CHECK(parked[0]["parked_at_ms"] == f.clock.now_ms());
  CHECK(decode_work_item(parked[0]["item"].get<std::string>()) == WorkItem{work::ExternalRaised{"ghost", "Approve", "yes"}});
  const std::int64_t first = parked[0]["id"].get<std::int64_t>();
  CHECK(host.run("list-parked-messages", {{"afterId", first}}) == Json::array({parked[1]}));
  CHECK(host.run("list-parked-messages", {{"limit", 1}}) == Json::array({parked[0]}));

  CHECK(host.run("delete-parked-messages", {{"ids", {first, first + 1000}}}) == Json{{"deleted", 1}});
  CHECK(host.run("list-parked-messages") == Json::array({parked[1]}));
  // Ids are positive integers, at most 1000 of them.
  CHECK(invalid_message("delete-parked-messages", {{"ids", {"1"}}}).find("ids item must be an integer") !=
        std::string::npos);
  CHECK(invalid_message("delete-parked-messages", {{"ids", {0}}}).find("ids item must be 1 to") != std::string::npos);
  CHECK(invalid_message("delete-parked-messages", {{"ids", 5}}).find("array of integers") != std::string::npos);
  for (const Json& bad : {Json(1.5), Json(-1), Json(std::numeric_limits<std::uint64_t>::max()), Json(true)}) {
    INFO(bad.dump());
    CHECK(invalid_message("delete-parked-messages", {{"ids", Json::array({bad})}}).find("ids item") != std::string::npos);
  }
  CHECK(invalid_message("delete-parked-messages", {{"ids", Json(std::vector<int>(1001, 1))}}).find("over the limit") !=
        std::string::npos);
  CHECK(invalid_message("list-parked-messages", {{"limit", 1001}}).find("limit") != std::string::npos);
  CHECK(host.run("list-parked-messages").size() == 1);  // the refused calls deleted nothing
}

TEST_CASE("list-sessions: the sessions a store keeps, paged by id", "[commands][sessions]") {
  Host host;
  testing::ProviderUnderTest& f = *host.under;
  testing::create_instance(f, "i");
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{"i", "go", ""}, 0);
  OrchestrationItem item = testing::fetch(f);
  OrchestrationAck ack;
  ack.history_delta = {Event{2, 0, 0, events::ActivityScheduled{"Act", "in", "", "s1"}}};
  ack.worker_items = {work::ActivityExecute{"i", 1, 2, "Act", "in", "", "s1"}};
  ack.metadata = testing::metadata();
  f.provider().ack_orchestration_item(item.lock_token, ack);
  CHECK(host.run("list-sessions") == Json::array());
  const SessionFetch owner{"node-a", 10'000};
  REQUIRE(f.provider().fetch_work_item(30'000, TagFilter{}, &owner).has_value());

  const Json sessions = host.run("list-sessions");
  REQUIRE(sessions.size() == 1);
  CHECK(sessions[0] == Json{{"session_id", "s1"},
                            {"owner_id", "node-a"},
                            {"locked_until_ms", f.clock.now_ms() + 10'000},
                            {"claimed_at_ms", f.clock.now_ms()},
                            {"held", true},
                            {"queued_items", 1}});
  CHECK(host.run("list-sessions", {{"after", "s1"}}) == Json::array());
  CHECK(invalid_message("list-sessions", {{"limit", 0}}).find("limit") != std::string::npos);
}

