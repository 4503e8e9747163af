// The smallest program on duroxide: one orchestration with one activity, a store from
// open_store, the threaded driver, a client that starts the instance and waits for it.
// Prints the output and exits 0 when the orchestration completed.
#include <iostream>

#include "duroxide/duroxide.hpp"
#include "duroxide/open_store.hpp"
#include "duroxide/platform.hpp"
#include "duroxide/runtime_client.hpp"

using namespace duroxide;

Task<std::string> greet(OrchestrationContext& ctx, std::string name) {
  std::string greeting = co_await ctx.schedule_activity("Hello", name);
  co_return greeting;
}

int main(int argc, char** argv) {
  const std::string location = argc > 1 ? argv[1] : ":memory:";
  SystemClock clock;
  RandomIdSource ids;
  Registry registry;
  registry.register_orchestration("Greet", greet);
  registry.register_activity("Hello", [](ActivityContext&, const std::string& name) {
    return "\"Hello, " + name.substr(1, name.size() - 2) + "!\"";
  });

  std::unique_ptr<Store> store = open_store(location, clock, ids);
  ThreadedDriver runtime(*store, registry, clock);
  runtime.start();
  RuntimeClient client(*store, *store);
  client.start_orchestration("hello-1", "Greet", "\"world\"");
  SleepPacer pacer(clock);
  const OrchestrationStatus status = client.wait_for_orchestration("hello-1", 30'000, pacer);
  runtime.shutdown(5'000);
  if (status.state != RuntimeState::Completed) {
    std::cerr << "hello: the orchestration did not complete\n";
    return 1;
  }
  std::cout << status.output << "\n";
  return 0;
}
