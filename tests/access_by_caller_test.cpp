// Access by caller (access_policy.hpp): tenants isolate, on every store; the standard
// RolePolicy grants by role.
#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <set>
#include <utility>

#include "duroxide/management_client.hpp"
#include "duroxide/runtime_client.hpp"
#include "duroxide/samples.hpp"
#include "forwarding_management.hpp"
#include "step_host.hpp"

using namespace duroxide;

namespace {

Registry catalog() {
  Registry registry;
  samples::register_all(registry);
  return registry;
}

// Clients of one caller over a shared host's store.
struct CallerClients {
  RuntimeClient runtime;
  ManagementClient management;
  CallerClients(testing::StepHost& host, const Caller& caller, const AccessPolicy* policy = nullptr)
      : runtime(host.store, host.admin, options(caller, policy)), management(host.admin, management_options(caller, policy)) {}
  static ClientOptions options(const Caller& caller, const AccessPolicy* policy) {
    ClientOptions out;
    out.caller = caller;
    out.access_policy = policy;
    return out;
  }
  static ManagementOptions management_options(const Caller& caller, const AccessPolicy* policy) {
    ManagementOptions out;
    out.caller = caller;
    out.access_policy = policy;
    return out;
  }
};

Caller tenant(const std::string& name, std::vector<std::string> roles = {}) {
  Caller caller;
  caller.principal = name + "-user";
  caller.tenant = name;
  caller.roles = std::move(roles);
  return caller;
}

bool fails_with(ClientError::Kind kind, const std::function<void()>& call) {
  try {
    call();
  } catch (const ClientError& error) {
    return error.kind() == kind;
  }
  return false;
}

std::set<std::string> ids(const std::vector<InstanceSummary>& summaries) {
  std::set<std::string> out;
  for (const auto& summary : summaries) out.insert(summary.info.instance);
  return out;
}

// Two tenants on one store: acme runs a parent with two children, a one-activity
// HelloWorld and a waiting Approval; globex runs a HelloWorld and a waiting Approval.
struct TwoTenants {
  testing::StepHost host;
  CallerClients acme;
  CallerClients globex;
  explicit TwoTenants(const std::string& kind)
      : host(catalog(), {}, kind), acme(host, tenant("acme")), globex(host, tenant("globex")) {
    acme.runtime.start_orchestration("a-parent", "Parent", R"(["x","y"])");
    acme.runtime.start_orchestration("a-hello", "HelloWorld", "Ada", "1.0.0");
    acme.runtime.start_orchestration("a-wait", "Approval", R"({"timeout_ms":600000})");
    globex.runtime.start_orchestration("g-hello", "HelloWorld", "Bo", "1.0.0");
    globex.runtime.start_orchestration("g-wait", "Approval", R"({"timeout_ms":600000})");
    host.driver.run_until_idle();
  }
};

// Counts the reads of one instance's row or tenant that an access check may make.
class RowReadCounting : public testing::ForwardingManagement {
 public:
  using ForwardingManagement::ForwardingManagement;
  std::optional<InstanceInfo> get_instance_info(const std::string& instance) override {
    ++reads;
    return inner_.get_instance_info(instance);
  }
  std::optional<std::string> get_instance_tenant(const std::string& instance) override {
    ++reads;
    return inner_.get_instance_tenant(instance);
  }
  int take() { return std::exchange(reads, 0); }
  int reads = 0;
};

}  // namespace

