// Drawing generated programs, and printing them as pseudo-code.
#include <algorithm>

#include "program.hpp"

namespace duroxide::sim::program {

namespace {

// Text in the activity inputs, custom statuses and event data: ASCII, accents,
// other scripts and astral-plane characters (valid UTF-8 all).
const char* const kWords[] = {"a", "b", "\xC3\xA9t\xC3\xA9", "\xE6\x97\xA5\xE6\x9C\xAC", "\xF0\x9F\x99\x82",
                              "z\xCC\x81", "\xD0\xBF\xD1\x80\xD0\xB8"};
constexpr std::size_t kWordCount = sizeof kWords / sizeof kWords[0];

struct Drawer {
  SimRandom& random;
  const std::string& program_name;
  DrawLimits limits;
  std::uint32_t next_id = 1;
  std::uint32_t child_count = 0;

  std::string word() { return kWords[random.below(kWordCount)]; }

  std::shared_ptr<const Program> child() {
    DrawLimits child_limits = limits;
    child_limits.depth = limits.depth + 1;
    child_limits.root = false;
    return draw_program(random, program_name + "." + std::to_string(++child_count), child_limits);
  }

  Stmt leaf(Kind kind) {
    Stmt stmt;
    stmt.kind = kind;
    stmt.id = next_id++;
    switch (kind) {
      case Kind::Call:
        stmt.data = word() + std::to_string(stmt.id);
        if (random.below(4) == 0) {  // a few sessions, shared by the calls of all instances
          stmt.session = "g" + std::to_string(random.below(3));
          stmt.data += "@" + stmt.session;
        }
        break;
      case Kind::Timer: stmt.ms = random.between(1, 4) * (random.below(3) == 0 ? 2'000 : 50); break;
      case Kind::Wait: stmt.name = "E" + std::to_string(random.below(2)); break;
      case Kind::Dequeue: stmt.name = "Q" + std::to_string(random.below(2)); break;
      case Kind::Sub: stmt.child = child(); break;
      default: break;
    }
    return stmt;
  }

  bool can_nest() const { return limits.depth < 2; }

  // A join or select arm: a leaf that never fails by itself (a child may).
  Stmt arm(bool select_with_wait, bool select_with_dequeue) {
    for (;;) {
      const std::uint64_t pick = random.below(10);
      if (pick < 3) return leaf(Kind::Call);
      if (pick < 5) return leaf(Kind::Timer);
      if (pick < 7 && limits.root && !select_with_wait) return leaf(Kind::Wait);
      if (pick < 9 && limits.root && !select_with_dequeue) return leaf(Kind::Dequeue);
      if (pick == 9 && can_nest()) return leaf(Kind::Sub);
    }
  }

  Stmt group(Kind kind) {
    Stmt stmt;
    stmt.kind = kind;
    stmt.id = next_id++;
    const std::size_t arms = 2 + random.below(2);
    bool wait = false, dequeue = false;
    if (kind == Kind::Select) stmt.body.push_back(leaf(Kind::Timer));  // a select always ends
    while (stmt.body.size() < arms) {
      // A select takes at most one wait and one dequeue (two on one name race by arrival).
      stmt.body.push_back(arm(kind == Kind::Select && wait, kind == Kind::Select && dequeue));
      wait = wait || stmt.body.back().kind == Kind::Wait;
      dequeue = dequeue || stmt.body.back().kind == Kind::Dequeue;
    }
    // The timer is not always the first arm.
    if (kind == Kind::Select) std::swap(stmt.body.front(), stmt.body[random.below(stmt.body.size())]);
    return stmt;
  }

  Stmt statement(bool in_try) {
    const std::uint64_t pick = random.below(100);
    Stmt stmt;
    if (pick < 16) {
      stmt = leaf(Kind::Call);
      stmt.fails = random.below(in_try ? 3 : 12) == 0;
    } else if (pick < 22) {
      stmt.kind = Kind::Retry;
      stmt.id = next_id++;
      stmt.attempts = 2 + static_cast<std::uint32_t>(random.below(3));
      const bool exhausted = random.below(in_try ? 3 : 10) == 0;
      stmt.fail_times = exhausted ? kAlwaysFails : static_cast<std::uint32_t>(random.below(stmt.attempts));
      stmt.ms = 10 * random.between(1, 20);
    } else if (pick < 28) {
      stmt = leaf(Kind::Timer);
    } else if (pick < 36 && limits.root) {
      stmt = leaf(Kind::Wait);
    } else if (pick < 42 && limits.root) {
      stmt = leaf(Kind::Dequeue);
    } else if (pick < 49 && can_nest()) {
      stmt = leaf(Kind::Sub);
    } else if (pick < 56) {
      stmt = group(Kind::Par);
    } else if (pick < 67) {
      stmt = group(Kind::Select);
    } else if (pick < 75 && !in_try) {
      stmt.kind = Kind::Try;
      stmt.id = next_id++;
      const std::size_t count = 1 + random.below(3);
      for (std::size_t i = 0; i < count; ++i) stmt.body.push_back(statement(true));
    } else if (pick < 81) {
      stmt.kind = Kind::Status;
      stmt.id = next_id++;
      stmt.name = "st" + std::to_string(stmt.id) + " " + word();
    } else if (pick < 85 && can_nest()) {
      stmt.kind = Kind::Detach;
      stmt.id = next_id++;
      stmt.child = child();
    } else if (pick < 88 + (in_try ? 6 : 0)) {
      stmt.kind = Kind::Fail;
      stmt.id = next_id++;
    } else if (pick < 97) {
      stmt.kind = Kind::Payload;
      stmt.id = next_id++;
      // Values at the limit are stored and decoded on every later turn: rarer, to keep seeds fast.
      const std::uint64_t kind = random.below(20);
      stmt.payload = kind < 9    ? PayloadKind::Unicode
                     : kind < 14 ? PayloadKind::InvalidUtf8
                     : kind < 18 ? PayloadKind::OverLimit
                                 : PayloadKind::AtLimit;
    } else if (!in_try) {
      stmt.kind = Kind::BadInput;
      stmt.id = next_id++;
    } else {
      stmt = leaf(Kind::Timer);
    }
    return stmt;
  }
};

std::string payload_name(PayloadKind kind) {
  switch (kind) {
    case PayloadKind::Unicode: return "unicode";
    case PayloadKind::InvalidUtf8: return "invalid-utf8";
    case PayloadKind::AtLimit: return "at-limit";
    case PayloadKind::OverLimit: return "over-limit";
  }
  return "?";
}

void print(const Stmt& stmt, const std::string& indent, std::string& out, std::vector<const Program*>& children);

std::string leaf_text(const Stmt& stmt, std::vector<const Program*>& children) {
  switch (stmt.kind) {
    case Kind::Call:
      return "call Echo(\"" + stmt.data + "\")" + (stmt.session.empty() ? "" : " on session " + stmt.session) +
             (stmt.fails ? " -- fails" : "");
    case Kind::Timer: return "timer " + std::to_string(stmt.ms) + "ms";
    case Kind::Wait: return "wait event " + stmt.name;
    case Kind::Dequeue: return "dequeue " + stmt.name;
    case Kind::Sub: children.push_back(stmt.child.get()); return "sub " + stmt.child->name;
    default: return "?";
  }
}

void print(const Stmt& stmt, const std::string& indent, std::string& out, std::vector<const Program*>& children) {
  const std::string label = indent + "s" + std::to_string(stmt.id) + ": ";
  switch (stmt.kind) {
    case Kind::Retry:
      out += label + "retry Flaky(fails " +
             (stmt.fail_times == kAlwaysFails ? std::string("always") : std::to_string(stmt.fail_times)) +
             ") attempts " + std::to_string(stmt.attempts) + " backoff " + std::to_string(stmt.ms) + "ms\n";
      return;
    case Kind::Par:
    case Kind::Select: {
      out += label + (stmt.kind == Kind::Par ? "join {" : "select {");
      for (std::size_t i = 0; i < stmt.body.size(); ++i) {
        out += (i ? " | " : " ") + leaf_text(stmt.body[i], children);
      }
      out += " }\n";
      return;
    }
    case Kind::Try:
      out += label + "try {\n";
      for (const Stmt& inner : stmt.body) print(inner, indent + "  ", out, children);
      out += indent + "} catch -> \"caught\"\n";
      return;
    case Kind::Status: out += label + "set status \"" + stmt.name + "\"\n"; return;
    case Kind::Detach:
      children.push_back(stmt.child.get());
      out += label + "start detached " + stmt.child->name + "\n";
      return;
    case Kind::Fail: out += label + "fail \"fail " + std::to_string(stmt.id) + "\"\n"; return;
    case Kind::Payload: out += label + "call Payload(" + payload_name(stmt.payload) + ")\n"; return;
    case Kind::BadInput: out += label + "call Echo(<invalid UTF-8 input>)\n"; return;
    default: out += label + leaf_text(stmt, children) + "\n"; return;
  }
}

void add_consumption(const Stmt& stmt, Kind kind, std::map<std::string, std::size_t>& counts) {
  if (stmt.kind == kind) ++counts[stmt.name];
  for (const Stmt& inner : stmt.body) add_consumption(inner, kind, counts);
}

}  // namespace

std::shared_ptr<Program> draw_program(SimRandom& random, const std::string& name, const DrawLimits& limits) {
  auto program = std::make_shared<Program>();
  program->name = name;
  Drawer drawer{random, program->name, limits};
  const std::uint64_t loop = random.below(limits.root ? 5 : 3);
  program->executions = loop < 2 ? 1 + static_cast<std::uint32_t>(loop == 1 ? random.between(1, 2) : 0) : 1;
  // The draws never depend on max_statements: a lower cap keeps a prefix of the same program.
  const std::size_t count = 1 + random.below(limits.root ? 6 : 3);
  for (std::size_t i = 0; i < count; ++i) program->body.push_back(drawer.statement(false));
  if (program->body.size() > limits.max_statements) program->body.resize(std::max<std::size_t>(limits.max_statements, 1));
  return program;
}

std::string to_text(const Program& program) {
  std::string out = "orchestration " + program.name;
  if (program.executions > 1) {
    out += " (runs " + std::to_string(program.executions) + " executions: continue-as-new carrying its state)";
  }
  out += ":\n";
  std::vector<const Program*> children;
  for (const Stmt& stmt : program.body) print(stmt, "  ", out, children);
  for (const Program* child : children) out += to_text(*child);
  return out;
}

std::map<std::string, std::size_t> max_consumption(const Program& program, Kind kind) {
  std::map<std::string, std::size_t> counts;
  for (const Stmt& stmt : program.body) add_consumption(stmt, kind, counts);
  for (auto& [name, count] : counts) count *= program.executions;
  return counts;
}

}  // namespace duroxide::sim::program
