// The command table's text entry (run_command_text): what the JS facade's every
// RuntimeClient / ManagementClient method sends (wasm/bindings.cpp: Engine.command) and
// what the CLI's parsed arguments become, run against the playground's host on a
// database holding every sample with nothing left to run (support.hpp: settled_database),
// then a bounded run of the runtime.
// Input: the command name, a newline, the arguments as JSON text.
// Properties: any input gives a result or a typed error; the runtime then runs whatever
// the command queued without crashing.
#include "support.hpp"

using namespace duroxide;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  const std::size_t newline = text.find('\n');
  const std::string name(text.substr(0, newline));
  const std::string_view args = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
  {
    fuzz::Host host(fuzz::settled_database());
    fuzz::refused_cleanly([&] {
      Clients clients{*host.client, *host.management, *host.pacer};
      const fuzz::Json result = run_command_text(name, args, clients);
      result.dump(-1, ' ', false, fuzz::Json::error_handler_t::replace);
    });
    host.run(200);
  }
  fuzz::check_disk_empty();
  return 0;
}