TEST_CASE("a tenant sees only its own instances, children included, in listings, counts and trees",
          "[access][tenant]") {
  PROVIDER_KIND(kind);
  TwoTenants t(kind);
  const std::set<std::string> acme_ids = ids(t.acme.management.list_instances({}, {{}, 100}).instances);
  CHECK(acme_ids.size() == 5);  // the parent, its two children, a-hello, a-wait
  for (const std::string& id : acme_ids) CHECK(id.rfind("a-", 0) == 0);
  for (const auto& summary : t.acme.management.list_instances({}, {{}, 100}).instances) {
    CHECK(summary.info.tenant == "acme");  // the children inherited their parent's tenant
  }
  CHECK(ids(t.globex.management.list_instances({}, {{}, 100}).instances) ==
        std::set<std::string>{"g-hello", "g-wait"});
  CHECK(t.acme.management.count_instances({}) == 5);
  CHECK(t.globex.management.count_instances({}) == 2);
  std::map<RuntimeState, std::uint64_t> globex_counts = t.globex.management.count_by_status();
  CHECK(globex_counts[RuntimeState::Completed] == 1);
  CHECK(globex_counts[RuntimeState::Running] == 1);
  InstanceFilter hellos;
  hellos.orchestration_name = "HelloWorld";
  CHECK(t.acme.management.count_instances(hellos) == 3);  // a-hello and the two children
  hellos.roots_only = true;
  CHECK(t.acme.management.count_instances(hellos) == 1);
  CHECK(t.acme.management.get_instance_tree("a-parent").children.size() == 2);

  // An operator over every tenant sees all, and can narrow to one.
  CHECK(t.host.management.count_instances({}) == 7);
  InstanceFilter only_globex;
  only_globex.tenant = "globex";
  CHECK(ids(t.host.management.list_instances(only_globex, {{}, 100}).instances) ==
        std::set<std::string>{"g-hello", "g-wait"});
  CHECK(t.host.management.count_instances(only_globex) == 2);
  // A bound caller cannot widen its view by naming another tenant.
  CHECK(fails_with(ClientError::Kind::AccessDenied, [&] { t.acme.management.list_instances(only_globex, {}); }));
}

TEST_CASE("another tenant's instance is NotFound to every call, and nothing is sent to it",
          "[access][tenant]") {
  PROVIDER_KIND(kind);
  TwoTenants t(kind);
  RuntimeClient& acme = t.acme.runtime;
  ManagementClient& admin = t.acme.management;
  CHECK(acme.get_status("g-hello").state == RuntimeState::NotFound);
  CHECK(acme.get_status("a-hello").state == RuntimeState::Completed);
  CHECK(fails_with(ClientError::Kind::NotFound, [&] { acme.raise_event("g-wait", "Approve", "x"); }));
  CHECK(fails_with(ClientError::Kind::NotFound, [&] { acme.enqueue_event("g-wait", "q", "x"); }));
  CHECK(fails_with(ClientError::Kind::NotFound, [&] { acme.cancel_instance("g-wait", "x"); }));
  CHECK(fails_with(ClientError::Kind::NotFound, [&] { admin.get_instance_details("g-wait"); }));
  CHECK(fails_with(ClientError::Kind::NotFound, [&] { admin.read_execution("g-wait", 1); }));
  CHECK(fails_with(ClientError::Kind::NotFound, [&] { admin.get_instance_tree("g-wait"); }));
  CHECK(fails_with(ClientError::Kind::NotFound, [&] { admin.export_instance("g-wait"); }));
  CHECK(fails_with(ClientError::Kind::NotFound, [&] { admin.delete_instance("g-hello", true); }));
  CHECK(admin.get_bulk_status({"a-hello", "g-hello"})[1].second.state == RuntimeState::NotFound);
  // Ids are one namespace: a taken id is taken, whoever holds it.
  CHECK(fails_with(ClientError::Kind::AlreadyExists, [&] { acme.start_orchestration("g-hello", "HelloWorld", "x"); }));
  t.host.driver.run_until_idle();
  CHECK(t.host.client.get_status("g-wait").state == RuntimeState::Running);  // untouched
  CHECK(t.host.admin.get_queue_depths().orchestrator_visible == 0);
  // Before its first turn, a queued start already belongs to its tenant.
  t.globex.runtime.start_orchestration("g-queued", "Approval", R"({"timeout_ms":600000})");
  CHECK(fails_with(ClientError::Kind::NotFound, [&] { acme.raise_event("g-queued", "Approve", "x"); }));
  t.globex.runtime.raise_event("g-queued", "Approve", "yes");
  t.host.driver.run_until_idle();
  CHECK(t.globex.runtime.get_status("g-queued").output == "approved:yes");
}

