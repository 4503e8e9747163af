#include "duroxide/samples.hpp"

#include <nlohmann/json.hpp>
#include <limits>
#include <stdexcept>

#include "duroxide/orchestration_context.hpp"

namespace duroxide::samples {

namespace {

using Json = nlohmann::json;

// Parses a sample's JSON input; a bad input fails the orchestration with a message
// that names the sample and what was expected.
Json parse_input(const std::string& sample, const std::string& input, const char* expected) {
  Json value = Json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    throw std::invalid_argument(sample + ": input is not JSON (expected " + expected + ")");
  }
  return value;
}

std::int64_t integer_field(const std::string& sample, const Json& object, const char* key) {
  if (!object.is_object() || !object.contains(key) || !object[key].is_number_integer()) {
    throw std::invalid_argument(sample + ": input needs an integer \"" + key + "\"");
  }
  return object[key].get<std::int64_t>();
}

std::vector<std::string> names_field(const std::string& sample, const std::string& input) {
  Json value = parse_input(sample, input, "a JSON array of names");
  if (!value.is_array()) throw std::invalid_argument(sample + ": input must be a JSON array");
  std::vector<std::string> names;
  for (const auto& item : value) {
    if (!item.is_string()) throw std::invalid_argument(sample + ": every name must be a string");
    names.push_back(item.get<std::string>());
  }
  return names;
}

Task<std::string> hello_world(OrchestrationContext& ctx, std::string name) {
  co_return co_await ctx.schedule_activity("Hello", name);
}

Task<std::string> hello_world_v2(OrchestrationContext&, std::string name) {
  co_return "Hi, " + name + "!";
}

// Joins the futures and returns their results as a JSON array in input order;
// the first failure fails the whole.
Task<std::string> join_as_json_array(OrchestrationContext& ctx,
                                     std::vector<DurableFuture> futures) {
  Json out = Json::array();
  for (const auto& result : co_await ctx.join(std::move(futures))) out.push_back(result.get());
  co_return out.dump();
}

Task<std::string> fan_out_fan_in(OrchestrationContext& ctx, std::string input) {
  std::vector<DurableFuture> greetings;
  for (auto& name : names_field("FanOutFanIn", input)) {
    greetings.push_back(ctx.schedule_activity("Hello", name));
  }
  co_return co_await join_as_json_array(ctx, std::move(greetings));
}

Task<std::string> chain(OrchestrationContext& ctx, std::string input) {
  Json value = parse_input("Chain", input, R"({"steps":N,"value":V})");
  std::int64_t steps = integer_field("Chain", value, "steps");
  std::int64_t current = integer_field("Chain", value, "value");
  if (steps < 0 || steps > 1000) throw std::invalid_argument("Chain: steps must be 0 to 1000");
  for (std::int64_t i = 0; i < steps; ++i) {
    current = std::stoll(co_await ctx.schedule_activity("AddOne", std::to_string(current)));
  }
  co_return std::to_string(current);
}

Task<std::string> approval(OrchestrationContext& ctx, std::string input) {
  Json value = parse_input("Approval", input, R"({"timeout_ms":T})");
  std::int64_t timeout = integer_field("Approval", value, "timeout_ms");
  auto winner =
      co_await ctx.select(ctx.schedule_wait("Approve"), ctx.schedule_timer(timeout));
  if (winner.index == 0) co_return "approved:" + winner.result.value;
  co_return "timeout";
}

Task<std::string> counter(OrchestrationContext& ctx, std::string input) {
  Json value = parse_input("Counter", input, R"({"count":C,"limit":L})");
  std::int64_t count = integer_field("Counter", value, "count");
  std::int64_t limit = integer_field("Counter", value, "limit");
  if (count >= limit) co_return std::to_string(limit);
  std::string next = co_await ctx.schedule_activity("AddOne", std::to_string(count));
  // Built outside the co_await: g++ 12 rejects braced lists of literals inside one.
  std::string next_input = Json{{"count", std::stoll(next)}, {"limit", limit}}.dump();
  co_await ctx.continue_as_new(std::move(next_input));
  co_return "";  // not reached: continue_as_new ends this execution
}

Task<std::string> parent(OrchestrationContext& ctx, std::string input) {
  std::vector<DurableFuture> children;
  for (auto& name : names_field("Parent", input)) {
    children.push_back(ctx.schedule_sub_orchestration("HelloWorld", name));
  }
  co_return co_await join_as_json_array(ctx, std::move(children));
}

Task<std::string> retry_flaky(OrchestrationContext& ctx, std::string input) {
  Json value = parse_input("RetryFlaky", input, R"({"fail_times":K,"max_attempts":M})");
  std::int64_t fail_times = integer_field("RetryFlaky", value, "fail_times");
  std::int64_t max_attempts = integer_field("RetryFlaky", value, "max_attempts");
  if (max_attempts < 1 || max_attempts > 100) {
    throw std::invalid_argument("RetryFlaky: max_attempts must be 1 to 100");
  }
  RetryPolicy policy{static_cast<std::uint32_t>(max_attempts), RetryPolicy::Backoff::Fixed, 10,
                     10, 0};
  // The attempt number travels in the input, so the outcome is the same on
  // every node and after every crash.
  co_await ctx.schedule_activity_with_retry(
      "Flaky",
      [fail_times](std::uint32_t attempt) {
        return Json{{"fail_times", fail_times}, {"attempt", attempt}}.dump();
      },
      policy);
  co_return "ok after " + std::to_string(fail_times) + " failures";
}

Task<std::string> saga(OrchestrationContext& ctx, std::string input) {
  Json value = parse_input("Saga", input, R"({"amount":A,"fail_credit":B})");
  std::int64_t amount = integer_field("Saga", value, "amount");
  bool fail_credit = value.contains("fail_credit") && value["fail_credit"].is_boolean() &&
                     value["fail_credit"].get<bool>();
  std::string amount_text = std::to_string(amount);
  co_await ctx.schedule_activity("Debit", amount_text);
  bool compensated = false;
  std::string credit_input = Json{{"amount", amount}, {"fail", fail_credit}}.dump();
  try {
    co_await ctx.schedule_activity("Credit", std::move(credit_input));
  } catch (const TaskFailed&) {
    compensated = true;  // co_await is not allowed in a handler: compensate below
  }
  if (!compensated) co_return "committed";
  co_await ctx.schedule_activity("Refund", amount_text);
  co_return "compensated";
}

Task<std::string> mailbox(OrchestrationContext& ctx, std::string input) {
  Json value = parse_input("Mailbox", input, R"({"messages":N})");
  std::int64_t count = integer_field("Mailbox", value, "messages");
  if (count < 0 || count > 1000) throw std::invalid_argument("Mailbox: messages must be 0 to 1000");
  std::string joined;
  for (std::int64_t i = 0; i < count; ++i) {
    std::string message = co_await ctx.dequeue_event("inbox");
    joined += (i ? "," : "") + message;
  }
  co_return joined;
}

Task<std::string> long_timer(OrchestrationContext& ctx, std::string) {
  ctx.set_custom_status("waiting");
  co_await ctx.schedule_timer(3'600'000);
  co_return "done";
}

Task<std::string> fails(OrchestrationContext& ctx, std::string error) {
  co_return co_await ctx.schedule_activity("Fail", error);
}

std::string flaky(ActivityContext&, const std::string& input) {
  Json value = parse_input("Flaky", input, R"({"fail_times":K,"attempt":N})");
  std::int64_t attempt = integer_field("Flaky", value, "attempt");
  if (attempt <= integer_field("Flaky", value, "fail_times")) {
    throw std::runtime_error("flaky failure " + std::to_string(attempt));
  }
  return "ok";
}

std::string credit(ActivityContext&, const std::string& input) {
  Json value = parse_input("Credit", input, R"({"amount":A,"fail":B})");
  if (value.value("fail", false)) throw std::runtime_error("credit failed");
  return "ok";
}

}  // namespace

