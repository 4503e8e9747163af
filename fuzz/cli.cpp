// The CLI's argument words (cli/arguments.hpp): the verb, positional words and --flags
// read by the command table's schema or the host verbs' table. Input: the words, each
// ended by a NUL byte (as argv holds them). A document argument's file holds its name.
// Properties: any words give arguments the command table accepts (checked_args) or a
// UsageError / CommandError; nothing else escapes; `serve --replay-versions` parses into a
// valid capability filter or a UsageError.
#include "../cli/arguments.hpp"
#include "support.hpp"

using namespace duroxide;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  std::vector<std::string> words;
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t end = std::min(text.find('\0', start), text.size());
    words.emplace_back(text.substr(start, end - start));
    start = end + 1;
  }
  const cli::FileReader file_named = [](const std::string& path, std::size_t max_bytes) {
    if (path.size() > max_bytes) throw cli::UsageError(path + " is over the limit");
    return path;
  };
  try {
    const cli::Args args = cli::parse_arguments(words, file_named);
    if (args.command) {
      fuzz::check(checked_args(*args.command, args.command_args) == args.command_args,
                  "parsed arguments are the command's checked arguments");
    }
    for (const char* option : {"timeout-ms", "execution"}) args.number(option, 0);
    if (args.options.count("replay-versions")) {
      const CapabilityFilter filter = cli::parse_replay_versions(args.option("replay-versions"));
      fuzz::check(filter.problem().empty(), "parsed replay versions are a valid filter");
    }
  } catch (const cli::UsageError&) {
  } catch (const CommandError&) {
  } catch (const std::exception& error) {
    fuzz::fail(std::string("untyped exception escaped the CLI's parser: ") + error.what());
  }
  return 0;
}
