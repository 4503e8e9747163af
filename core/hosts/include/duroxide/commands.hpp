// The command table: every RuntimeClient and ManagementClient operation as one
// row (name, client, argument schema, help, handler), shared by every host —
// the CLI (cli/main.cpp) and the JavaScript module (wasm/bindings.cpp,
// wasm/duroxide.mjs) — so they take the same arguments and return the same JSON.
//
// Contract:
// - a command's arguments are one JSON object; run_command checks it against
//   the row's schema before the handler runs: unknown keys, missing required
//   arguments, wrong types, values outside their range or over their byte/item
//   limit and unknown choices are CommandError(InvalidInput) naming the argument;
//   an unknown command is CommandError(UnknownCommand). Defaults are filled in;
// - handlers call the clients only, so every client check (identifiers,
//   payload limits, access policy, read-only) still applies and surfaces as
//   ClientError; results are the views of <duroxide/json_views.hpp>;
// - argument names are camelCase (the JSON keys, the JS parameter names); the
//   CLI flag of an argument is its name in kebab-case (timeoutMs: --timeout-ms);
// - nothing here reads a clock: "now" comes from the host's Pacer.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "duroxide/environment.hpp"
#include "duroxide/management_client.hpp"
#include "duroxide/runtime_client.hpp"

namespace duroxide {

class CommandError : public std::runtime_error {
 public:
  enum class Kind { UnknownCommand, InvalidInput };
  CommandError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }
  const char* kind_name() const { return kind_ == Kind::UnknownCommand ? "UnknownCommand" : "InvalidInput"; }

 private:
  Kind kind_;
};

// String: text up to `max` bytes; Integer: `min`..`max`; Boolean; StringList: an
// array of up to `max` strings (the CLI: comma-separated); Choice: one of
// `choices`; Filter: an InstanceFilter object (see filter_from_json); Document:
// a JSON document given as an object or as its text, up to `max` bytes.
// Duration: a length of time in ms, given as an integer or as text of whole units
// ("7d", "12h", "1h30m", "45s", "500ms"; d, h, m, s, ms); checked to its integer.
// IntegerList: an array of up to `max` integers, each `min` or more (the CLI:
// comma-separated).
enum class ArgType { String, Integer, Boolean, StringList, Choice, Filter, Document, Duration, IntegerList };
std::string_view to_string(ArgType type);

struct ArgSpec {
  std::string name;
  ArgType type = ArgType::String;
  bool required = false;
  // Positional arguments come first, in table order: the CLI's bare words and
  // the JS method's leading parameters; the rest are flags / an options object.
  bool positional = false;
  nlohmann::json fallback = nullptr;  // filled in when absent (null: left absent)
  std::int64_t min = 0;
  std::int64_t max = 0;
  std::vector<std::string> choices;
  std::string help;
  std::vector<std::string> cli_aliases;  // further CLI flags (without --)
};

enum class ClientKind { Runtime, Management };

// What handlers act on. `pacer` moves the host forward while a command waits
// and is the host's clock ("now" for health, problems, purge and time windows).
struct Clients {
  RuntimeClient& runtime;
  ManagementClient& management;
  Pacer& pacer;
};

using CommandHandler = nlohmann::json (*)(const nlohmann::json& args, Clients& clients);

struct Command {
  std::string name;  // kebab-case; the JS method is its camelCase
  ClientKind client = ClientKind::Management;
  std::vector<ArgSpec> args;
  std::string help;
  std::string returns;  // what the JSON result holds
  CommandHandler handler = nullptr;
  std::vector<std::string> cli_aliases;  // further CLI verbs
  // Takes a "continuation" argument and returns the next one ("" when done): one call
  // is one page of a longer walk, and the CLI and the JS API can walk every page
  // (run_command_pages, merge_pages).
  bool paged = false;
};

// Every command, in help order.
const std::vector<Command>& commands();
// By name or CLI alias; nullptr when there is none.
const Command* find_command(const std::string& name);
// "get-status" -> "getStatus".
std::string camel_case(const std::string& kebab);
// "timeoutMs" -> "timeout-ms".
std::string kebab_case(const std::string& camel);

// Checks `args` against the command's schema and returns them with defaults filled in.
nlohmann::json checked_args(const Command& command, const nlohmann::json& args);
// Looks the command up, checks its arguments and runs it.
nlohmann::json run_command(const std::string& name, const nlohmann::json& args, Clients& clients);
// The same for hosts that receive the arguments as JSON text (the JS facade,
// wasm/bindings.cpp): empty text is {}; the text is read within the codec's
// document size and nesting limits (limits.hpp), and text that is not JSON or
// breaks a limit is CommandError(InvalidInput) naming the byte or the limit.
nlohmann::json run_command_text(const std::string& name, std::string_view args_json, Clients& clients);
// Adds one page of a paged command's result to `total` (null before the first page):
// numbers add up, lists join, `items` keeps only the failed ones (as `failures`), the
// rest (continuation, dry_run) is the latest page's; `pages` counts the pages.
void merge_page(nlohmann::json& total, const nlohmann::json& page);
// Runs a paged command from the continuation in `args` (none: the start) until its
// walk is over, calling `progress` with the merged total after each page; any other
// command runs once, as run_command.
nlohmann::json run_command_pages(const std::string& name, const nlohmann::json& args, Clients& clients,
                                 const std::function<void(const nlohmann::json&)>& progress = {});
// The table itself, for hosts that build their surface from it:
// [{name, method, client, help, returns, paged, args:[{name,type,required,positional,default?,min?,max?,choices?,help}]}].
nlohmann::json commands_json();

// A duration as the commands take it: ms ("500") or whole units in any order
// ("7d", "12h", "1h30m", "45s", "500ms"), at most 64 characters. Empty when the
// text is not one or its value is over INT64_MAX ms.
std::optional<std::int64_t> parse_duration_ms(std::string_view text);

// The InstanceFilter object: {states:[Running|Completed|Failed], name, version,
// prefix, parent, rootsOnly, createdFromMs, createdToMs, updatedFromMs,
// updatedToMs, readyWorkBeforeMs, contains, tenant}; unknown keys are an error.
InstanceFilter filter_from_json(const nlohmann::json& filter);

}  // namespace duroxide
