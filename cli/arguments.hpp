// The CLI's arguments: the words after the program name, read by the command table's
// schema (core/hosts/include/duroxide/commands.hpp) for its commands and by the table of
// host verbs below for the others. Any bad word is a UsageError (exit 2) or a
// CommandError naming the argument; a document argument names a file, read whole but
// never past its limit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "duroxide/capability_filter.hpp"
#include "duroxide/commands.hpp"

namespace duroxide::cli {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct HostVerb {
  std::size_t positional;
  std::vector<std::string> options;
};

const std::map<std::string, HostVerb>& host_verbs();

// `serve --replay-versions`: "any", or ranges MIN..MAX (both ends included) separated by
// commas, e.g. "0.0.0..0.1.0,2.0.0..2.9.9". A UsageError names what is wrong (a version
// that is not MAJOR.MINOR.PATCH, an empty range, too many ranges).
CapabilityFilter parse_replay_versions(const std::string& text);

struct Args {
  std::string verb;
  const Command* command = nullptr;  // a command of the table, or a host verb
  nlohmann::json command_args = nlohmann::json::object();
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;

  std::string option(const std::string& name, const std::string& fallback = {}) const {
    auto it = options.find(name);
    return it == options.end() ? fallback : it->second;
  }
  std::int64_t number(const std::string& name, std::int64_t fallback) const {
    auto it = options.find(name);
    if (it == options.end()) return fallback;
    const std::string& text = it->second;
    bool digits = !text.empty() && text.size() <= 15 &&
                  text.find_first_not_of("0123456789") == std::string::npos;
    if (!digits) throw UsageError("--" + name + " needs a non-negative integer, got \"" + text + "\"");
    return std::stoll(text);
  }
  // A time in ms: an integer, or a duration as the command table's take them (30s, 5m,
  // 1h30m: parse_duration_ms).
  std::int64_t duration_ms(const std::string& name, std::int64_t fallback) const {
    auto it = options.find(name);
    if (it == options.end()) return fallback;
    const std::optional<std::int64_t> ms = parse_duration_ms(it->second);
    if (!ms) throw UsageError("--" + name + " needs a time in ms or a duration (30s, 5m, 12h, ...), got \"" + it->second + "\"");
    return *ms;
  }
};

// Reads the file a document argument names: at most `max_bytes` bytes, else UsageError.
using FileReader = std::function<std::string(const std::string& path, std::size_t max_bytes)>;
std::string read_file(const std::string& path, std::size_t max_bytes);

// `argv`: the verb and its words (argv[1..] of main).
Args parse_arguments(const std::vector<std::string>& argv, const FileReader& read_file = cli::read_file);

}  // namespace duroxide::cli
