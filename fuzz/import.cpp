// Export documents (ManagementClient::import_instance): what the playground's "import"
// and the CLI's import-instance read, into the playground's host on a database holding
// every sample, settled (support.hpp). An imported instance is then inspected as the playground
// shows it, its export re-imported, and the runtime runs it (a Running import replays
// the imported history against the sample code).
// Properties: any bytes import or raise a typed error; what imports reads back,
// re-imports to the same document, and runs without crashing.
#include "support.hpp"

using namespace duroxide;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string document(fuzz::as_text(data, size));
  {
    fuzz::Host host(fuzz::settled_database());
    std::string instance;
    if (fuzz::refused_cleanly([&] { instance = host.management->import_instance(document); })) {
      host.inspect_instance(instance);
      host.run(200);
      host.inspect_instance(instance);
    }
  }
  fuzz::check_disk_empty();
  return 0;
}