TEST_CASE("an orchestration reads only its own tenant's key-value stores", "[access][tenant][kv]") {
  PROVIDER_KIND(kind);
  Registry registry;
  registry.register_orchestration("Writer", [](OrchestrationContext& ctx, std::string) -> Task<std::string> {
    ctx.set_value("secret", "acme's");
    co_await ctx.schedule_wait("done");
    co_return "";
  });
  registry.register_orchestration("Reader", [](OrchestrationContext& ctx, std::string of) -> Task<std::string> {
    std::optional<std::string> value = co_await ctx.get_value_from_instance(of, "secret");
    co_return value.value_or("none");
  });
  testing::StepHost host(std::move(registry), {}, kind);
  CallerClients acme(host, tenant("acme"));
  CallerClients globex(host, tenant("globex"));
  acme.runtime.start_orchestration("a-writer", "Writer", "");
  host.driver.run_until_idle();
  acme.runtime.start_orchestration("a-reader", "Reader", "a-writer");
  globex.runtime.start_orchestration("g-reader", "Reader", "a-writer");
  host.client.start_orchestration("unbound-reader", "Reader", "a-writer");
  host.driver.run_until_idle();
  CHECK(acme.runtime.get_status("a-reader").output == "acme's");
  // Another tenant's store is as absent as an unknown instance's, as to its clients.
  CHECK(globex.runtime.get_status("g-reader").output == "none");
  CHECK(host.client.get_status("unbound-reader").output == "none");
}

TEST_CASE("bulk work of a tenant touches only its own instances", "[access][tenant][bulk]") {
  PROVIDER_KIND(kind);
  TwoTenants t(kind);
  BulkRequest running;
  const BulkResult cancelled = t.acme.runtime.cancel_instances(running, "closing");
  CHECK(cancelled.succeeded == 1);  // a-wait, not g-wait
  CHECK(cancelled.items.size() == 1);
  t.host.driver.run_until_idle();
  BulkRequest listed;
  listed.instances = {"a-wait", "g-wait"};
  const BulkResult raised = t.acme.runtime.raise_event_bulk(listed, "Approve", "x");
  CHECK(raised.failed == 2);  // a-wait has finished; g-wait is not acme's
  REQUIRE(raised.items.size() == 2);
  CHECK(raised.items[1].error.find("does not exist") != std::string::npos);
  t.host.driver.run_until_idle();
  CHECK(t.host.client.get_status("a-wait").state == RuntimeState::Failed);
  CHECK(t.host.client.get_status("g-wait").state == RuntimeState::Running);

  t.host.clock.advance(1000);
  const DeleteResult purged = t.acme.management.purge_completed(t.host.clock.now_ms());
  CHECK(purged.instances == 5);  // a-parent with its two children, a-hello, a-wait
  CHECK(t.acme.management.count_instances({}) == 0);
  CHECK(t.host.management.count_instances({}) == 2);
  CHECK(t.host.client.get_status("g-hello").state == RuntimeState::Completed);
  BulkDeleteRequest by_id;
  by_id.instances = {"g-hello"};
  const DeleteResult none = t.acme.management.delete_instances(by_id);
  CHECK(none.instances == 0);
  CHECK(none.denied.empty());  // another tenant's id is not named back
  CHECK(t.host.client.get_status("g-hello").state == RuntimeState::Completed);
}

