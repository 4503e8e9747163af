// The reference interpreter: a generated program run in a plain direct-style
// model over the events and messages the clients delivered. Where the engine
// may legitimately go either way (which arm of a select wins), the model
// follows every branch; an instance's end must match one of the ends it allows.
#include <algorithm>
#include <functional>
#include <set>

#include "program.hpp"

namespace duroxide::sim::program {

namespace {

struct Path {
  std::string state;  // the program's state: observations so far, over every execution
  std::map<std::string, std::size_t> events_taken, messages_taken;
  std::map<std::string, std::size_t> events_at_start, messages_at_start;  // when the last execution began
  std::optional<std::string> status;
  std::vector<std::pair<std::string, const Program*>> detached;
  bool failed = false;
  bool fatal = false;   // not catchable (the instance fails at the turn's end)
  std::string marker;   // failed: text the error contains

  std::string key() const {
    std::string text = state + "\x1F" + (failed ? "F" + marker : "") + "\x1F" + status.value_or("\x01");
    for (const auto& [name, n] : events_taken) text += "\x1F" "e" + name + std::to_string(n);
    for (const auto& [name, n] : messages_taken) text += "\x1F" "m" + name + std::to_string(n);
    return text;
  }
};

struct Step {
  Path path;
  std::string observed;
};

struct ChildEnd {
  bool completed = true;
  std::string text;  // output, or a marker the error contains
};

class Model {
 public:
  Model(const Inputs& inputs, std::string instance, std::size_t cap)
      : inputs_(inputs), instance_(std::move(instance)), cap_(cap) {}

  std::vector<Path> run(const Program& program) {
    std::vector<Path> paths{Path{}};
    std::vector<Path> ended;
    for (std::uint32_t iteration = 0; iteration < program.executions && !paths.empty(); ++iteration) {
      for (Path& path : paths) {
        path.events_at_start = path.events_taken;
        path.messages_at_start = path.messages_taken;
      }
      for (const Stmt& stmt : program.body) {
        std::vector<Path> next;
        for (const Path& path : paths) {
          if (path.failed) {
            ended.push_back(path);
            continue;
          }
          for (Step& step : statement(program, stmt, path, iteration)) {
            if (!step.path.failed && !step.observed.empty()) step.path.state += step.observed + ";";
            next.push_back(std::move(step.path));
          }
        }
        paths = dedupe(std::move(next));
      }
    }
    for (Path& path : paths) ended.push_back(std::move(path));
    return dedupe(std::move(ended));
  }

  bool overflowed() const { return overflowed_; }

  const std::vector<ChildEnd>& child_ends(const Program& child) {
    auto found = children_.find(&child);
    if (found != children_.end()) return found->second;
    Model inner(empty_, child.name, cap_);
    std::vector<ChildEnd> ends;
    for (const Path& path : inner.run(child)) {
      ends.push_back(path.failed ? ChildEnd{false, path.marker} : ChildEnd{true, path.state});
    }
    overflowed_ = overflowed_ || inner.overflowed();
    return children_.emplace(&child, std::move(ends)).first->second;
  }

 private:
  std::vector<Path> dedupe(std::vector<Path> paths) {
    std::set<std::string> seen;
    std::vector<Path> kept;
    for (Path& path : paths) {
      if (!seen.insert(path.key()).second) continue;
      if (kept.size() >= cap_) {
        overflowed_ = true;
        break;
      }
      kept.push_back(std::move(path));
    }
    return kept;
  }

  static Path failed(Path path, std::string marker, bool fatal = false) {
    path.failed = true;
    path.fatal = fatal;
    path.marker = std::move(marker);
    return path;
  }

