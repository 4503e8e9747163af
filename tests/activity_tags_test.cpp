// Activity tags: ActivityOptions::tag in history and on the worker item, replay's
// match of the tag, the limits, TagFilter, the stores' filtered fetches, the runtime's
// routing (RuntimeOptions::worker_tag_filter) and the tag carried by export/import.
#include <algorithm>

#include "duroxide/management_client.hpp"
#include "duroxide/runtime.hpp"
#include "provider_suite.hpp"
#include "replay_support.hpp"

using namespace duroxide;
using namespace duroxide::testing;

namespace {

Task<std::string> render(OrchestrationContext& ctx, std::string input) {
  co_return co_await ctx.schedule_activity("Render", input, ActivityOptions("gpu"));
}

Task<std::string> render_with_retry(OrchestrationContext& ctx, std::string input) {
  RetryPolicy policy;
  policy.max_attempts = 2;
  policy.backoff = RetryPolicy::Backoff::None;
  co_return co_await ctx.schedule_activity_with_retry("Render", input, policy, ActivityOptions("gpu"));
}

// Two activities: one untagged, one tagged; returns both results.
Task<std::string> mixed(OrchestrationContext& ctx, std::string) {
  std::string plain = co_await ctx.schedule_activity("Where", "plain");
  std::string tagged = co_await ctx.schedule_activity("Where", "tagged", ActivityOptions("gpu"));
  co_return plain + "|" + tagged;
}

Registry tags_registry() {
  Registry registry;
  registry.register_orchestration("Render", render);
  registry.register_orchestration("RenderWithRetry", render_with_retry);
  registry.register_orchestration("Mixed", mixed);
  // Its input is the tag, but "invalid" stands for bytes that are not UTF-8.
  registry.register_orchestration("BadTag", [](OrchestrationContext& ctx, std::string input) -> Task<std::string> {
    const std::string tag = input == "invalid" ? std::string("g\xff") : input;
    co_return co_await ctx.schedule_activity("Render", "x", ActivityOptions(tag));
  });
  // The activity answers with its input and the tag it was scheduled with.
  registry.register_activity("Where", [](ActivityContext& context, const std::string& input) {
    return input + "@" + (context.tag.empty() ? std::string("untagged") : context.tag);
  });
  registry.register_activity("Render", [](ActivityContext& context, const std::string& input) {
    return "rendered " + input + " on " + context.tag;
  });
  return registry;
}


}  // namespace

// ---------------------------------------------------------------- engine

TEST_CASE("a tagged activity's event and worker item carry the tag", "[tags][replay]") {
  Registry registry = tags_registry();
  TurnResult first = turn(registry, {}, {start("Render", "frame")});
  REQUIRE(first.new_events.size() == 2);
  const auto* scheduled = first.new_events[1].as<events::ActivityScheduled>();
  REQUIRE(scheduled != nullptr);
  CHECK(scheduled->tag == "gpu");
  CHECK(only_activity(first).tag == "gpu");
  CHECK(describe(first.new_events[1].data) == "ActivityScheduled(name=\"Render\", input=\"frame\", tag=\"gpu\")");

  // Every retry attempt goes to the same workers.
  TurnResult retried = turn(registry, {}, {start("RenderWithRetry", "frame")});
  CHECK(only_activity(retried).tag == "gpu");
  History history = appended({}, retried);
  TurnResult second = turn(registry, history, {work::ActivityFailed{"inst", 1, 2, ErrorDetails::activity_failed("no")}});
  CHECK(only_activity(second).tag == "gpu");
}

TEST_CASE("replay matches the tag: a changed or dropped tag is a mismatch naming both commands",
          "[tags][nondeterminism]") {
  Registry registry = tags_registry();
  HistoryBuilder recorded("Render", "frame");
  EventId id = recorded.add(events::ActivityScheduled{"Render", "frame", "gpu"});
  recorded.completed(id, "done");
  recorded.add(events::OrchestrationCompleted{"done"});
  CHECK(replay_history(registry, "inst", 1, recorded.history()).deterministic);

  HistoryBuilder retagged = recorded;
  retagged.history()[1].data = events::ActivityScheduled{"Render", "frame", "cpu"};
  ReplayReport report = replay_history(registry, "inst", 1, retagged.history());
  REQUIRE(report.mismatch);
  CHECK(report.mismatch->event_index == 1);
  CHECK(report.mismatch->expected == "ActivityScheduled(name=\"Render\", input=\"frame\", tag=\"cpu\")");
  CHECK(report.mismatch->actual == "ActivityScheduled(name=\"Render\", input=\"frame\", tag=\"gpu\")");

  // A history written before the code tagged the activity.
  HistoryBuilder untagged = recorded;
  untagged.history()[1].data = events::ActivityScheduled{"Render", "frame"};
  report = replay_history(registry, "inst", 1, untagged.history());
  REQUIRE(report.mismatch);
  CHECK(report.mismatch->expected == "ActivityScheduled(name=\"Render\", input=\"frame\")");
}

