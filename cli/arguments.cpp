#include "arguments.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "duroxide/limits.hpp"

namespace duroxide::cli {

using Json = nlohmann::json;

const std::map<std::string, HostVerb>& host_verbs() {
  static const std::map<std::string, HostVerb> verbs = {
      {"run", {2, {"db", "id", "version", "timeout-ms"}}},
      {"resume", {0, {"db", "timeout-ms"}}},
      {"replay", {1, {"db", "execution"}}},
      {"samples", {0, {}}},
      {"stats", {0, {"db", "name", "format"}}},
      {"metrics", {0, {"db", "prometheus"}}},
      {"serve", {0, {"db", "metrics-port", "timeout-ms", "orchestration-concurrency", "worker-concurrency",
                     "finished-retention", "executions-kept", "replay-versions"}}},
  };
  return verbs;
}

CapabilityFilter parse_replay_versions(const std::string& text) {
  if (text == "any") return CapabilityFilter::any();
  std::vector<SemVerRange> ranges;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string range = text.substr(start, comma - start);
    const std::size_t dots = range.find("..");
    const std::optional<SemVer> min = dots == std::string::npos ? std::nullopt : SemVer::parse(range.substr(0, dots));
    const std::optional<SemVer> max = dots == std::string::npos ? std::nullopt : SemVer::parse(range.substr(dots + 2));
    if (!min || !max) {
      throw UsageError("--replay-versions takes \"any\" or ranges MIN..MAX of MAJOR.MINOR.PATCH versions, "
                       "separated by commas; got \"" + range + "\"");
    }
    ranges.push_back({*min, *max});
    if (ranges.size() > limits::kMaxSupportedVersionRanges) break;  // the filter's check names the limit
    start = comma + 1;
  }
  CapabilityFilter filter = CapabilityFilter::supporting(std::move(ranges));
  if (std::string problem = filter.problem(); !problem.empty()) throw UsageError("--replay-versions: " + problem);
  if (!filter.takes(build_version())) {
    throw UsageError("--replay-versions: " + filter.to_string() + " leaves out this build, " +
                     build_version().to_string() + ", to which every execution serve starts is pinned");
  }
  return filter;
}

std::string read_file(const std::string& path, std::size_t max_bytes) {
  const auto over_limit = [&] {
    return UsageError(path + " is over the limit of " + std::to_string(max_bytes) + " bytes");
  };
  std::ifstream file(path, std::ios::binary);
  if (!file) throw std::runtime_error("cannot read " + path);
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);  // none for a pipe or a device
  if (!error && size > max_bytes) throw over_limit();
  std::string bytes;
  char buffer[64 * 1024];
  while (file.read(buffer, sizeof buffer) || file.gcount() > 0) {
    bytes.append(buffer, static_cast<std::size_t>(file.gcount()));
    if (bytes.size() > max_bytes) throw over_limit();
  }
  if (file.bad()) throw std::runtime_error("cannot read " + path);
  return bytes;
}