  // A leaf's possible completions: ok with a value, or failed with a marker.
  struct Alternative {
    Path path;
    bool ok = true;
    std::string value;
  };
  std::vector<Alternative> leaf(const Program& program, const Stmt& stmt, const Path& path) {
    std::vector<Alternative> out;
    switch (stmt.kind) {
      case Kind::Call:
        if (stmt.fails) out.push_back({failed(path, "boom " + marker(program, stmt)), false, {}});
        else out.push_back({path, true, "r(" + stmt.data + ")"});
        break;
      case Kind::Timer: out.push_back({path, true, {}}); break;
      case Kind::Wait:
      case Kind::Dequeue: {
        const bool event = stmt.kind == Kind::Wait;
        const auto& source = event ? inputs_.events : inputs_.messages;
        const auto found = source.find(stmt.name);
        Path next = path;
        std::size_t& taken = (event ? next.events_taken : next.messages_taken)[stmt.name];
        if (found == source.end() || taken >= found->second.size()) break;  // never completes
        const std::string value = found->second[taken++];
        out.push_back({std::move(next), true, value});
        break;
      }
      default:
        for (const ChildEnd& end : child_ends(*stmt.child)) {
          if (end.completed) out.push_back({path, true, end.text});
          else out.push_back({failed(path, end.text), false, {}});
        }
        break;
    }
    return out;
  }

  static std::string observation(const Stmt& stmt, const std::string& value) {
    const std::string id = std::to_string(stmt.id);
    switch (stmt.kind) {
      case Kind::Call: return "c" + id + "=" + value;
      case Kind::Timer: return "t" + id;
      case Kind::Wait: return "w" + id + "=" + short_value(value);
      case Kind::Dequeue: return "q" + id + "=" + short_value(value);
      default: return "s" + id + "=[" + value + "]";
    }
  }

  std::vector<Step> join(const Program& program, const Stmt& stmt, const Path& start) {
    // Arms complete in any order, but waits and dequeues take messages in
    // argument order (the oldest open wait first); the first failed arm in
    // argument order is the one the code sees.
    struct Partial {
      Path path;
      std::string observed;
      std::optional<std::string> failure;
    };
    std::vector<Partial> partials{{start, {}, std::nullopt}};
    for (std::size_t i = 0; i < stmt.body.size(); ++i) {
      std::vector<Partial> next;
      for (const Partial& partial : partials) {
        for (Alternative& alt : leaf(program, stmt.body[i], partial.path)) {
          Partial grown{alt.path, partial.observed, partial.failure};
          grown.path.failed = false;
          if (!alt.ok && !grown.failure) grown.failure = alt.path.marker;
          if (alt.ok) grown.observed += (i ? "," : "") + observation(stmt.body[i], alt.value);
          next.push_back(std::move(grown));
        }
      }
      partials = std::move(next);
    }
    std::vector<Step> out;
    for (Partial& partial : partials) {
      if (partial.failure) out.push_back({failed(partial.path, *partial.failure), {}});
      else out.push_back({partial.path, "p" + std::to_string(stmt.id) + "(" + partial.observed + ")"});
    }
    return out;
  }

  std::vector<Step> select(const Program& program, const Stmt& stmt, const Path& path) {
    std::vector<Step> out;
    for (std::size_t i = 0; i < stmt.body.size(); ++i) {
      for (Alternative& alt : leaf(program, stmt.body[i], path)) {
        if (!alt.ok) {
          out.push_back({alt.path, {}});
          continue;
        }
        out.push_back({alt.path, "x" + std::to_string(stmt.id) + "#" + std::to_string(i) + ":" +
                                     observation(stmt.body[i], alt.value)});
      }
    }
    return out;
  }

  std::vector<Step> try_block(const Program& program, const Stmt& stmt, const Path& start, std::uint32_t iteration) {
    std::vector<Step> partials{{start, {}}};
    std::vector<Step> out;
    for (const Stmt& inner : stmt.body) {
      std::vector<Step> next;
      for (const Step& partial : partials) {
        for (Step& step : statement(program, inner, partial.path, iteration)) {
          if (step.path.failed && !step.path.fatal) {
            Path recovered = step.path;
            recovered.failed = false;
            recovered.marker.clear();
            out.push_back({recovered, partial.observed + (partial.observed.empty() ? "" : ",") + "caught"});
          } else if (step.path.failed) {
            out.push_back(std::move(step));
          } else {
            std::string observed = partial.observed;
            if (!step.observed.empty()) observed += (observed.empty() ? "" : ",") + step.observed;
            next.push_back({std::move(step.path), std::move(observed)});
          }
        }
      }
      partials = std::move(next);
    }
    for (Step& step : partials) out.push_back(std::move(step));
    for (Step& step : out) {
      if (!step.path.failed) step.observed = "y" + std::to_string(stmt.id) + "{" + step.observed + "}";
    }
    return out;
  }