void register_all(Registry& registry) {
  registry.register_orchestration("HelloWorld", hello_world);
  registry.register_orchestration("HelloWorld", "2.0.0", hello_world_v2);
  registry.register_orchestration("FanOutFanIn", fan_out_fan_in);
  registry.register_orchestration("Chain", chain);
  registry.register_orchestration("Approval", approval);
  registry.register_orchestration("Counter", counter);
  registry.register_orchestration("Parent", parent);
  registry.register_orchestration("RetryFlaky", retry_flaky);
  registry.register_orchestration("Saga", saga);
  registry.register_orchestration("Mailbox", mailbox);
  registry.register_orchestration("LongTimer", long_timer);
  registry.register_orchestration("Fails", fails);

  registry.register_activity("Hello", [](ActivityContext&, const std::string& name) {
    return "Hello, " + name + "!";
  });
  registry.register_activity("AddOne", [](ActivityContext&, const std::string& n) {
    long long value = 0;
    try {
      value = std::stoll(n);
    } catch (const std::exception&) {
      throw std::invalid_argument("AddOne: \"" + n + "\" is not an integer");
    }
    if (value == std::numeric_limits<long long>::max()) {
      throw std::overflow_error("AddOne: " + n + " + 1 overflows a 64-bit integer");
    }
    return std::to_string(value + 1);
  });
  registry.register_activity("Flaky", flaky);
  auto ok = [](ActivityContext&, const std::string&) { return std::string("ok"); };
  registry.register_activity("Debit", ok);
  registry.register_activity("Credit", credit);
  registry.register_activity("Refund", ok);
  registry.register_activity("Fail", [](ActivityContext&, const std::string& error) -> std::string {
    throw std::runtime_error(error);
  });
}

const std::vector<SampleInfo>& catalog() {
  static const std::vector<SampleInfo> entries = {
      {"HelloWorld", "Ada", "one activity Hello(name)"},
      {"FanOutFanIn", R"(["a","b","c"])", "one Hello per name in parallel, joined"},
      {"Chain", R"({"steps":5,"value":10})", "N sequential AddOne activities"},
      {"Approval", R"({"timeout_ms":60000})", "waits for event Approve or a timer"},
      {"Counter", R"({"count":0,"limit":3})", "AddOne then continue-as-new until the limit"},
      {"Parent", R"(["a","b"])", "one HelloWorld sub-orchestration per name"},
      {"RetryFlaky", R"({"fail_times":2,"max_attempts":3})", "Flaky under a retry policy"},
      {"Saga", R"({"amount":10,"fail_credit":true})", "Debit, Credit, Refund on failure"},
      {"Mailbox", R"({"messages":2})", "dequeues N messages from queue inbox"},
      {"LongTimer", "", "custom status waiting, then a 1-hour timer"},
      {"Fails", "boom", "activity Fail(E), not caught"},
  };
  return entries;
}

}  // namespace duroxide::samples