TEST_CASE("statistics, time series and the change feed of a tenant count only its instances",
          "[access][tenant][analytics]") {
  PROVIDER_KIND(kind);
  TwoTenants t(kind);
  auto stats_of = [](const std::vector<OrchestrationStats>& all, const std::string& name) {
    for (const auto& entry : all) {
      if (entry.orchestration_name == name) return entry;
    }
    return OrchestrationStats{};
  };
  CHECK(stats_of(t.acme.management.get_orchestration_stats(), "HelloWorld").completed == 3);
  CHECK(stats_of(t.globex.management.get_orchestration_stats(), "HelloWorld").completed == 1);
  CHECK(stats_of(t.host.management.get_orchestration_stats(), "HelloWorld").completed == 4);
  CHECK(stats_of(t.globex.management.get_orchestration_stats(), "Parent").completed == 0);

  auto scheduled = [](const std::vector<ActivityStats>& all) {
    std::uint64_t total = 0;
    for (const auto& entry : all) total += entry.scheduled;
    return total;
  };
  const std::uint64_t acme_activities = scheduled(t.acme.management.get_activity_stats());
  const std::uint64_t globex_activities = scheduled(t.globex.management.get_activity_stats());
  CHECK(globex_activities == 1);  // g-hello's one activity
  CHECK(acme_activities == 1);  // a-hello's (the children run HelloWorld 2.0.0, without one)
  CHECK(scheduled(t.host.management.get_activity_stats()) == acme_activities + globex_activities);

  CHECK(t.globex.management.get_performance_metrics("HelloWorld").count == 1);
  CHECK(t.host.management.get_performance_metrics("HelloWorld").count == 4);

  const TimestampMs now = t.host.clock.now_ms();
  auto starts = [&](ManagementClient& management) {
    std::uint64_t total = 0;
    for (const auto& point : management.get_time_series(TimeSeriesMetric::Starts, "", now - 60'000, now + 60'000).points) {
      total += point.starts;
    }
    return total;
  };
  CHECK(starts(t.acme.management) == 5);
  CHECK(starts(t.globex.management) == 2);
  CHECK(starts(t.host.management) == 7);

  const ChangePage feed = t.globex.management.changes_since(0, 1000);
  REQUIRE_FALSE(feed.changes.empty());
  for (const auto& change : feed.changes) {
    CHECK(change.instance.rfind("g-", 0) == 0);
    CHECK(change.tenant == "globex");
  }
  std::uint64_t watched = 0;
  for (const auto& delta : t.globex.management.watch_metrics(0, 1000).deltas) watched += delta.starts;
  CHECK(watched == 2);

  // Store-wide views describe every tenant at once: refused to a bound caller.
  CHECK(fails_with(ClientError::Kind::AccessDenied, [&] { t.acme.management.get_queue_depths(); }));
  CHECK(fails_with(ClientError::Kind::AccessDenied, [&] { t.acme.management.get_system_metrics(); }));
  CHECK(fails_with(ClientError::Kind::AccessDenied, [&] { t.acme.management.get_provider_diagnostics(); }));
  CHECK(fails_with(ClientError::Kind::AccessDenied, [&] { t.acme.management.list_parked_messages(); }));
  CHECK(fails_with(ClientError::Kind::AccessDenied, [&] { t.acme.management.delete_parked_messages({1}); }));
  SystemHealth health = t.globex.management.get_system_health(now);
  CHECK(health.counts[RuntimeState::Running] == 1);
  CHECK(health.queues.oldest_orchestrator_age_ms == 0);
}

TEST_CASE("an export carries its tenant; an import stays in the importing caller's tenant",
          "[access][tenant][export]") {
  PROVIDER_KIND(kind);
  TwoTenants t(kind);
  const std::string exported = t.acme.management.export_instance("a-hello");
  CHECK(exported.find(R"("tenant":"acme")") != std::string::npos);
  t.acme.management.delete_instance("a-hello", false);
  CHECK(fails_with(ClientError::Kind::AccessDenied, [&] { t.globex.management.import_instance(exported); }));
  CHECK_FALSE(t.host.admin.get_instance_info("a-hello").has_value());
  t.acme.management.import_instance(exported);
  CHECK(t.host.admin.get_instance_info("a-hello")->tenant == "acme");
  // A document without a tenant lands in the importer's.
  const std::string untagged = t.host.management.export_instance("g-hello");
  t.host.management.delete_instance("g-hello", false);
  std::string stripped = untagged;
  const std::string field = R"(,"tenant":"globex")";
  const std::size_t at = stripped.find(field);
  REQUIRE(at != std::string::npos);
  stripped.erase(at, field.size());
  t.acme.management.import_instance(stripped);
  CHECK(t.host.admin.get_instance_info("g-hello")->tenant == "acme");
}