  std::vector<Step> statement(const Program& program, const Stmt& stmt, const Path& path, std::uint32_t iteration) {
    const std::string id = std::to_string(stmt.id);
    switch (stmt.kind) {
      case Kind::Call:
      case Kind::Timer:
      case Kind::Wait:
      case Kind::Dequeue:
      case Kind::Sub: {
        std::vector<Step> out;
        for (Alternative& alt : leaf(program, stmt, path)) {
          out.push_back({alt.path, alt.ok ? observation(stmt, alt.value) : std::string()});
        }
        return out;
      }
      case Kind::Par: return join(program, stmt, path);
      case Kind::Select: return select(program, stmt, path);
      case Kind::Try: return try_block(program, stmt, path, iteration);
      case Kind::Retry:
        if (stmt.fail_times >= stmt.attempts) return {{failed(path, "flaky " + marker(program, stmt)), {}}};
        return {{path, "r" + id + "=ok"}};
      case Kind::Status: {
        Path next = path;
        next.status = stmt.name;
        return {{std::move(next), {}}};
      }
      case Kind::Detach: {
        Path next = path;
        next.detached.emplace_back(instance_ + "~d" + id + "." + std::to_string(iteration), stmt.child.get());
        return {{std::move(next), "d" + id}};
      }
      case Kind::Fail: return {{failed(path, "fail " + marker(program, stmt)), {}}};
      case Kind::Payload:
        switch (stmt.payload) {
          case PayloadKind::Unicode:
          case PayloadKind::AtLimit: return {{path, "l" + id + "=" + std::to_string(payload_value(stmt.payload).size())}};
          case PayloadKind::InvalidUtf8: return {{failed(path, "not valid UTF-8"), {}}};
          case PayloadKind::OverLimit: return {{failed(path, "over the limit"), {}}};
        }
        return {};
      case Kind::BadInput: return {{failed(path, "not valid UTF-8", true), {}}};
    }
    return {};
  }