TEST_CASE("a tag over the limit or not UTF-8 fails the orchestration, naming the limit", "[tags][limits]") {
  Registry registry = tags_registry();
  const std::string at_limit(limits::kMaxTagBytes, 't');
  TurnResult ok = turn(registry, {}, {start("BadTag", at_limit)});
  CHECK(only_activity(ok).tag == at_limit);

  TurnResult over = turn(registry, {}, {start("BadTag", at_limit + "t")});
  CHECK(over.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(over.outcome.error.message == "an activity tag is 257 bytes, over the limit of 256");
  CHECK(over.worker_items.empty());

  TurnResult invalid = turn(registry, {}, {start("BadTag", "invalid")});
  CHECK(invalid.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(invalid.outcome.error.message == "an activity tag is not valid UTF-8");

  // A NUL byte: PostgreSQL could not store it, so every store refuses it alike.
  TurnResult nul = turn(registry, {}, {start("BadTag", std::string("g\0pu", 4))});
  CHECK(nul.outcome.kind == TurnOutcomeKind::Failed);
  CHECK(nul.outcome.error.message == "an activity tag holds a NUL byte");
}

TEST_CASE("the codec keeps a tag, omits an empty one and refuses one over the limit", "[tags][codec]") {
  const std::string untagged = encode_work_item(work::ActivityExecute{"i", 1, 2, "Act", "in"});
  CHECK(untagged.find("\"tag\"") == std::string::npos);
  const WorkItem tagged = work::ActivityExecute{"i", 1, 2, "Act", "in", "gpu"};
  CHECK(decode_work_item(encode_work_item(tagged)) == tagged);
  const Event event{2, 0, 5, events::ActivityScheduled{"Act", "in", "\u00e9t\u00e9"}};
  CHECK(decode_event(encode_event(event)) == event);

  const std::string too_long(limits::kMaxTagBytes + 1, 'x');
  try {
    decode_event(R"({"event_id":2,"kind":"ActivityScheduled","name":"Act","input":"","tag":")" + too_long +
                 R"(","source_event_id":0,"timestamp_ms":0})");
    FAIL("a tag over the limit decoded");
  } catch (const CodecError& error) {
    CHECK(error.field() == "event.tag");
  }
}

TEST_CASE("TagFilter: the filters it refuses", "[tags]") {
  // What each mode takes is the stores' rule, checked by the contract cases below.
  for (const TagFilter& valid : {TagFilter{}, TagFilter::any(), TagFilter::none(), TagFilter::only({"a"}),
                                 TagFilter::default_and({"a", "b", "c", "d", "e"})}) {
    CHECK(valid.problem().empty());
  }
  CHECK(TagFilter::only({}).problem() == "a tag filter of mode tags() names at least one tag");
  CHECK(TagFilter::default_and({"a", "b", "c", "d", "e", "f"}).problem() ==
        "a tag filter names 6 tags, over the limit of 5");
  CHECK(TagFilter::only({""}).problem() == "a tag filter's tag must not be empty");
  CHECK(TagFilter::only({std::string(257, 'x')}).problem() == "a tag filter's tag is 257 bytes, over the limit of 256");
  CHECK(TagFilter::only({"a\xff"}).problem() == "a tag filter's tag is not valid UTF-8");
  CHECK(TagFilter::only({std::string("g\0pu", 4)}).problem() == "a tag filter's tag holds a NUL byte");
  CHECK(TagFilter::only({"gpu", "gpu"}).problem() == "a tag filter names the tag \"gpu\" twice");
  CHECK(TagFilter{TagFilter::Mode::Any, {"gpu"}}.problem() == "a tag filter of mode any names no tags");
  CHECK(TagFilter::default_and({"gpu", "fpga"}).to_string() == "default-and(gpu, fpga)");
}

// ---------------------------------------------------------------- stores