TEST_CASE("an import cannot link an instance to another tenant's parent", "[access][tenant][export]") {
  PROVIDER_KIND(kind);
  TwoTenants t(kind);
  std::string waiting = t.globex.management.export_instance("g-wait");
  t.globex.management.delete_instance("g-wait", true);
  const std::string link = R"("parent_instance":"")";
  REQUIRE(waiting.find(link) != std::string::npos);
  waiting.replace(waiting.find(link), link.size(), R"("parent_instance":"a-hello")");
  // Linked under acme's finished instance, it would hold back acme's purge for ever.
  CHECK(fails_with(ClientError::Kind::AccessDenied, [&] { t.globex.management.import_instance(waiting); }));
  CHECK_FALSE(t.host.admin.get_instance_info("g-wait").has_value());
  CHECK(t.acme.management.purge_completed(t.host.clock.now_ms() + 1).instances >= 1);
  CHECK_FALSE(t.host.admin.get_instance_info("a-hello").has_value());
  // Nor under a parent id no instance holds yet: another tenant could create it later.
  waiting.replace(waiting.find(R"("parent_instance":"a-hello")"), 27, R"("parent_instance":"later")");
  try {
    t.globex.management.import_instance(waiting);
    FAIL("imported under a parent that does not exist");
  } catch (const ClientError& error) {
    CHECK(error.kind() == ClientError::Kind::InvalidInput);
    CHECK(std::string(error.what()).find("imports a tree parent first") != std::string::npos);
  }
  CHECK_FALSE(t.host.admin.get_instance_info("g-wait").has_value());
}

TEST_CASE("an import of a parent after its child refuses a child of another tenant", "[access][tenant][export]") {
  PROVIDER_KIND(kind);
  TwoTenants t(kind);
  const std::string parent = t.host.management.export_instance("a-hello");
  t.host.management.delete_instance("a-hello", false);
  std::string child = t.host.management.export_instance("g-wait");
  t.host.management.delete_instance("g-wait", true);
  const std::string link = R"("parent_instance":"")";
  REQUIRE(child.find(link) != std::string::npos);
  child.replace(child.find(link), link.size(), R"("parent_instance":"a-hello")");
  // An unbound caller imports a tree in any order: the parent does not exist yet.
  t.host.management.import_instance(child);
  REQUIRE(t.host.admin.get_instance_info("g-wait")->tenant == "globex");
  // Acme's parent over globex's child is the link across tenants the other order refuses.
  CHECK(fails_with(ClientError::Kind::AccessDenied, [&] { t.host.management.import_instance(parent); }));
  CHECK_FALSE(t.host.admin.get_instance_info("a-hello").has_value());
  // So is acme's own import, which is not told globex's id.
  try {
    t.acme.management.import_instance(parent);
    FAIL("imported over another tenant's child");
  } catch (const ClientError& error) {
    CHECK(error.kind() == ClientError::Kind::AccessDenied);
    CHECK(std::string(error.what()).find("g-wait") == std::string::npos);
  }
  // A start of the id is not checked (docs/management.md): acme's delete of that tree then
  // refuses to take globex's child with it.
  t.acme.runtime.start_orchestration("a-hello", "HelloWorld", "Ada", "1.0.0");
  t.host.driver.run_until_idle();
  CHECK(fails_with(ClientError::Kind::AccessDenied, [&] { t.acme.management.delete_instance("a-hello", true); }));
  CHECK(t.host.admin.get_instance_info("g-wait").has_value());
}

