// History invariants the simulator checks as it runs and at the end.
#pragma once

#include <string>
#include <vector>

#include "duroxide/event.hpp"

namespace duroxide::sim {

// Every way `history` (one execution) breaks the history model; empty when
// well-formed. Checked: ids 1..n without gaps; exactly one OrchestrationStarted,
// first; every completion and cancel request names an earlier event of the
// matching scheduling kind; at most one completion per scheduled item (none
// lost into a second copy, none applied twice); a timer never fires before its
// time; at most one terminal event, and nothing after it. With
// `expect_terminal`, the last event must be terminal.
std::vector<std::string> check_history(const History& history, bool expect_terminal);

}  // namespace duroxide::sim