namespace {

// Puts activities 2.. of instance `instance` on the worker queue through one ack, with
// the tags given ("" for untagged), in that order.
void schedule_tagged(ProviderUnderTest& f, const std::string& instance, const std::vector<std::string>& tags) {
  create_instance(f, instance);
  f.provider().enqueue_orchestrator_item(work::ExternalRaised{instance, "go", ""}, 0);
  OrchestrationItem item = fetch(f);
  OrchestrationAck ack;
  for (std::size_t k = 0; k < tags.size(); ++k) {
    const EventId id = static_cast<EventId>(2 + k);
    ack.history_delta.push_back(Event{id, 0, 0, events::ActivityScheduled{"Act", "in", tags[k]}});
    ack.worker_items.push_back(work::ActivityExecute{instance, 1, id, "Act", "in", tags[k]});
  }
  ack.metadata = metadata();
  f.provider().ack_orchestration_item(item.lock_token, ack);
}

// The activity ids a filter's fetches take, one at a time until none is left (each is
// acked, so the next fetch goes on); in fetch order.
std::vector<EventId> drain(ProviderUnderTest& f, const TagFilter& filter) {
  std::vector<EventId> ids;
  while (std::optional<WorkerItem> item = f.provider().fetch_work_item(30'000, filter)) {
    ids.push_back(item->item.id);
    f.provider().ack_work_item(item->lock_token, std::nullopt);
  }
  return ids;
}

}  // namespace

TEST_CASE("contract: a fetch takes only the tags its filter names, oldest first, passing the others by",
          "[provider][worker][tags]") {
  FOR_EACH_PROVIDER(f);
  // ids:                   2     3      4   5       6      7
  schedule_tagged(f, "i", {"gpu", "", "fpga", "", "gpu", "cpu"});

  // The oldest rows are tagged: an untagged fetch passes them by, never blocked.
  CHECK(drain(f, TagFilter{}) == std::vector<EventId>{3, 5});
  CHECK(drain(f, TagFilter::none()).empty());
  CHECK(drain(f, TagFilter::only({"gpu"})) == std::vector<EventId>{2, 6});
  CHECK(drain(f, TagFilter::default_and({"cpu"})) == std::vector<EventId>{7});
  CHECK(drain(f, TagFilter::any()) == std::vector<EventId>{4});
  CHECK(f.management().get_queue_depths().worker_visible == 0);
}

TEST_CASE("contract: a batched fetch keeps to its filter; an invalid filter is refused as InvalidInput",
          "[provider][worker][tags][batch]") {
  FOR_EACH_PROVIDER(f);
  schedule_tagged(f, "i", {"gpu", "", "gpu", "", "fpga", "gpu"});
  std::vector<WorkerItem> gpu = f.provider().fetch_work_items(30'000, 8, TagFilter::only({"gpu"}));
  REQUIRE(gpu.size() == 3);
  for (const WorkerItem& item : gpu) CHECK(item.item.tag == "gpu");
  CHECK(gpu[0].item.id == 2);
  CHECK(gpu[2].item.id == 7);
  std::vector<WorkerItem> rest = f.provider().fetch_work_items(30'000, 8, TagFilter::default_and({"fpga"}));
  REQUIRE(rest.size() == 3);
  CHECK(rest[0].item.id == 3);
  CHECK(rest[2].item.tag == "fpga");
  CHECK(f.provider().fetch_work_items(30'000, 8, TagFilter::any()).empty());  // all locked
  CHECK(f.provider().fetch_work_items(30'000, 8, TagFilter::none()).empty());

  for (const TagFilter& invalid : {TagFilter::only({}), TagFilter::only({"a", "b", "c", "d", "e", "f"}),
                                   TagFilter::only({std::string(limits::kMaxTagBytes + 1, 't')})}) {
    CHECK(provider_error_kind([&] { f.provider().fetch_work_items(30'000, 4, invalid); }) ==
          ProviderErrorKind::InvalidInput);
    CHECK(provider_error_kind([&] { f.provider().fetch_work_item(30'000, invalid); }) ==
          ProviderErrorKind::InvalidInput);
  }
}

TEST_CASE("contract: a fetch of several tags takes their rows in queue order, a batch no more than its size",
          "[provider][worker][tags][batch]") {
  FOR_EACH_PROVIDER(f);
  // ids:                   2     3    4       5      6      7    8
  schedule_tagged(f, "i", {"gpu", "", "fpga", "cpu", "gpu", "", "fpga"});
  auto ids = [](const std::vector<WorkerItem>& items) {
    std::vector<EventId> out;
    for (const WorkerItem& item : items) out.push_back(item.item.id);
    return out;
  };
  // The filter names fpga first; the rows still come oldest first, and the batch stops at 3.
  CHECK(ids(f.provider().fetch_work_items(30'000, 3, TagFilter::only({"fpga", "gpu"}))) == std::vector<EventId>{2, 4, 6});
  // Row 8 (fpga) was not claimed by that batch.
  CHECK(ids(f.provider().fetch_work_items(30'000, 8, TagFilter::default_and({"fpga"}))) == std::vector<EventId>{3, 7, 8});
  std::optional<WorkerItem> one = f.provider().fetch_work_item(30'000, TagFilter::only({"gpu", "cpu"}));
  REQUIRE(one.has_value());
  CHECK(one->item.id == 5);
  CHECK_FALSE(f.provider().fetch_work_item(30'000, TagFilter::only({"gpu", "cpu"})).has_value());  // 2 and 6 are locked
}

TEST_CASE("contract: a tag's quotes and SQL reach the store as a value", "[provider][worker][tags]") {
  FOR_EACH_PROVIDER(f);
  const std::string strange = "g'pu\"); DROP TABLE worker_queue; --";
  schedule_tagged(f, "i", {strange, "gpu"});
  CHECK(drain(f, TagFilter::only({"gpu"})) == std::vector<EventId>{3});
  std::optional<WorkerItem> item = f.provider().fetch_work_item(30'000, TagFilter::only({strange}));
  REQUIRE(item.has_value());
  CHECK(item->item.tag == strange);
}

// ---------------------------------------------------------------- runtime

namespace {

struct TagWorld {
  ManualClock clock;
  SequentialIdSource ids{"lock"};
  Registry registry = tags_registry();
  SqliteProvider store{":memory:", clock, ids};

  void start(const std::string& id, const std::string& name, const std::string& input = "") {
    store.enqueue_orchestrator_item(work::StartOrchestration{id, name, {}, input, {}, 0, {}}, 0);
  }
  InstanceInfo info(const std::string& id) {
    auto found = store.get_instance_info(id);
    REQUIRE(found.has_value());
    return *found;
  }
};

RuntimeOptions with_filter(TagFilter filter) {
  RuntimeOptions options;
  options.worker_tag_filter = std::move(filter);
  return options;
}

}  // namespace

TEST_CASE("the default workers leave a tagged activity queued and visible; a worker of its tag runs it",
          "[tags][runtime]") {
  TagWorld world;
  world.start("m", "Mixed");
  StepDriver defaults(world.store, world.registry, world.clock);
  defaults.run_until_idle();
  CHECK(world.info("m").state == RuntimeState::Running);
  CHECK(world.store.get_queue_depths().worker_visible == 1);
  ManagementClient management(world.store);
  InstanceDetails details = management.get_instance_details("m");
  REQUIRE(details.pending.size() == 1);
  CHECK(details.pending[0].name == "Where");
  CHECK(details.pending[0].tag == "gpu");

  // A runtime that runs orchestrations only, and one whose workers take "gpu".
  StepDriver orchestrations_only(world.store, world.registry, world.clock, with_filter(TagFilter::none()));
  WorkerDispatcher gpu(world.store, world.registry, world.clock, with_filter(TagFilter::only({"gpu"})));
  CHECK(gpu.step());
  orchestrations_only.run_until_idle();
  CHECK(world.info("m").state == RuntimeState::Completed);
  CHECK(world.info("m").output == "plain@untagged|tagged@gpu");
  CHECK(replay_history(world.registry, "m", 1, world.store.read("m")).deterministic);
}

TEST_CASE("a runtime whose filter takes every tag runs tagged and untagged activities", "[tags][runtime]") {
  TagWorld world;
  world.start("m", "Mixed");
  world.start("r", "RenderWithRetry", "frame");
  StepDriver any(world.store, world.registry, world.clock, with_filter(TagFilter::any()));
  any.run_until_idle();
  CHECK(world.info("m").output == "plain@untagged|tagged@gpu");
  CHECK(world.info("r").output == "rendered frame on gpu");
}

TEST_CASE("an invalid worker tag filter is refused when the dispatcher is made", "[tags][runtime]") {
  TagWorld world;
  try {
    WorkerDispatcher bad(world.store, world.registry, world.clock,
                         with_filter(TagFilter::default_and({"a", "b", "c", "d", "e", "f"})));
    FAIL("a filter of six tags was accepted");
  } catch (const std::invalid_argument& error) {
    CHECK(std::string(error.what()) ==
          "RuntimeOptions::worker_tag_filter: a tag filter names 6 tags, over the limit of 5");
  }
  CHECK_THROWS_AS(StepDriver(world.store, world.registry, world.clock, with_filter(TagFilter::only({}))),
                  std::invalid_argument);
}

TEST_CASE("an imported running instance resumes its pending tagged activity with the tag", "[tags][export]") {
  TagWorld source;
  source.start("r", "Render", "frame");
  StepDriver(source.store, source.registry, source.clock).run_until_idle();  // the activity waits: no gpu worker
  const std::string document = ManagementClient(source.store).export_instance("r");

  TagWorld target;
  ManagementClient(target.store).import_instance(document);
  CHECK(target.store.fetch_work_items(30'000, 4).empty());  // untagged workers do not take it
  StepDriver gpu(target.store, target.registry, target.clock, with_filter(TagFilter::default_and({"gpu"})));
  gpu.run_until_idle();
  CHECK(target.info("r").state == RuntimeState::Completed);
  CHECK(target.info("r").output == "rendered frame on gpu");
}