TEST_CASE("a tenant-bound bulk delete of listed ids keeps to the cut-off and the limit", "[access][tenant][delete]") {
  PROVIDER_KIND(kind);
  TwoTenants t(kind);
  BulkDeleteRequest request;
  request.instances = {"a-hello", "a-parent", "g-hello"};
  request.completed_before_ms = 1;  // before either acme instance finished
  CHECK(t.acme.management.delete_instances(request).instances == 0);
  CHECK(t.host.admin.get_instance_info("a-hello").has_value());
  request.completed_before_ms = 0;
  request.limit = 1;
  // As the store counts it for an unbound caller: a running root (a-wait) is skipped, not counted.
  request.instances = {"a-wait", "a-hello", "a-parent", "g-hello"};
  CHECK(t.acme.management.delete_instances(request).instances == 1);  // a-hello, the one root the limit takes
  CHECK(t.host.admin.get_instance_info("a-wait").has_value());
  CHECK_FALSE(t.host.admin.get_instance_info("a-hello").has_value());
  CHECK(t.host.admin.get_instance_info("a-parent").has_value());
  CHECK(t.host.admin.get_instance_info("g-hello").has_value());  // another tenant's: never
}

TEST_CASE("a bulk continuation of one tenant's walk is refused on another's", "[access][tenant][bulk]") {
  PROVIDER_KIND(kind);
  TwoTenants t(kind);
  BulkRequest request;
  request.filter.tenant = "acme";
  request.batch = 1;
  const ManagementClient::ExportPage first = t.host.management.export_instances(request);
  REQUIRE_FALSE(first.result.continuation.empty());
  request.filter.tenant = "globex";
  request.continuation = first.result.continuation;
  CHECK(fails_with(ClientError::Kind::InvalidInput, [&] { t.host.management.export_instances(request); }));
}

TEST_CASE("the standard roles: a reader reads, an operator also controls, an admin also deletes",
          "[access][roles]") {
  PROVIDER_KIND(kind);
  testing::StepHost host(catalog(), {}, kind);
  host.run("done", "HelloWorld", "Ada");
  host.run("waiting", "Approval", R"({"timeout_ms":600000})");
  host.store.enqueue_orchestrator_item(work::ExternalRaised{"ghost", "Approve", "x"}, 0);
  host.driver.run_until_idle();  // parks it: no instance "ghost"
  REQUIRE(host.admin.list_parked_messages(0, 10).size() == 1);
  const std::int64_t parked = host.admin.list_parked_messages(0, 10)[0].id;
  const RolePolicy roles = RolePolicy::standard();
  CallerClients reader(host, tenant("", {"reader"}), &roles);
  CallerClients operator_(host, tenant("", {"operator"}), &roles);
  CallerClients admin(host, tenant("", {"admin"}), &roles);
  CallerClients nobody(host, tenant("", {}), &roles);

  CHECK(reader.runtime.get_status("done").output == "Hi, Ada!");
  CHECK(reader.management.count_instances({}) == 2);
  CHECK(reader.management.list_instances({}, {}).instances.size() == 2);
  CHECK(reader.management.get_instance_details("waiting").pending.size() >= 1);
  CHECK_FALSE(reader.management.export_instance("done").empty());
  CHECK(fails_with(ClientError::Kind::AccessDenied, [&] { reader.runtime.start_orchestration("new", "HelloWorld", "x"); }));
  CHECK(fails_with(ClientError::Kind::AccessDenied, [&] { reader.runtime.raise_event("waiting", "Approve", "x"); }));
  CHECK(fails_with(ClientError::Kind::AccessDenied, [&] { reader.runtime.cancel_instance("waiting", "x"); }));
  CHECK(fails_with(ClientError::Kind::AccessDenied, [&] { reader.management.delete_instance("done", false); }));
  CHECK(fails_with(ClientError::Kind::AccessDenied, [&] { reader.management.purge_completed(host.clock.now_ms() + 1); }));
  CHECK(reader.management.list_parked_messages().size() == 1);  // what is parked is read, not deleted
  CHECK(fails_with(ClientError::Kind::AccessDenied, [&] { reader.management.delete_parked_messages({parked}); }));
  CHECK(fails_with(ClientError::Kind::AccessDenied, [&] { nobody.runtime.get_status("done"); }));
  host.driver.run_until_idle();
  CHECK(host.client.get_status("waiting").state == RuntimeState::Running);
  CHECK_FALSE(host.admin.get_instance_info("new").has_value());

  operator_.runtime.start_orchestration("new", "HelloWorld", "Bo");
  operator_.runtime.raise_event("waiting", "Approve", "ok");
  CHECK(fails_with(ClientError::Kind::AccessDenied, [&] { operator_.management.delete_instance("done", false); }));
  CHECK(fails_with(ClientError::Kind::AccessDenied, [&] { operator_.management.delete_parked_messages({parked}); }));
  CHECK(host.admin.list_parked_messages(0, 10).size() == 1);
  host.driver.run_until_idle();
  CHECK(host.client.get_status("new").output == "Hi, Bo!");
  CHECK(host.client.get_status("waiting").output == "approved:ok");

  CHECK(admin.management.delete_instance("done", false).instances == 1);
  CHECK(admin.management.delete_parked_messages({parked}) == 1);
  CHECK(host.admin.list_parked_messages(0, 10).empty());
  CHECK_FALSE(host.admin.get_instance_info("done").has_value());
}