  const Inputs& inputs_;
  std::string instance_;
  std::size_t cap_;
  bool overflowed_ = false;
  Inputs empty_;
  std::map<const Program*, std::vector<ChildEnd>> children_;
};

Inputs inputs_of(const InstanceEnd& end) {
  Inputs inputs;
  for (const ClientOp& op : end.accepted) {
    if (op.kind == ClientOp::Kind::Raise) inputs.events[op.name].push_back(op.data);
    if (op.kind == ClientOp::Kind::Enqueue) inputs.messages[op.name].push_back(op.data);
  }
  return inputs;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string describe_path(const Path& path) {
  if (path.failed) return "Failed(...\"" + path.marker + "\"...)";
  return "Completed(" + path.state + ") status " + path.status.value_or("(none)");
}

// Nothing delivered is lost: the last execution's history holds, per name, the
// messages from the first one it took on, in order, at least through the last
// one it consumed (later ones may have arrived after the end and been dropped).
std::optional<std::string> lost_message(const Path& path, const Inputs& inputs, const History& history) {
  std::map<std::string, std::vector<std::string>> events, messages;
  for (const Event& event : history) {
    if (const auto* raised = event.as<events::ExternalEvent>()) events[raised->name].push_back(raised->data);
    if (const auto* queued = event.as<events::QueueEventDelivered>()) messages[queued->name].push_back(queued->data);
  }
  auto check = [](const char* what, const std::map<std::string, std::vector<std::string>>& sent,
                  const std::map<std::string, std::vector<std::string>>& seen,
                  const std::map<std::string, std::size_t>& at_start,
                  const std::map<std::string, std::size_t>& taken) -> std::optional<std::string> {
    for (const auto& [name, list] : seen) {
      const auto from_it = at_start.find(name);
      const std::size_t from = from_it == at_start.end() ? 0 : from_it->second;
      const auto all = sent.find(name);
      for (std::size_t i = 0; i < list.size(); ++i) {
        if (all == sent.end() || from + i >= all->second.size() || all->second[from + i] != list[i]) {
          return std::string(what) + " " + name + " #" + std::to_string(i + 1) +
                 " of the last execution is not the next one sent (lost, doubled or reordered)";
        }
      }
    }
    for (const auto& [name, count] : taken) {
      const auto from_it = at_start.find(name);
      const std::size_t from = from_it == at_start.end() ? 0 : from_it->second;
      const auto found = seen.find(name);
      const std::size_t held = found == seen.end() ? 0 : found->second.size();
      if (count > from + held) {
        return std::string(what) + " " + name + ": the last execution consumed " + std::to_string(count - from) +
               " but its history holds " + std::to_string(held);
      }
    }
    return std::nullopt;
  };
  if (auto problem = check("event", inputs.events, events, path.events_at_start, path.events_taken)) return problem;
  return check("message", inputs.messages, messages, path.messages_at_start, path.messages_taken);
}

// Every detached start of the path exists and ended as its program allows.
std::optional<std::string> detached_problem(const Path& path, Model& model, const InstanceLookup& lookup) {
  for (const auto& [id, child] : path.detached) {
    const auto end = lookup(id);
    if (!end) return "the detached " + id + " does not exist";
    if (end->state == RuntimeState::Running) return "the detached " + id + " is still running";
    if (end->corrupted) continue;  // may end either way
    const bool completed = end->state == RuntimeState::Completed;
    bool allowed = false;
    const std::vector<ChildEnd>& ends = model.child_ends(*child);
    if (model.overflowed()) continue;  // too many ends to enumerate: the generator avoids it
    for (const ChildEnd& child_end : ends) {
      allowed = allowed || (child_end.completed ? completed && end->output == child_end.text
                                                : !completed && contains(end->error, child_end.text));
    }
    if (!allowed) {
      return "the detached " + id + " ended " + (completed ? "Completed(" + end->output : "Failed(" + end->error) +
             "), which " + child->name + " does not allow";
    }
  }
  return std::nullopt;
}

}  // namespace

std::vector<std::string> check_end(const Program& program, const InstanceEnd& end, const InstanceLookup& lookup) {
  const Inputs inputs = inputs_of(end);
  Model model(inputs, end.instance, 4'096);
  const std::vector<Path> paths = model.run(program);
  if (model.overflowed()) return {};  // too many ends to enumerate: the generator avoids it
  const bool completed = end.state == RuntimeState::Completed;
  if (!completed && end.cancel_accepted && contains(end.error, "canceled: ")) return {};
  std::vector<std::string> near;
  for (const Path& path : paths) {
    if (path.failed) {
      if (!completed && contains(end.error, path.marker)) return {};
      continue;
    }
    if (!completed || path.state != end.output) continue;
    if (path.status != end.custom_status) {
      near.push_back("custom status " + end.custom_status.value_or("(none)") + ", the model's " +
                     path.status.value_or("(none)"));
      continue;
    }
    if (auto lost = lost_message(path, inputs, end.history)) {
      near.push_back(*lost);
      continue;
    }
    if (auto detached = detached_problem(path, model, lookup)) {
      near.push_back(*detached);
      continue;
    }
    return {};
  }
  std::string allowed;
  for (std::size_t i = 0; i < paths.size() && i < 4; ++i) allowed += (i ? " or " : "") + describe_path(paths[i]);
  if (paths.size() > 4) allowed += " or " + std::to_string(paths.size() - 4) + " more";
  if (!near.empty()) return {program.name + " ended as the model allows, but " + near.front()};
  return {program.name + " ended " +
          (completed ? "Completed(" + end.output + ") status " + end.custom_status.value_or("(none)")
                     : "Failed(" + end.error.substr(0, 300) + ")") +
          "; the model allows " + (allowed.empty() ? "no end (it never finishes)" : allowed)};
}

std::size_t model_breadth(const Program& program, const Inputs& inputs, std::size_t cap) {
  Model model(inputs, "g", cap);
  std::size_t ends = model.run(program).size();
  // Detached starts are checked against their own programs' ends.
  std::function<void(const std::vector<Stmt>&)> detached = [&](const std::vector<Stmt>& body) {
    for (const Stmt& stmt : body) {
      if (stmt.kind == Kind::Detach) ends = std::max(ends, model.child_ends(*stmt.child).size());
      detached(stmt.body);
    }
  };
  detached(program.body);
  return model.overflowed() ? cap + 1 : ends;
}

}  // namespace duroxide::sim::program