namespace {

// A word of the form --name (lowercase letters and hyphens): a flag, never a flag's value.
// Without this, `--db $UNSET --read-only` would take "--read-only" as the database path and
// run without the read-only the operator asked for.
bool looks_like_flag(const std::string& word) {
  if (word.size() < 3 || word.compare(0, 2, "--") != 0) return false;
  return std::all_of(word.begin() + 2, word.end(), [](char c) { return (c >= 'a' && c <= 'z') || c == '-'; });
}

// Options of the host itself, accepted by every command of the table.
// --one-page: a paged command runs one call and prints its continuation instead of walking every page.
// --principal, --tenant, --roles: the caller the clients act for (access_policy.hpp).
bool is_host_option(const std::string& name) {
  return name == "db" || name == "read-only" || name == "format" || name == "one-page" || name == "principal" ||
         name == "tenant" || name == "roles";
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  for (std::size_t start = 0; start <= text.size();) {
    std::size_t comma = text.find(',', start);
    out.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// One CLI word as the argument's JSON value.
Json cli_value(const ArgSpec& spec, const std::string& word, const FileReader& read_file) {
  switch (spec.type) {
    case ArgType::Integer: {
      std::int64_t value = 0;
      const char* end = word.data() + word.size();
      const auto [stop, error] = std::from_chars(word.data(), end, value);
      if (word.empty() || error != std::errc() || stop != end) {
        throw UsageError("--" + kebab_case(spec.name) + " needs an integer of at most 64 bits, got \"" + word + "\"");
      }
      return value;
    }
    case ArgType::StringList: return split_commas(word);
    case ArgType::IntegerList: {
      Json items = Json::array();
      ArgSpec item = spec;
      item.type = ArgType::Integer;
      for (const std::string& part : split_commas(word)) items.push_back(cli_value(item, part, read_file));
      return items;
    }
    case ArgType::Document: return read_file(word, static_cast<std::size_t>(spec.max));  // the CLI names a file
    default: return word;
  }
}

const ArgSpec* arg_for_flag(const Command& command, const std::string& flag) {
  for (const auto& spec : command.args) {
    if (spec.type == ArgType::Filter) continue;
    if (kebab_case(spec.name) == flag ||
        std::find(spec.cli_aliases.begin(), spec.cli_aliases.end(), flag) != spec.cli_aliases.end()) {
      return &spec;
    }
  }
  return nullptr;
}

bool has_filter(const Command& command) {
  return std::any_of(command.args.begin(), command.args.end(),
                     [](const ArgSpec& spec) { return spec.type == ArgType::Filter; });
}

// The filter flags, as InstanceFilter fields; false when `flag` is none of them.
bool set_filter_flag(Json& filter, const std::string& flag, const std::string& value) {
  static const std::map<std::string, std::string> kTimes = {{"created-from", "createdFromMs"},
                                                            {"created-to", "createdToMs"},
                                                            {"updated-from", "updatedFromMs"},
                                                            {"updated-to", "updatedToMs"},
                                                            {"ready-work-before", "readyWorkBeforeMs"}};
  if (flag == "status") {
    filter["states"] = split_commas(value);
  } else if (flag == "name" || flag == "version" || flag == "prefix" || flag == "parent" || flag == "contains") {
    filter[flag] = value;
  } else if (kTimes.count(flag)) {
    ArgSpec time;
    time.name = kTimes.at(flag);
    time.type = ArgType::Integer;
    filter[kTimes.at(flag)] = cli_value(time, value, nullptr);
  } else {
    return false;
  }
  return true;
}

// `words` after the verb: positional words fill the positional arguments in
// order; --flag value pairs fill the rest (booleans take no value).
void parse_command_words(Args& args, const std::vector<std::string>& words, const FileReader& read_file) {
  const Command& command = *args.command;
  std::vector<const ArgSpec*> positional;
  for (const auto& spec : command.args) {
    if (spec.positional && spec.type != ArgType::Filter) positional.push_back(&spec);
  }
  Json filter = Json::object();
  std::size_t next = 0;
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (word.rfind("--", 0) != 0) {
      if (next >= positional.size()) {
        throw UsageError("\"" + args.verb + "\" takes at most " + std::to_string(positional.size()) +
                         " argument(s) (try: duroxide help " + command.name + ")");
      }
      args.command_args[positional[next]->name] = cli_value(*positional[next], word, read_file);
      ++next;
      continue;
    }
    const std::string flag = word.substr(2);
    const ArgSpec* spec = arg_for_flag(command, flag);
    const bool boolean =
        flag == "read-only" || flag == "one-page" || flag == "roots" || (spec && spec->type == ArgType::Boolean);
    if (!boolean && (i + 1 >= words.size() || looks_like_flag(words[i + 1]))) {
      throw UsageError("--" + flag + " needs a value");
    }
    const std::string value = boolean ? "true" : words[++i];
    if (is_host_option(flag)) {
      args.options[flag] = value;
    } else if (spec) {
      args.command_args[spec->name] = spec->type == ArgType::Boolean ? Json(true) : cli_value(*spec, value, read_file);
    } else if (has_filter(command) && flag == "roots") {
      filter["rootsOnly"] = true;
    } else if (!has_filter(command) || !set_filter_flag(filter, flag, value)) {
      throw UsageError("\"" + args.verb + "\" has no option --" + flag + " (try: duroxide help " + command.name + ")");
    }
  }
  if (!filter.empty()) args.command_args["filter"] = filter;
}

void parse_host_words(Args& args, const HostVerb& verb, const std::vector<std::string>& words) {
  static const std::vector<std::string> kFlags = {"prometheus", "read-only"};
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (word.rfind("--", 0) != 0) {
      args.positional.push_back(word);
      continue;
    }
    std::string name = word.substr(2);
    if (std::find(verb.options.begin(), verb.options.end(), name) == verb.options.end() && name != "read-only") {
      throw UsageError("\"" + args.verb + "\" has no option --" + name);
    }
    if (std::find(kFlags.begin(), kFlags.end(), name) != kFlags.end()) {
      args.options[name] = "true";
      continue;
    }
    if (i + 1 >= words.size() || looks_like_flag(words[i + 1])) throw UsageError("--" + name + " needs a value");
    args.options[name] = words[++i];
  }
  if (args.positional.size() != verb.positional) {
    throw UsageError("\"" + args.verb + "\" takes " + std::to_string(verb.positional) + " argument(s), got " +
                     std::to_string(args.positional.size()) + " (try: duroxide --help)");
  }
}

}  // namespace

Args parse_arguments(const std::vector<std::string>& argv, const FileReader& read_file) {
  Args args;
  if (argv.empty()) throw UsageError("no verb given (try: duroxide --help)");
  args.verb = argv[0];
  const std::vector<std::string> words(argv.begin() + 1, argv.end());
  auto host = host_verbs().find(args.verb);
  if (host != host_verbs().end()) {
    parse_host_words(args, host->second, words);
  } else {
    args.command = find_command(args.verb);
    if (!args.command) throw UsageError("unknown verb \"" + args.verb + "\" (try: duroxide --help)");
    parse_command_words(args, words, read_file);
    args.command_args = checked_args(*args.command, args.command_args);
    if (args.option("one-page") == "true" && !args.command->paged) {
      throw UsageError("\"" + args.verb + "\" has no pages: --one-page goes with a paged command");
    }
  }
  const std::string format = args.option("format", "json");
  if (format != "json" && format != "csv" && format != "jsonl") {
    throw UsageError("--format takes json, csv or jsonl, got \"" + format + "\"");
  }
  if (args.verb == "stats" && format == "jsonl") throw UsageError("\"stats\" has no JSON-lines form");
  // An empty caller option would read as none given: without roles no policy applies, so
  // `--roles "$ROLE"` with ROLE unset must not run with every right.
  for (const char* name : {"principal", "tenant", "roles"}) {
    const auto given = args.options.find(name);
    if (given != args.options.end() && given->second.empty()) {
      throw UsageError(std::string("--") + name + " needs a value (leave the option out for none)");
    }
  }
  bool needs_db = args.verb != "run" && args.verb != "samples";
  if (needs_db && args.option("db").empty()) throw UsageError("\"" + args.verb + "\" needs --db FILE");
  return args;
}

}  // namespace duroxide::cli