TEST_CASE("a caller out of its limits is refused when the client is made", "[access]") {
  testing::StepHost host(catalog());
  Caller bad;
  bad.tenant = std::string(300, 't');
  CHECK(fails_with(ClientError::Kind::InvalidInput, [&] { CallerClients clients(host, bad); }));
  bad.tenant = "a\nb";
  CHECK(fails_with(ClientError::Kind::InvalidInput, [&] { CallerClients clients(host, bad); }));
  bad.tenant = "ok";
  bad.roles = {""};
  CHECK(fails_with(ClientError::Kind::InvalidInput, [&] { CallerClients clients(host, bad); }));
  bad.roles.assign(kMaxCallerRoles + 1, "r");
  CHECK(fails_with(ClientError::Kind::InvalidInput, [&] { CallerClients clients(host, bad); }));
}

TEST_CASE("a check reads an instance's row once, and a bulk call does not read a listed row again",
          "[access][tenant]") {
  PROVIDER_KIND(kind);
  TwoTenants t(kind);
  const RolePolicy roles = RolePolicy::standard();
  RowReadCounting counting(t.host.admin);
  ClientOptions options;
  options.caller = tenant("acme", {"operator"});
  options.access_policy = &roles;
  RuntimeClient runtime(t.host.store, counting, options);
  ManagementOptions management_options;
  management_options.caller = options.caller;
  management_options.access_policy = &roles;
  ManagementClient management(counting, management_options);

  CHECK(runtime.get_status("a-hello").output == "Hello, Ada!");
  CHECK(counting.take() == 1);
  CHECK(runtime.get_status("g-hello").state == RuntimeState::NotFound);  // another tenant's
  CHECK(counting.take() == 1);
  CHECK(runtime.get_status("nobody").state == RuntimeState::NotFound);  // no row: the queue is asked
  CHECK(counting.take() == 2);
  CHECK_FALSE(management.get_instance_details("a-wait").pending.empty());
  CHECK(counting.take() == 1);
  CHECK(management.get_instance_tree("a-parent").children.size() == 2);
  CHECK(counting.take() == 1);

  BulkRequest listed;
  listed.filter.instance_prefix = "a-wait";
  CHECK(runtime.raise_event_bulk(listed, "Nudge", "x").succeeded == 1);
  CHECK(counting.take() == 0);  // the walk's row serves the check
  BulkRequest by_id;
  by_id.instances = {"a-wait", "g-wait"};
  const BulkResult cancelled = runtime.cancel_instances(by_id, "stop");
  CHECK(cancelled.succeeded == 1);
  CHECK(cancelled.failed == 1);
  CHECK(counting.take() == 2);  // one row per id
  t.host.driver.run_until_idle();
  CHECK(t.host.client.get_status("a-wait").state == RuntimeState::Failed);
  CHECK(t.host.client.get_status("g-wait").state == RuntimeState::Running);
}
