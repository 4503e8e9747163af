// The interpreter that runs a generated program as an orchestration on the
// unchanged engine, and the activities generated programs call.
#include <stdexcept>

#include "duroxide/limits.hpp"
#include "duroxide/orchestration_context.hpp"
#include "program.hpp"

namespace duroxide::sim::program {

namespace {

// An uncaught `fail` statement.
class ProgramFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Env {
  const Program* program;
  Shared* shared;
  std::uint32_t iteration;
};

void count(OrchestrationContext& ctx, Env& env, const std::string& construct) {
  if (!ctx.is_replaying()) ++env.shared->coverage[construct];
}

std::string call_input(const Program& program, const Stmt& stmt) {
  return stmt.fails ? "!fail:" + marker(program, stmt) : stmt.data;
}

DurableFuture leaf_future(OrchestrationContext& ctx, const Stmt& stmt, Env& env) {
  switch (stmt.kind) {
    case Kind::Call:
      if (stmt.session.empty()) return ctx.schedule_activity("GenEcho", call_input(*env.program, stmt));
      count(ctx, env, "call-on-session");
      return ctx.schedule_activity("GenEcho", call_input(*env.program, stmt), ActivityOptions::on_session(stmt.session));
    case Kind::Timer: return ctx.schedule_timer(stmt.ms);
    case Kind::Wait: return ctx.schedule_wait(stmt.name);
    case Kind::Dequeue: return ctx.dequeue_event(stmt.name);
    default: return ctx.schedule_sub_orchestration(stmt.child->name, initial_input());
  }
}

const char* leaf_construct(Kind kind) {
  switch (kind) {
    case Kind::Call: return "call";
    case Kind::Timer: return "timer";
    case Kind::Wait: return "wait";
    case Kind::Dequeue: return "dequeue";
    default: return "sub";
  }
}

std::string leaf_observation(const Stmt& stmt, const std::string& value) {
  const std::string id = std::to_string(stmt.id);
  switch (stmt.kind) {
    case Kind::Call: return "c" + id + "=" + value;
    case Kind::Timer: return "t" + id;
    case Kind::Wait: return "w" + id + "=" + short_value(value);
    case Kind::Dequeue: return "q" + id + "=" + short_value(value);
    default: return "s" + id + "=[" + value + "]";
  }
}

RetryPolicy retry_policy(const Stmt& stmt) {
  RetryPolicy policy;
  policy.max_attempts = stmt.attempts;
  const RetryPolicy::Backoff backoffs[] = {RetryPolicy::Backoff::Fixed, RetryPolicy::Backoff::Linear,
                                           RetryPolicy::Backoff::Exponential};
  policy.backoff = backoffs[stmt.id % 3];
  policy.initial_delay_ms = stmt.ms;
  policy.max_delay_ms = 10 * stmt.ms;
  return policy;
}

const char* payload_input(PayloadKind kind) {
  switch (kind) {
    case PayloadKind::Unicode: return "unicode";
    case PayloadKind::InvalidUtf8: return "invalid-utf8";
    case PayloadKind::AtLimit: return "at-limit";
    default: return "over-limit";
  }
}

Task<std::string> run_stmt(OrchestrationContext& ctx, const Stmt& stmt, Env& env);

Task<std::string> run_leaf(OrchestrationContext& ctx, const Stmt& stmt, Env& env) {
  count(ctx, env, leaf_construct(stmt.kind));
  DurableFuture future = leaf_future(ctx, stmt, env);
  try {
    std::string value = co_await std::move(future);
    co_return leaf_observation(stmt, value);
  } catch (const TaskFailed&) {
    count(ctx, env, stmt.kind == Kind::Sub ? "sub-failed" : "call-failed");
    throw;
  }
}

Task<std::string> run_group(OrchestrationContext& ctx, const Stmt& stmt, Env& env) {
  std::vector<DurableFuture> futures;
  for (const Stmt& arm : stmt.body) futures.push_back(leaf_future(ctx, arm, env));
  const std::string id = std::to_string(stmt.id);
  if (stmt.kind == Kind::Par) {
    count(ctx, env, "join");
    std::vector<FutureResult> results = co_await ctx.join(std::move(futures));
    std::string observed;
    for (std::size_t i = 0; i < results.size(); ++i) {
      observed += (i ? "," : "") + leaf_observation(stmt.body[i], results[i].get());
    }
    co_return "p" + id + "(" + observed + ")";
  }
  count(ctx, env, "select");
  SelectResult winner = co_await ctx.select(std::move(futures));
  count(ctx, env, std::string("select-won-") + leaf_construct(stmt.body[winner.index].kind));
  const std::string& value = winner.result.get();
  co_return "x" + id + "#" + std::to_string(winner.index) + ":" + leaf_observation(stmt.body[winner.index], value);
}

Task<std::string> run_try(OrchestrationContext& ctx, const Stmt& stmt, Env& env) {
  count(ctx, env, "try");
  std::string observed;
  bool caught = false;
  try {
    for (const Stmt& inner : stmt.body) {
      std::string one = co_await run_stmt(ctx, inner, env);
      if (!one.empty()) observed += (observed.empty() ? "" : ",") + one;
    }
  } catch (const TaskFailed&) {
    caught = true;
  } catch (const ProgramFailure&) {
    caught = true;
  }
  if (caught) {
    count(ctx, env, "caught");
    observed += std::string(observed.empty() ? "" : ",") + "caught";
  }
  co_return "y" + std::to_string(stmt.id) + "{" + observed + "}";
}

Task<std::string> run_stmt(OrchestrationContext& ctx, const Stmt& stmt, Env& env) {
  const std::string id = std::to_string(stmt.id);
  switch (stmt.kind) {
    case Kind::Call:
    case Kind::Timer:
    case Kind::Wait:
    case Kind::Dequeue:
    case Kind::Sub: co_return co_await run_leaf(ctx, stmt, env);
    case Kind::Par:
    case Kind::Select: co_return co_await run_group(ctx, stmt, env);
    case Kind::Try: co_return co_await run_try(ctx, stmt, env);
    case Kind::Retry: {
      count(ctx, env, "retry");
      const std::string input = marker(*env.program, stmt) + "|" + std::to_string(stmt.fail_times);
      try {
        std::string value = co_await ctx.schedule_activity_with_retry("GenFlaky", input, retry_policy(stmt));
        if (stmt.fail_times > 0) count(ctx, env, "retry-recovered");
        co_return "r" + id + "=" + value;
      } catch (const TaskFailed&) {
        count(ctx, env, "retry-exhausted");
        throw;
      }
    }
    case Kind::Status:
      count(ctx, env, "status");
      ctx.set_custom_status(stmt.name);
      co_return std::string();
    case Kind::Detach: {
      count(ctx, env, "detach");
      const std::string child_id = ctx.instance_id() + "~d" + id + "." + std::to_string(env.iteration);
      ctx.start_orchestration_detached(stmt.child->name, initial_input(), SubOrchestrationOptions(child_id));
      co_return "d" + id;
    }
    case Kind::Fail:
      count(ctx, env, "fail");
      throw ProgramFailure("fail " + marker(*env.program, stmt));
    case Kind::Payload: {
      const char* kind = payload_input(stmt.payload);
      count(ctx, env, std::string("payload-") + kind);
      std::string value = co_await ctx.schedule_activity("GenPayload", kind);
      co_return "l" + id + "=" + std::to_string(value.size());
    }
    case Kind::BadInput: {
      count(ctx, env, "bad-input");
      std::string value = co_await ctx.schedule_activity("GenEcho", "bad \xFF\xFE input");
      co_return "c" + id + "=" + value;
    }
  }
  co_return std::string();
}

Task<std::string> run_program(OrchestrationContext& ctx, std::string input, std::shared_ptr<const Program> program,
                              std::shared_ptr<Shared> shared) {
  const std::size_t bar = input.find('|');
  if (bar == std::string::npos || bar == 0 || bar > 6) throw std::invalid_argument("a generated program's input is <n>|<state>");
  Env env{program.get(), shared.get(), static_cast<std::uint32_t>(std::stoul(input.substr(0, bar)))};
  std::string state = input.substr(bar + 1);
  try {
    for (const Stmt& stmt : program->body) {
      std::string observed = co_await run_stmt(ctx, stmt, env);
      if (!observed.empty()) state += observed + ";";
    }
  } catch (const TaskFailed&) {
    count(ctx, env, "uncaught-failure");
    throw;
  } catch (const ProgramFailure&) {
    count(ctx, env, "uncaught-failure");
    throw;
  }
  if (env.iteration + 1 < program->executions) {
    count(ctx, env, ctx.parent_instance().empty() ? "continue-as-new" : "sub-continue-as-new");
    co_await ctx.continue_as_new(std::to_string(env.iteration + 1) + "|" + state);
    co_return std::string();
  }
  co_return state;
}

}  // namespace

std::string initial_input() { return "0|"; }

std::string payload_value(PayloadKind kind) {
  switch (kind) {
    case PayloadKind::Unicode: return "\xC3\xA9t\xC3\xA9 \xF0\x9F\x99\x82 \xE6\x97\xA5\xE6\x9C\xAC z\xCC\x81";
    case PayloadKind::InvalidUtf8: return "ok \xC3(";
    case PayloadKind::AtLimit: return std::string(limits::kMaxPayloadBytes, 'x');
    case PayloadKind::OverLimit: return std::string(limits::kMaxPayloadBytes + 1, 'x');
  }
  return {};
}

std::string marker(const Program& program, const Stmt& stmt) { return program.name + "/" + std::to_string(stmt.id); }

std::string short_value(const std::string& value) {
  if (value.size() <= 48) return value;
  return "#" + std::to_string(value.size()) + "B";
}

void register_program(Registry& registry, std::shared_ptr<const Program> program, std::shared_ptr<Shared> shared) {
  registry.register_orchestration(program->name, [program, shared](OrchestrationContext& ctx, std::string input) {
    return run_program(ctx, std::move(input), program, shared);
  });
  std::function<void(const std::vector<Stmt>&)> children = [&](const std::vector<Stmt>& body) {
    for (const Stmt& stmt : body) {
      if (stmt.child) register_program(registry, stmt.child, shared);
      children(stmt.body);
    }
  };
  children(program->body);
}

void register_activities(Registry& registry, std::shared_ptr<Shared> shared) {
  registry.register_activity("GenEcho", [](ActivityContext& context, const std::string& input) -> std::string {
    if (input.rfind("!fail:", 0) == 0) throw std::runtime_error("boom " + input.substr(6));
    // A call on a session names it after '@': the activity must run in that session, and
    // a call without one outside any (a wrong session fails the call, which the model
    // does not allow).
    const std::size_t at = input.rfind('@');
    const std::string expected = at == std::string::npos ? std::string() : input.substr(at + 1);
    if (context.session_id != expected) {
      throw std::runtime_error("ran in session \"" + context.session_id + "\", scheduled in \"" + expected + "\"");
    }
    return "r(" + input + ")";
  });
  registry.register_activity("GenFlaky", [shared](ActivityContext& context, const std::string& input) -> std::string {
    // Fails its first N runs per instance, execution and input (a rerun after a
    // lost result counts too, so the policy's attempts see at most N failures).
    const std::uint32_t fail_times = static_cast<std::uint32_t>(std::stoul(input.substr(input.rfind('|') + 1)));
    const std::string key = context.instance + "#" + std::to_string(context.execution_id) + "/" + input;
    if (++shared->retry_runs[key] <= fail_times) {
      throw std::runtime_error("flaky " + input.substr(0, input.rfind('|')));
    }
    return "ok";
  });
  registry.register_activity("GenPayload", [](ActivityContext&, const std::string& kind) -> std::string {
    for (PayloadKind payload : {PayloadKind::Unicode, PayloadKind::InvalidUtf8, PayloadKind::AtLimit}) {
      if (kind == payload_input(payload)) return payload_value(payload);
    }
    return payload_value(PayloadKind::OverLimit);
  });
}

}  // namespace duroxide::sim::program
