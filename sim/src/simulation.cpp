// The simulated world: nodes, clients, clock, disk and faults around the
// unchanged engine and SQLite provider. See simulation.hpp for the contract.
#include "duroxide/sim/simulation.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <set>
#include <stdexcept>

#include <sqlite3.h>

#include "duroxide/codec.hpp"
#include "duroxide/environment.hpp"
#include "duroxide/limits.hpp"
#include "duroxide/management_client.hpp"
#include "duroxide/replayer.hpp"
#include "duroxide/runtime.hpp"
#include "duroxide/runtime_client.hpp"
#include "duroxide/samples.hpp"
#include "duroxide/sim/memory_vfs.hpp"
#include "duroxide/sim/random.hpp"
#include "duroxide/sqlite_provider.hpp"
#include "duroxide/text.hpp"
#include "duroxide/sim/invariants.hpp"
#include "workload.hpp"

namespace duroxide::sim {

std::string hex64(std::uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

namespace {

constexpr const char* kFaultNames[kFaultKindCount] = {
    "node-crash", "commit-crash", "clock-jump", "node-pause",    "duplicate",
    "transient",  "disk-error",   "activity-failure", "slow-activity", "corruption",
    "node-shutdown"};

constexpr const char* kScenarioNames[kScenarioCount] = {
    "child-continue-as-new", "carry-over", "select-loop", "bad-values", "early-ops", "force-delete"};

// Upper bound of each fault's probability (parts per million per opportunity);
// each seed draws its own probability below it, and leaves a kind off one time
// in four, so seeds explore different mixes (swarm testing).
constexpr std::uint32_t kFaultMaxPpm[kFaultKindCount] = {
    15'000,     // node-crash: per provider call and per activity
    30'000,     // commit-crash: per ack
    20'000,     // clock-jump: per scheduler step
    30'000,     // node-pause: per ack
    60'000,     // duplicate: per ack that has something to duplicate
    30'000,     // transient: per provider call
    2'000,      // disk-error: per disk read, write or sync
    1'000'000,  // activity-failure: chance that a seed's workload draws failing activities
    40'000,     // slow-activity: per activity
    2'000,      // corruption: per scheduler step
    80'000,     // node-shutdown: per activity
};

constexpr std::int64_t kOrchestrationLockMs = 5'000;
constexpr std::int64_t kWorkerLockMs = 30'000;
constexpr std::int64_t kLockRenewalBufferMs = 2'000;
constexpr std::uint32_t kMaxClientRetries = 1'000;
// Phase 1 jumps the clock after this many steps per node in a row found no work.
constexpr std::uint64_t kIdleStepsPerNode = 4;

std::size_t index_of(FaultKind kind) { return static_cast<std::size_t>(kind); }

}  // namespace

std::string_view to_string(FaultKind kind) { return kFaultNames[index_of(kind)]; }

std::optional<FaultKind> parse_fault_kind(std::string_view text) {
  for (std::size_t i = 0; i < kFaultKindCount; ++i) {
    if (text == kFaultNames[i]) return static_cast<FaultKind>(i);
  }
  return std::nullopt;
}

std::vector<FaultKind> all_fault_kinds() {
  std::vector<FaultKind> kinds;
  for (std::size_t i = 0; i < kFaultKindCount; ++i) kinds.push_back(static_cast<FaultKind>(i));
  return kinds;
}

std::vector<FaultKind> default_fault_kinds() {
  std::vector<FaultKind> kinds = all_fault_kinds();
  kinds.erase(std::find(kinds.begin(), kinds.end(), FaultKind::Corruption));
  kinds.erase(std::find(kinds.begin(), kinds.end(), FaultKind::NodeShutdown));
  return kinds;
}

std::string_view to_string(Scenario scenario) { return kScenarioNames[static_cast<std::size_t>(scenario)]; }

std::optional<Scenario> parse_scenario(std::string_view text) {
  for (std::size_t i = 0; i < kScenarioCount; ++i) {
    if (text == kScenarioNames[i]) return static_cast<Scenario>(i);
  }
  return std::nullopt;
}

std::vector<Scenario> all_scenarios() {
  std::vector<Scenario> scenarios;
  for (std::size_t i = 0; i < kScenarioCount; ++i) scenarios.push_back(static_cast<Scenario>(i));
  return scenarios;
}

namespace {

class World;

struct Node;

// A node's view of the store: forwards to the shared provider and injects the
// faults that happen between a runtime process and its database.
class NodeProvider final : public Provider {
 public:
  NodeProvider(World& world, Node& node, Provider& inner) : world_(world), node_(node), inner_(inner) {}

  std::optional<OrchestrationItem> fetch_orchestration_item(std::int64_t lock_timeout_ms,
                                                            const CapabilityFilter& filter) override;
  void ack_orchestration_item(const std::string& lock_token, const OrchestrationAck& ack) override;
  void abandon_orchestration_item(const std::string& lock_token, std::int64_t delay_ms,
                                  bool ignore_attempt) override;
  void renew_orchestration_item_lock(const std::string& lock_token, std::int64_t extend_ms) override;
  History read(const std::string& instance) override;
  void enqueue_orchestrator_item(const WorkItem& item, std::int64_t delay_ms) override;
  std::optional<WorkerItem> fetch_work_item(std::int64_t lock_timeout_ms, const TagFilter& filter,
                                            const SessionFetch* session) override;
  // Session locks go to the store without faults: a lost renewal only moves affinity.
  std::size_t renew_session_locks(const std::string& owner_id, const std::vector<std::string>& session_ids,
                                  std::int64_t extend_ms) override {
    return inner_.renew_session_locks(owner_id, session_ids, extend_ms);
  }
  std::size_t cleanup_orphaned_sessions() override { return inner_.cleanup_orphaned_sessions(); }
  void ack_work_item(const std::string& lock_token, const std::optional<WorkItem>& completion) override;
  void renew_work_item_lock(const std::string& lock_token, std::int64_t extend_ms) override;
  void abandon_work_item(const std::string& lock_token, std::int64_t delay_ms,
                         bool ignore_attempt) override;
  // Key-value reads (get_value_from_instance) go to the store without faults.
  std::optional<std::string> get_kv_value(const std::string& instance, const std::string& key) override {
    return inner_.get_kv_value(instance, key);
  }
  std::optional<std::string> get_kv_value_seen_by(const std::string& reader, const std::string& instance,
                                                  const std::string& key) override {
    return inner_.get_kv_value_seen_by(reader, instance, key);
  }
  KvMap get_kv_all_values(const std::string& instance) override { return inner_.get_kv_all_values(instance); }
  // Batches go to the store's own batch calls (one transaction on SQLite), with
  // the same faults as single calls: crashes around them, pauses, duplicates,
  // and a crash inside the batch's commit.
  std::vector<OrchestrationItem> fetch_orchestration_items(std::int64_t lock_timeout_ms, std::size_t max_items,
                                                           const CapabilityFilter& filter) override;
  std::vector<AckOutcome> ack_orchestration_items(const std::vector<OrchestrationAckRequest>& requests) override;
  std::vector<WorkerItem> fetch_work_items(std::int64_t lock_timeout_ms, std::size_t max_items,
                                           const TagFilter& filter, const SessionFetch* session) override;
  std::vector<AckOutcome> ack_work_items(const std::vector<WorkAckRequest>& requests) override;

 private:
  void before(const char* operation);
  void after(const char* operation);

  World& world_;
  Node& node_;
  Provider& inner_;
  std::map<std::string, std::string> instance_of_token_;
};

// A node's worker lock keeper, as the threaded driver's: a lease per fetched
// activity from its fetch to its ack. Virtual time passes a running activity's
// lock only in a NodeShutdown, so only then does the world ask it to renew.
class LeaseKeeper final : public ActivityLeases {
 public:
  struct Lease {
    std::shared_ptr<std::atomic<bool>> cancelled;
    std::int64_t renewed_at = 0;
  };
  explicit LeaseKeeper(Clock& clock) : clock_(clock) {}
  void begin(const std::string& lock_token, const std::string&,
             std::shared_ptr<std::atomic<bool>> cancelled) override {
    leases_[lock_token] = Lease{std::move(cancelled), clock_.now_ms()};
  }
  void end(const std::string& lock_token) override { leases_.erase(lock_token); }
  std::map<std::string, Lease>& leases() { return leases_; }

 private:
  Clock& clock_;
  std::map<std::string, Lease> leases_;  // by lock token: renewed in a fixed order
};

struct Node {
  std::size_t index = 0;
  std::unique_ptr<NodeProvider> provider;
  std::unique_ptr<LeaseKeeper> leases;
  std::unique_ptr<OrchestrationDispatcher> orchestrations;
  std::unique_ptr<WorkerDispatcher> workers;
  bool crash_pending = false;  // set inside an activity: the next provider call dies
  bool shutting_down = false;  // NodeShutdown: stops (and restarts) when its current step ends
  bool busy = false;           // inside its own step (not schedulable in nested runs)
  std::uint64_t down_until = 0;
};

class World final : public WorldHooks {
 public:
  explicit World(const SimOptions& options);
  ~World() override;
  SimResult run();
  void keep_database();

  // ---- WorldHooks
  bool crash_point(const std::string& where) override {
    if (!draw(FaultKind::CommitCrash)) return false;
    record_fault(FaultKind::CommitCrash, current_ ? current_->index : 0, where);
    return true;
  }
  std::int64_t now_ms() override { return clock_.now_ms(); }
  bool shutting_down() override { return current_ && current_->shutting_down; }

  // ---- used by NodeProvider and the activity wrappers
  bool draw(FaultKind kind) {
    const std::uint32_t ppm = fault_ppm_[index_of(kind)];
    return faults_on_ && ppm > 0 && fault_random_.chance(ppm);
  }
  void record_fault(FaultKind kind, std::size_t node, const std::string& where) {
    ++faults_injected_[index_of(kind)];
    trace("fault " + std::string(to_string(kind)) + " n" + std::to_string(node) + " " + where);
  }
  void trace(const std::string& line) {
    const std::string full = "s" + std::to_string(step_) + " " + line;
    hash_.add(full);
    if (options_.keep_trace) trace_lines_.push_back(full);
  }
  void violation(const std::string& invariant, const std::string& instance, const std::string& detail) {
    trace("VIOLATION " + invariant + " " + instance + ": " + detail);
    violations_.push_back({invariant, instance, detail, step_});
  }
  // Invariant session-affinity: a fetch locks a session for its node for the session
  // lock timeout, so another node must not fetch an item of that session before that
  // lock could have run out (renewals only lengthen it).
  void note_session_fetches(const Node& node, const std::vector<WorkerItem>& items) {
    const TimestampMs now = clock_.now_ms();
    for (const WorkerItem& fetched : items) {
      const std::string& session = fetched.item.session_id;
      if (session.empty()) continue;
      auto [held, first] = session_fetches_.try_emplace(session, SessionFetchSeen{node.index, now});
      if (!first && held->second.node != node.index && now < held->second.at_ms + session_lock_ms_) {
        violation("session-affinity", fetched.item.instance,
                  "node " + std::to_string(node.index) + " fetched an activity of session " + session + " " +
                      std::to_string(now - held->second.at_ms) + " ms after node " +
                      std::to_string(held->second.node) + " did (its lock lasts " + std::to_string(session_lock_ms_) +
                      " ms)");
      }
      held->second = SessionFetchSeen{node.index, now};
    }
  }
  // Runs other nodes for a few steps while `node` stalls, with time passing
  // beyond `lock_ms` so the stalled node's locks may expire and be taken over.
  void interleave(Node* stalled, std::int64_t lock_ms) {
    if (nesting_ > 0) return;  // one level: a stall inside a stall adds nothing new
    ++nesting_;
    clock_.advance(scheduler_.between(lock_ms / 2, lock_ms * 2));
    const std::int64_t rounds = scheduler_.between(1, 8);
    for (std::int64_t i = 0; i < rounds; ++i) {
      Node& other = *nodes_[scheduler_.below(nodes_.size())];
      if (&other == stalled || other.busy || other.down_until > step_) continue;
      node_step(other, scheduler_.below(2) == 0);
    }
    --nesting_;
  }
  // A graceful shutdown of `node` inside one of its activities: the node takes
  // no new work while the activity runs well past the worker lock timeout in
  // short slices of virtual time, other nodes running between them, and its
  // lock keeper renews the batch's locks before they expire.
  void shut_down_during_activity(Node& node) {
    ++nesting_;
    node.shutting_down = true;
    const std::int64_t duration = scheduler_.between(kWorkerLockMs * 6 / 5, kWorkerLockMs * 5 / 2);
    for (std::int64_t elapsed = 0; elapsed < duration && !node.crash_pending;) {
      const std::int64_t slice = scheduler_.between(250, kLockRenewalBufferMs * 3 / 4);
      clock_.advance(slice);
      elapsed += slice;
      renew_due_leases(node);
      Node& other = *nodes_[scheduler_.below(nodes_.size())];
      if (&other == &node || other.busy || other.down_until > step_) continue;
      node_step(other, scheduler_.below(2) == 0);
    }
    --nesting_;
  }
  // The threaded driver's keep_leases, on virtual time: renews each lease due
  // (within the renewal buffer of its expiry); a lost lock cancels its activity;
  // other errors are retried at the next slice; a crash here kills the node.
  void renew_due_leases(Node& node) {
    const std::int64_t now = clock_.now_ms();
    for (auto& [token, lease] : node.leases->leases()) {
      if (lease.cancelled->load() || now - lease.renewed_at < kWorkerLockMs - kLockRenewalBufferMs) continue;
      try {
        node.provider->renew_work_item_lock(token, kWorkerLockMs);
        lease.renewed_at = now;
      } catch (const NodeCrash&) {
        node.crash_pending = true;  // the activity's result never reaches the store
        return;
      } catch (const ProviderError& error) {
        if (error.kind() != ProviderErrorKind::InvalidLock) continue;
        lease.cancelled->store(true);
        trace("n" + std::to_string(node.index) + " lost the lock of " + token + " while shutting down");
      }
    }
  }
  // Arms the disk to fail the next write of a write-ahead-log frame: a crash in the middle of a commit.
  void arm_commit_failure(bool armed) { commit_failure_armed_ = armed; }
  // Arms it for one scope: disarmed however the commit ends, engine exceptions included.
  struct CommitFailureScope {
    explicit CommitFailureScope(World& world) : world(world) { world.arm_commit_failure(true); }
    ~CommitFailureScope() { world.arm_commit_failure(false); }
    CommitFailureScope(const CommitFailureScope&) = delete;
    CommitFailureScope& operator=(const CommitFailureScope&) = delete;
    World& world;
  };
  void check_latest(Provider& store, const std::string& instance) {
    (void)store;
    if (corrupted_.count(instance)) return;  // its history may not decode any more
    const History history = read_soundly(instance);
    for (const std::string& problem : check_history(history, false)) {
      violation("history-well-formed", instance, problem);
    }
  }
  Node* current() { return current_; }
  Provider& store() { return *store_; }

 private:
  void build_registry();
  void start_node(Node& node);
  bool node_step(Node& node, bool orchestration);
  template <typename F>
  auto on_sound_disk(F&& read) {
    const bool disk = disk_faults_allowed_;
    disk_faults_allowed_ = false;
    auto result = read();
    disk_faults_allowed_ = disk;
    return result;
  }

 public:
  // A corrupted instance's history may not decode: it reads as empty here.
  History read_soundly(const std::string& instance) {
    return on_sound_disk([&] {
      try {
        return store_->read(instance);
      } catch (const ProviderError& error) {
        if (error.kind() != ProviderErrorKind::Corrupted || !corrupted_.count(instance)) throw;
        return History{};
      }
    });
  }
  QueueDepths depths_soundly() {
    return on_sound_disk([&] { return store_->get_queue_depths(); });
  }

 private:
  void run_client_ops(bool all);
  void run_client_op(WorkloadOp& op, std::string& line);
  void count_activity_run(const ActivityContext& context);
  // ---- the Corruption fault, through a second connection to the same database
  sqlite3* raw_connection();
  std::optional<std::string> raw_text(const std::string& sql, const std::vector<std::string>& args);
  void corrupt_random_row();
  bool tree_corrupted(const std::string& root);
  // ---- scenario and fault invariants at the end
  void check_activity_runs();
  void check_values(const InstanceInfo& info);
  void check_corruption_visible();
  void check_carried_status(const WorkloadInstance& instance);
  void check_not_deleted(const InstanceInfo& info);
  void check_custom_end(std::size_t index);
  void phase_one();
  void phase_two();
  std::int64_t idle_wait_ms(const QueueDepths& depths, std::uint64_t idle_rounds);
  void jump_when_idle(std::uint64_t& jumps);
  bool start_accepted(std::size_t instance) const;  // the workload's start of it was accepted
  void final_checks();
  bool disk_fault(DiskOperation operation, const std::string& file);

  SimOptions options_;
  SimRandom root_;
  SimRandom scheduler_;
  SimRandom fault_random_;
  SimRandom workload_random_;
  ManualClock clock_;
  TimestampMs start_ms_;
  SequentialIdSource ids_{"lock"};
  MemoryVfs vfs_;
  std::unique_ptr<SqliteProvider> store_;
  std::unique_ptr<Provider> wrapped_;
  Registry registry_;
  std::unique_ptr<RuntimeClient> client_;
  std::unique_ptr<ManagementClient> management_;
  std::vector<std::unique_ptr<Node>> nodes_;
  Workload workload_;
  std::optional<SimWorkload> custom_;  // options.workload's, else the catalog
  std::vector<ClientEffects> effects_;
  std::size_t next_op_ = 0;
  std::map<std::string, std::uint32_t> activity_runs_;  // "<instance>#<execution>/<activity id>"
  // The node that last fetched an item of each session, and when (session-affinity).
  struct SessionFetchSeen {
    std::size_t node = 0;
    TimestampMs at_ms = 0;
  };
  const std::int64_t session_lock_ms_ = RuntimeOptions{}.session_lock_timeout_ms;  // the nodes' (start_node)
  std::map<std::string, SessionFetchSeen> session_fetches_;
  std::map<std::string, std::string> corrupted_;        // instance -> the row that was corrupted
  std::uint64_t queue_rows_corrupted_ = 0;
  std::optional<std::size_t> pending_corruption_;  // a queue row kind waiting for a message to corrupt
  std::set<std::string> engine_errors_;
  std::uint64_t deleted_instances_ = 0;  // by ForceDelete ops: their starts stay in the time series
  sqlite3* raw_ = nullptr;

  std::uint32_t fault_ppm_[kFaultKindCount] = {};
  std::uint64_t faults_injected_[kFaultKindCount] = {};
  bool faults_on_ = true;
  bool disk_faults_allowed_ = false;  // only inside node steps: clients and checks see a sound disk
  bool commit_failure_armed_ = false;
  int nesting_ = 0;
  Node* current_ = nullptr;
  std::uint64_t step_ = 0;
  std::uint64_t liveness_steps_ = 0;
  std::uint64_t restarts_ = 0;
  TraceHash hash_;
  std::vector<std::string> trace_lines_;
  std::vector<Violation> violations_;
  SimResult result_;
};

std::string unique_vfs_name() {
  static std::atomic<std::uint64_t> counter{0};
  return "duroxide-sim-" + std::to_string(++counter);
}

World::World(const SimOptions& options)
    : options_(options),
      root_(options.seed),
      scheduler_(root_.fork()),
      fault_random_(root_.fork()),
      workload_random_(root_.fork()),
      start_ms_(clock_.now_ms()),
      vfs_(unique_vfs_name()) {
  if (options.nodes < 1 || options.nodes > 16) throw std::invalid_argument("nodes must be 1 to 16");
  if (options.instances < 1 || options.instances > 500) {
    throw std::invalid_argument("instances must be 1 to 500");
  }
  if (options.steps > 10'000'000) throw std::invalid_argument("steps must be at most 10,000,000");

  SimRandom fault_mix = root_.fork();
  for (FaultKind kind : options.faults) {
    const std::size_t i = index_of(kind);
    // Draws happen for every listed kind in a fixed order, so the list's order never matters.
    fault_ppm_[i] = 1;  // mark as enabled; drawn below
  }
  for (std::size_t i = 0; i < kFaultKindCount; ++i) {
    const bool off = fault_mix.below(4) == 0;
    const auto drawn = static_cast<std::uint32_t>(fault_mix.between(kFaultMaxPpm[i] / 10, kFaultMaxPpm[i]));
    fault_ppm_[i] = fault_ppm_[i] && !off ? drawn : 0;
  }

  vfs_.set_fault_hook([this](DiskOperation operation, const std::string& file) {
    return disk_fault(operation, file);
  });
  SqliteOptions sqlite_options;
  sqlite_options.vfs = vfs_.name();
  sqlite_options.busy_timeout_ms = 0;
  store_ = std::make_unique<SqliteProvider>("/sim.db", clock_, ids_, sqlite_options);
  if (options.store_wrapper) wrapped_ = options.store_wrapper(*store_, *this);
  client_ = std::make_unique<RuntimeClient>(*store_, *store_);
  management_ = std::make_unique<ManagementClient>(*store_, ManagementOptions{});

  // A user's plan draws from a stream of its own, taken first: the same plan whatever faults run.
  std::optional<SimRandom> plan_random;
  if (options.workload) plan_random = workload_random_.fork();
  const bool failing = fault_ppm_[index_of(FaultKind::ActivityFailure)] > 0 &&
                       workload_random_.chance(fault_ppm_[index_of(FaultKind::ActivityFailure)]);
  if (options.workload) {
    WorkloadSeed seed{*plan_random, options.seed, options.steps, options.instances, failing};
    custom_ = options.workload(seed);
    if (!custom_->registry || !custom_->plan || !custom_->check) {
      throw std::invalid_argument("a workload needs a registry, a plan and a check");
    }
    WorkloadPlan plan(options.steps);
    custom_->plan(plan);
    workload_ = workload_from_plan(plan);
    // A name the registry lacks would only back off until phase 2 ended as "still running".
    for (const WorkloadInstance& instance : workload_.instances) {
      if (!custom_->registry->resolve_for_start(instance.orchestration, "")) {
        throw std::invalid_argument("the plan starts " + instance.id + " as " + instance.orchestration +
                                    ", which the workload's registry does not hold");
      }
    }
  } else {
    workload_ = generate_workload(workload_random_, options.instances, options.steps, failing, options.scenarios);
  }
  build_registry();
  effects_.resize(workload_.instances.size());
  faults_injected_[index_of(FaultKind::ActivityFailure)] = workload_.failing_instances;
  for (std::size_t i = 0; i < options.nodes; ++i) {
    nodes_.push_back(std::make_unique<Node>());
    nodes_.back()->index = i;
    start_node(*nodes_.back());
  }
}

World::~World() {
  // Dispatchers and clients hold references into the store: release them first.
  if (raw_) sqlite3_close(raw_);
  nodes_.clear();
  client_.reset();
  management_.reset();
  wrapped_.reset();
  store_.reset();
}

bool World::disk_fault(DiskOperation operation, const std::string& file) {
  if (commit_failure_armed_ && operation == DiskOperation::Write &&
      file.size() > 4 && file.compare(file.size() - 4, 4, "-wal") == 0) {
    return true;
  }
  if (!disk_faults_allowed_ || !draw(FaultKind::DiskError)) return false;
  const char* what = operation == DiskOperation::Read    ? "read"
                     : operation == DiskOperation::Write ? "write"
                                                         : "sync";
  record_fault(FaultKind::DiskError, current_ ? current_->index : 0, std::string(what) + " " + file);
  return true;
}

void World::build_registry() {
  Registry catalog;
  if (!custom_) {
    samples::register_all(catalog);
    register_scenarios(catalog);
  }
  const Registry& source = custom_ ? *custom_->registry : catalog;
  for (const std::string& name : source.orchestration_names()) {
    for (const std::string& version : source.orchestration_versions(name)) {
      registry_.register_orchestration(name, version, *source.find_orchestration(name, version));
    }
    // The version policy too (new starts and continue-as-new resolve it), read through its choice.
    const auto chosen = source.resolve_for_start(name, "");
    if (chosen && chosen->version != registry_.resolve_for_start(name, "")->version) {
      registry_.set_version_policy(name, VersionPolicy::Exact, chosen->version);
    }
  }
  // Activities run as written, wrapped in the faults of the process that runs them.
  for (const std::string& name : source.activity_names()) {
    ActivityFn inner = *source.find_activity(name);
    registry_.register_activity(name, [this, inner, name](ActivityContext& context,
                                                          const std::string& input) {
      Node* node = current_;
      count_activity_run(context);
      if (node && draw(FaultKind::SlowActivity)) {
        record_fault(FaultKind::SlowActivity, node->index, name + " of " + context.instance);
        interleave(node, kWorkerLockMs);
      }
      if (node && draw(FaultKind::NodeCrash)) {
        // The process dies while the activity runs: its result never reaches the store.
        record_fault(FaultKind::NodeCrash, node->index, "inside activity " + name);
        node->crash_pending = true;
      }
      if (node && nesting_ == 0 && !node->crash_pending && !node->shutting_down &&
          draw(FaultKind::NodeShutdown)) {
        record_fault(FaultKind::NodeShutdown, node->index, "inside activity " + name);
        shut_down_during_activity(*node);
      }
      if (!custom_ || fault_ppm_[index_of(FaultKind::ActivityFailure)] == 0) return inner(context, input);
      try {
        return inner(context, input);
      } catch (...) {  // a custom workload's activities fail by themselves: counted as ActivityFailure when it is on
        ++faults_injected_[index_of(FaultKind::ActivityFailure)];
        throw;
      }
    });
  }
}

void World::start_node(Node& node) {
  RuntimeOptions runtime;
  runtime.orchestration_lock_timeout_ms = kOrchestrationLockMs;
  runtime.worker_lock_timeout_ms = kWorkerLockMs;
  runtime.lock_renewal_buffer_ms = kLockRenewalBufferMs;  // the lease keeper's, too
  // Crashes raise attempt counts legitimately; poison handling has its own tests.
  runtime.max_attempts = 1'000'000;
  // Each start of a node draws its batch sizes, so runs mix single and batched
  // fetches and acks (workers too, which production leaves at 1 by default).
  runtime.orchestration_batch_size = 1 + scheduler_.below(4);
  runtime.worker_batch_size = 1 + scheduler_.below(3);
  // A node stands for a whole deployment's process: its workers take every tag, so a
  // tagged activity (ActivityOptions::tag) runs as it would on its own pool.
  runtime.worker_tag_filter = TagFilter::any();
  // Each node is its own session owner, the same across its restarts (a stable
  // worker_node_id), so a restarted node takes its sessions back at once.
  runtime.worker_node_id = "node-" + std::to_string(node.index);
  Provider& shared = wrapped_ ? *wrapped_ : *store_;
  node.provider = std::make_unique<NodeProvider>(*this, node, shared);
  node.leases = std::make_unique<LeaseKeeper>(clock_);
  node.orchestrations = std::make_unique<OrchestrationDispatcher>(*node.provider, registry_, clock_, runtime);
  node.workers = std::make_unique<WorkerDispatcher>(*node.provider, registry_, clock_, runtime, RuntimeObserver{},
                                                    node.leases.get());
  node.crash_pending = false;
  node.shutting_down = false;
}

bool World::node_step(Node& node, bool orchestration) {
  bool did = false;
  Node* previous = current_;
  const bool disk = disk_faults_allowed_;
  current_ = &node;
  node.busy = true;
  disk_faults_allowed_ = true;
  try {
    did = orchestration ? node.orchestrations->step() : node.workers->step();
    trace("n" + std::to_string(node.index) + (orchestration ? " orch " : " work ") + (did ? "1" : "0"));
    if (node.shutting_down) {
      // The shutdown ends with its step: the node stops, and restarts as a crashed one does.
      ++restarts_;
      trace("n" + std::to_string(node.index) + " shut down; restarting");
      start_node(node);
      node.down_until = step_ + 1 + scheduler_.below(20);
    }
  } catch (const NodeCrash& crash) {
    ++restarts_;
    trace("n" + std::to_string(node.index) + " crashed " + crash.where + "; restarting");
    start_node(node);  // every in-memory state of the node is gone
    node.down_until = step_ + 1 + scheduler_.below(20);
    if (!faults_on_) violation("harness", "", "a crash with faults off: " + crash.where);
  } catch (const std::exception& error) {
    // A dispatcher's step handles every failure of its items: an exception out
    // of it is an engine bug. Reported once per message; the node restarts.
    ++restarts_;
    trace("n" + std::to_string(node.index) + " threw " + error.what() + "; restarting");
    if (engine_errors_.insert(error.what()).second) {
      violation("engine-error", "", std::string("an exception out of a dispatcher step: ") + error.what());
    }
    start_node(node);
    node.down_until = step_ + 1 + scheduler_.below(20);
  }
  node.busy = false;
  disk_faults_allowed_ = disk;
  current_ = previous;
  return did;
}

bool World::start_accepted(std::size_t instance) const {
  if (instance >= effects_.size()) return false;
  const std::vector<WorkloadOp>& accepted = effects_[instance].accepted;
  return std::any_of(accepted.begin(), accepted.end(),
                     [](const WorkloadOp& op) { return op.kind == WorkloadOp::Kind::Start; });
}

void World::run_client_ops(bool all) {
  // Ops run in step order; one refused because its instance does not exist yet
  // (its start is still in the queue, or the node that took it crashed) is
  // retried later, as a real client would.
  std::vector<WorkloadOp> retry;
  std::vector<bool> deferred(workload_.instances.size(), false);
  const std::uint64_t retry_step = step_ + 10;
  // Behind a refused op of the same instance an op keeps its order; never its start, which
  // the refused op (planned before it) waits for.
  const auto held_back = [&](const WorkloadOp& op) { return deferred[op.instance] && op.kind != WorkloadOp::Kind::Start; };
  while (next_op_ < workload_.ops.size() && (all || workload_.ops[next_op_].step <= step_)) {
    WorkloadOp op = workload_.ops[next_op_++];
    const WorkloadInstance& instance = workload_.instances[op.instance];
    if (held_back(op)) {
      op.step = std::max(op.step, retry_step);
      retry.push_back(op);
      continue;
    }
    std::string line = "client ";
    try {
      run_client_op(op, line);
    } catch (const ClientError& error) {
      line += std::string(" error: ") + error.what();
      if (op.kind == WorkloadOp::Kind::Start) {
        violation("client", instance.id, "the start was refused: " + std::string(error.what()));
      } else if (op.kind == WorkloadOp::Kind::DuplicateStart) {
        if (error.kind() != ClientError::Kind::AlreadyExists) {
          violation("duplicate-start", instance.id,
                    "refused, but not as AlreadyExists: " + std::string(error.what()));
        }
      } else if (instance.early) {
        // Between the start and the first turn the instance exists: the op must take effect.
        violation("early-ops", instance.id, "refused before the first turn: " + std::string(error.what()));
      } else if (error.kind() == ClientError::Kind::NotFound) {
        // Until its start is made an op waits however long; after, a bounded number of
        // tries (the first turn may wait behind crashes and expired locks).
        const bool started = start_accepted(op.instance);
        if (!started || op.attempts < kMaxClientRetries) {
          if (started) ++op.attempts;
          op.step = retry_step;
          line += "; retrying at s" + std::to_string(op.step);
          retry.push_back(op);
          deferred[op.instance] = true;
        } else if (!instance.force_deleted) {
          violation("client", instance.id,
                    "an op was refused as NotFound " + std::to_string(kMaxClientRetries) +
                        " times after the start was accepted: " + std::string(error.what()));
        }
      }
    } catch (const std::exception& error) {
      line += std::string(" error: ") + error.what();
      violation("client", instance.id, std::string("unexpected client error: ") + error.what());
    }
    trace(line);
  }
  if (retry.empty()) return;
  // Retried ops keep their order within an instance (the mailbox model depends on it).
  workload_.ops.erase(workload_.ops.begin(), workload_.ops.begin() + static_cast<std::ptrdiff_t>(next_op_));
  next_op_ = 0;
  std::vector<WorkloadOp> kept;
  for (WorkloadOp& op : workload_.ops) {
    if (held_back(op)) {
      op.step = std::max(op.step, retry_step);
      retry.push_back(op);
    } else {
      kept.push_back(op);
    }
  }
  workload_.ops = std::move(kept);
  workload_.ops.insert(workload_.ops.end(), retry.begin(), retry.end());
  std::stable_sort(workload_.ops.begin(), workload_.ops.end(),
                   [](const WorkloadOp& a, const WorkloadOp& b) { return a.step < b.step; });
}

void World::run_client_op(WorkloadOp& op, std::string& line) {
  const WorkloadInstance& instance = workload_.instances[op.instance];
  switch (op.kind) {
    case WorkloadOp::Kind::Start:
      line += "start " + instance.id + " " + instance.orchestration;
      client_->start_orchestration(instance.id, instance.orchestration, instance.input);
      effects_[op.instance].accepted.push_back(op);
      break;
    case WorkloadOp::Kind::DuplicateStart:
      line += "start again " + instance.id;
      client_->start_orchestration(instance.id, "Fails", "a second start of " + instance.id);
      violation("duplicate-start", instance.id, "a second start of the id was accepted");
      break;
    case WorkloadOp::Kind::Raise: {
      const std::string name = op.name.empty() ? "Approve" : op.name;
      line += "raise " + instance.id + (op.name.empty() ? "" : " " + name + " " + op.data);
      client_->raise_event(instance.id, name, op.data);
      effects_[op.instance].approve_raised = true;
      effects_[op.instance].accepted.push_back(op);
      break;
    }
    case WorkloadOp::Kind::Enqueue:
      line += "enqueue " + instance.id + (op.name.empty() ? "" : " " + op.name) + " " + op.data;
      client_->enqueue_event(instance.id, op.name.empty() ? "inbox" : op.name, op.data);
      effects_[op.instance].accepted.push_back(op);
      break;
    case WorkloadOp::Kind::Cancel: {
      line += "cancel " + instance.id;
      // A later cancel of the instance the first one ended is refused: the first still took.
      const bool accepted = client_->cancel_instance(instance.id, op.data);
      if (accepted) {
        effects_[op.instance].cancel_accepted = true;
        effects_[op.instance].accepted.push_back(op);
      }
      line += accepted ? " accepted" : " already finished";
      break;
    }
    case WorkloadOp::Kind::ForceDelete: {
      line += "force delete " + instance.id;
      const DeleteResult deleted = management_->delete_instance(instance.id, true);
      effects_[op.instance].deleted = true;
      deleted_instances_ += deleted.instances;
      line += ": " + std::to_string(deleted.instances) + " instances, " + std::to_string(deleted.queue_items) +
              " queue items";
      break;
    }
  }
}

void World::count_activity_run(const ActivityContext& context) {
  ++activity_runs_[context.instance + "#" + std::to_string(context.execution_id) + "/" +
                   std::to_string(context.activity_id)];
}

sqlite3* World::raw_connection() {
  // Opened once and kept: closing it could checkpoint the write-ahead log under
  // the provider (the memory VFS has no locks to tell it another connection is open).
  if (!raw_ && sqlite3_open_v2("/sim.db", &raw_, SQLITE_OPEN_READWRITE, vfs_.name().c_str()) != SQLITE_OK) {
    throw std::runtime_error("the simulator could not open its own database");
  }
  sqlite3_db_config(raw_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  return raw_;
}

std::optional<std::string> World::raw_text(const std::string& sql, const std::vector<std::string>& args) {
  return on_sound_disk([&]() -> std::optional<std::string> {
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(raw_connection(), sql.c_str(), -1, &statement, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string("simulator SQL: ") + sqlite3_errmsg(raw_));
    }
    for (std::size_t i = 0; i < args.size(); ++i) {
      sqlite3_bind_text(statement, static_cast<int>(i + 1), args[i].c_str(), -1, SQLITE_TRANSIENT);
    }
    std::optional<std::string> text;
    const int rc = sqlite3_step(statement);
    if (rc == SQLITE_ROW && sqlite3_column_text(statement, 0)) {
      text = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
    }
    sqlite3_finalize(statement);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      throw std::runtime_error(std::string("simulator SQL: ") + sqlite3_errstr(rc) + " (" +
                               std::to_string(sqlite3_extended_errcode(raw_)) + ") in " + sql);
    }
    return text;
  });
}

// Makes one row of a running instance undecodable: a history event of a random
// instance's current execution, or a random message of the orchestrator or
// worker queue addressed to a running instance. Queue messages are short-lived:
// a queue found empty stays the target until a message appears.
void World::corrupt_random_row() {
  const char* const rows[] = {"history", "orchestrator-queue", "worker-queue"};
  const std::size_t row = pending_corruption_ ? *pending_corruption_ : fault_random_.below(3);
  pending_corruption_.reset();
  std::string instance;
  if (row == 0) {
    InstanceFilter running;
    running.states = {RuntimeState::Running};
    PageRequest page;
    page.limit = 500;
    const InstancePage listed = on_sound_disk([&] { return store_->list_instances(running, page); });
    if (listed.instances.empty()) return;
    const InstanceInfo& target = listed.instances[fault_random_.below(listed.instances.size())];
    instance = target.instance;
    const std::string execution = std::to_string(target.current_execution_id);
    const auto count = raw_text("SELECT COUNT(*) FROM history WHERE instance_id = ?1 AND execution_id = ?2",
                                {instance, execution});
    if (!count || *count == "0") return;
    const std::string event = std::to_string(1 + fault_random_.below(std::stoull(*count)));
    raw_text("UPDATE history SET event_json = '{corrupt' WHERE instance_id = ?1 AND execution_id = ?2 "
             "AND event_id = ?3",
             {instance, execution, event});
  } else {
    const std::string table = row == 1 ? "orchestrator_queue" : "worker_queue";
    const std::string rows_of_running = " FROM " + table + " q JOIN instances i ON i.instance_id = q.instance_id "
                                        "WHERE i.status = 'Running'";
    const auto count = raw_text("SELECT COUNT(*)" + rows_of_running, {});
    if (!count || *count == "0") {
      pending_corruption_ = row;
      return;
    }
    const std::string offset = std::to_string(fault_random_.below(std::stoull(*count)));
    const std::string pick = rows_of_running + " ORDER BY q.id LIMIT 1 OFFSET ?1";
    instance = raw_text("SELECT q.instance_id" + pick, {offset}).value_or("");
    raw_text("UPDATE " + table + " SET item_json = '[corrupt' WHERE id = (SELECT q.id" + pick + ")", {offset});
  }
  if (sqlite3_changes(raw_) == 0) return;  // no such row: nothing happened
  corrupted_[instance] = rows[row];
  if (row != 0) ++queue_rows_corrupted_;
  record_fault(FaultKind::Corruption, 0, std::string(rows[row]) + " row of " + instance);
}

bool World::tree_corrupted(const std::string& root) {
  for (const auto& [corrupted, row] : corrupted_) {
    // Up the parent links: children may have explicit ids.
    std::string instance = corrupted;
    for (std::size_t depth = 0; !instance.empty() && depth < 100; ++depth) {
      if (instance == root) return true;
      const auto info = store_->get_instance_info(instance);
      instance = info ? info->parent_instance : std::string();
    }
  }
  return false;
}

// An activity runs again only when something lost its result (a crash, an
// expired lock, a duplicate): never more often than once plus the faults injected.
void World::check_activity_runs() {
  std::uint64_t redeliveries = 0;
  for (std::size_t i = 0; i < kFaultKindCount; ++i) {
    // A shutdown keeps its activity's lock: it never accounts for a second run.
    if (i != index_of(FaultKind::ActivityFailure) && i != index_of(FaultKind::NodeShutdown)) {
      redeliveries += faults_injected_[i];
    }
  }
  for (const auto& [activity, runs] : activity_runs_) {
    if (runs > 1 + redeliveries) {
      violation("activity-runs", activity,
                "ran " + std::to_string(runs) + " times with " + std::to_string(redeliveries) + " faults injected");
    }
  }
}

// Outputs and errors are what clients read: valid UTF-8, within the payload
// limit (an error's display text may add a short prefix to a limited message).
void World::check_values(const InstanceInfo& info) {
  const std::string text = info.state == RuntimeState::Completed ? info.output
                           : info.error                         ? info.error->display_message()
                                                                : std::string();
  if (!valid_utf8(text)) violation("bad-value", info.instance, "its output or error is not valid UTF-8");
  if (text.size() > limits::kMaxPayloadBytes + 4'096) {
    violation("bad-value", info.instance, "its output or error is " + std::to_string(text.size()) + " bytes");
  }
}

// A corrupted instance ends: terminal, with a terminal event last in its
// history (read past the bad row if it does not decode), and its parent is not
// left waiting.
void World::check_corruption_visible() {
  for (const auto& [instance, row] : corrupted_) {
    const std::string what = "after a corrupted " + row + " row";
    const auto info = store_->get_instance_info(instance);
    if (!info) continue;  // force-deleted with its tree
    if (info->state == RuntimeState::Running) {
      violation("corruption-visible", instance, "still running " + what);
      continue;
    }
    const auto last_kind = raw_text(
        "SELECT event_kind FROM history WHERE instance_id = ?1 AND execution_id = ?2 ORDER BY event_id DESC LIMIT 1",
        {instance, std::to_string(info->current_execution_id)});
    const bool terminal = last_kind && (*last_kind == to_string(EventKind::OrchestrationCompleted) ||
                                        *last_kind == to_string(EventKind::OrchestrationFailed));
    if (!terminal) {
      violation("corruption-visible", instance,
                "ended " + what + " without a terminal event in its history (last: " + last_kind.value_or("none") + ")");
    }
    if (!info->parent_instance.empty()) {
      const auto parent = store_->get_instance_info(info->parent_instance);
      if (parent && parent->state == RuntimeState::Running) {
        violation("corruption-visible", instance, "its parent " + info->parent_instance + " still waits " + what);
      }
    }
  }
}

// Custom status carries over a continue-as-new: the last execution of
// SimCarryOver sets none, so the instance shows the one set before it.
void World::check_carried_status(const WorkloadInstance& instance) {
  if (instance.orchestration != "SimCarryOver" || tree_corrupted(instance.id)) return;
  const auto info = store_->get_instance_info(instance.id);
  if (!info || info->state != RuntimeState::Completed || info->current_execution_id < 2) return;
  const std::string expected = "turn " + std::to_string(info->current_execution_id - 1);
  if (info->custom_status != expected) {
    violation("carry-over", instance.id,
              "custom status " + info->custom_status.value_or("(none)") + " after " +
                  std::to_string(info->current_execution_id) + " executions, expected " + expected);
  }
}

// Nothing of a force-deleted tree comes back: no child started from a start
// message that was still queued when the tree went.
void World::check_not_deleted(const InstanceInfo& info) {
  for (std::size_t i = 0; i < workload_.instances.size(); ++i) {
    const std::string& root = workload_.instances[i].id;
    if (effects_[i].deleted && info.instance.rfind(root + "::", 0) == 0) {
      violation("force-delete", info.instance, "a child of the force-deleted " + root + " exists");
    }
  }
}

// A custom workload's instance against its own check; children and detached
// instances are read on demand by the check.
void World::check_custom_end(std::size_t index) {
  const WorkloadInstance& instance = workload_.instances[index];
  const InstanceLookup lookup = [this](const std::string& id) {
    auto end = read_instance_end(*store_, id, nullptr);
    if (end) end->corrupted = tree_corrupted(id);
    return end;
  };
  auto end = read_instance_end(*store_, instance.id, &effects_[index]);
  end->corrupted = tree_corrupted(instance.id);
  // A corrupted tree may end either way, and its end reads what survived (a history that
  // did not decode reads empty): its check's problems and throws are counted, not violations.
  std::vector<std::pair<std::string, std::string>> problems;  // invariant, detail
  try {
    for (std::string& problem : custom_->check(*end, lookup)) problems.emplace_back("outcome", std::move(problem));
  } catch (const std::exception& error) {  // the user's check: its failure is this seed's, reported with it
    problems.emplace_back("check", std::string("the check threw: ") + error.what());
  } catch (...) {  // e.g. a test framework's failed assertion inside the check
    problems.emplace_back("check", "the check threw an exception that is not a std::exception");
  }
  if (end->corrupted && !problems.empty()) ++result_.checks_waived;
  for (const auto& [invariant, detail] : problems) {
    if (!end->corrupted) violation(invariant, instance.id, detail);
  }
  trace("final " + instance.id + " " + (end->state == RuntimeState::Completed ? "Completed(" + end->output
                                                                              : "Failed(" + end->error) + ")");
}

void World::phase_one() {
  std::uint64_t idle_steps = 0;  // steps in a row whose node found no work (or was down)
  std::uint64_t jumps = 0;       // idle jumps since a node last found work
  for (; step_ < options_.steps; ++step_) {
    run_client_ops(false);
    clock_.advance(scheduler_.between(0, 4));
    if (draw(FaultKind::ClockJump)) {
      const std::int64_t jump = scheduler_.between(kOrchestrationLockMs, 2 * kWorkerLockMs);
      record_fault(FaultKind::ClockJump, 0, "+" + std::to_string(jump) + "ms");
      clock_.advance(jump);
    }
    if (pending_corruption_ || draw(FaultKind::Corruption)) corrupt_random_row();
    Node& node = *nodes_[scheduler_.below(nodes_.size())];
    const bool did = node.down_until <= step_ && node_step(node, scheduler_.below(2) == 0);
    if (did) {
      idle_steps = 0;
      jumps = 0;
    } else if (++idle_steps >= kIdleStepsPerNode * nodes_.size()) {
      idle_steps = 0;
      jump_when_idle(jumps);
    }
  }
}

// Phase 1, after steps in a row found no work: when nothing is ready, the queues hold
// only rows that wait for time (timers, retry backoffs, locks of crashed nodes) and every
// client op planned for phase 1 has run, the clock moves as in phase 2's idle rounds,
// faults still on. Without it a timer of an hour would fire only once faults stop, and its
// branch would never run under them. While ops are still to come the clock keeps its pace
// of a few milliseconds a step: a plan spaces its ops in steps, and a workload's model
// (how many timer rounds a loop waits for the events it is sent) counts on that pace.
void World::jump_when_idle(std::uint64_t& jumps) {
  for (std::size_t i = next_op_; i < workload_.ops.size(); ++i) {
    if (workload_.ops[i].step < options_.steps) return;
  }
  QueueDepths depths;
  try {
    depths = store_->get_queue_depths();
  } catch (const std::exception& error) {  // a corrupted row: the clock stays, the steps go on
    trace(std::string("idle: no jump, queue depths failed: ") + error.what());
    return;
  }
  if (depths.orchestrator_visible || depths.worker_visible) return;  // ready work a down node will take
  if (!(depths.orchestrator_delayed || depths.orchestrator_locked || depths.worker_locked)) return;
  clock_.advance(idle_wait_ms(depths, ++jumps));
}

void World::phase_two() {
  faults_on_ = false;
  trace("phase 2: faults off");
  for (auto& node : nodes_) node->down_until = 0;
  std::uint64_t idle_rounds = 0;
  while (liveness_steps_ < options_.liveness_steps) {
    run_client_ops(true);
    bool did = false;
    for (auto& node : nodes_) {
      for (bool orchestration : {true, false}) {
        did = node_step(*node, orchestration) || did;
        ++liveness_steps_;
        ++step_;
      }
    }
    if (did) {
      idle_rounds = 0;
      continue;
    }
    // Idle: finished, or waiting for time (timers, expired locks of crashed nodes).
    const QueueDepths depths = store_->get_queue_depths();
    const bool queues_empty = depths.orchestrator_visible + depths.orchestrator_delayed +
                                  depths.orchestrator_locked + depths.worker_visible +
                                  depths.worker_locked + depths.parked -
                                  std::min(depths.parked, queue_rows_corrupted_) ==
                              0;
    InstanceFilter running_filter;
    running_filter.states = {RuntimeState::Running};
    const auto running = store_->count_instances(running_filter);
    // Finished, unless client ops wait to be retried (their instance's start not yet run).
    if (queues_empty && running == 0 && next_op_ >= workload_.ops.size()) break;
    if (++idle_rounds > 1'000) break;
    clock_.advance(idle_wait_ms(depths, idle_rounds));
  }
}

// How far an idle round of phase 2 moves the clock: a second when only the
// fault-free steps may still change something, ten minutes when a timer or a lock
// waits; past 100 such rounds (16 hours) twice as far each round, up to 30 days, so a
// timer of weeks or months fires well within the bound of 1,000 idle rounds.
std::int64_t World::idle_wait_ms(const QueueDepths& depths, std::uint64_t idle_rounds) {
  if (!(depths.orchestrator_delayed || depths.orchestrator_locked || depths.worker_locked)) {
    trace("idle: +1000ms");
    return 1'000;
  }
  constexpr std::int64_t kTenMinutes = 10 * 60'000;
  constexpr std::int64_t kThirtyDays = 30LL * 24 * 3'600'000;
  std::int64_t wait = kTenMinutes;
  for (std::uint64_t round = 100; round < idle_rounds && wait < kThirtyDays; ++round) wait *= 2;
  wait = std::min(wait, kThirtyDays);
  trace("idle: +" + std::to_string(wait) + "ms");
  return wait;
}

void World::final_checks() {
  // Workload instances against the reference model.
  for (std::size_t i = 0; i < workload_.instances.size(); ++i) {
    const WorkloadInstance& instance = workload_.instances[i];
    const auto info = store_->get_instance_info(instance.id);
    if (effects_[i].deleted) {
      if (info) violation("force-delete", instance.id, "exists after its force delete");
      continue;
    }
    if (!info) {
      violation("outcome", instance.id, "the instance does not exist");
      continue;
    }
    if (info->state == RuntimeState::Running) {
      violation("liveness", instance.id,
                "still running after phase 2 (" + instance.orchestration + " " + instance.input + ")");
      continue;
    }
    if (custom_) {
      check_custom_end(i);
      ++(info->state == RuntimeState::Completed ? result_.completed : result_.failed);
      continue;
    }
    const Outcome actual = info->state == RuntimeState::Completed
                               ? Outcome{true, info->output}
                               : Outcome{false, info->error ? info->error->display_message() : ""};
    // A corruption in the instance's tree may end it either way; it must end.
    const auto allowed = tree_corrupted(instance.id)
                             ? std::vector<Outcome>{{true, "", true}, {false, "", true}}
                             : expected_outcomes(instance, effects_[i]);
    check_carried_status(instance);
    if (std::none_of(allowed.begin(), allowed.end(),
                     [&](const Outcome& model) { return allows(model, actual); })) {
      std::string expected;
      for (const auto& outcome : allowed) expected += (expected.empty() ? "" : " or ") + describe(outcome);
      violation("outcome", instance.id,
                instance.orchestration + " " + instance.input + " ended " + describe(actual) +
                    ", the model allows " + expected);
    }
    if (actual.completed) ++result_.completed;
    else ++result_.failed;
    trace("final " + instance.id + " " + describe(actual));
  }

  // Every instance in the store, children included: well-formed, deterministic, finished.
  PageRequest page;
  page.limit = 500;
  std::uint64_t instances = 0, completed = 0, failed = 0;
  std::int64_t duration_sum = 0;
  TimestampMs earliest = clock_.now_ms();
  while (true) {
    InstancePage listed = store_->list_instances(InstanceFilter{}, page);
    for (const InstanceInfo& info : listed.instances) {
      ++instances;
      earliest = std::min(earliest, info.created_at_ms);
      if (info.state == RuntimeState::Completed || info.state == RuntimeState::Failed) {
        ++(info.state == RuntimeState::Completed ? completed : failed);
        duration_sum += info.updated_at_ms - info.created_at_ms;
      }
      if (!info.parent_instance.empty()) ++result_.sub_instances;
      check_values(info);
      check_not_deleted(info);
      if (info.state == RuntimeState::Running && !info.parent_instance.empty()) {
        violation("liveness", info.instance, "sub-orchestration still running after phase 2");
      }
      for (const ExecutionInfo& execution : store_->list_executions(info.instance)) {
        const std::string where = info.instance + "#" + std::to_string(execution.execution_id);
        History history;
        try {
          history = store_->read_execution(info.instance, execution.execution_id);
        } catch (const ProviderError& error) {
          if (error.kind() != ProviderErrorKind::Corrupted || !corrupted_.count(info.instance)) throw;
          hash_.add(where + " does not decode");  // check_corruption_visible reads past it
          continue;
        }
        for (const std::string& problem : check_history(history, true)) {
          violation("history-well-formed", where, problem);
        }
        const ReplayReport report = replay_history(registry_, info.instance, execution.execution_id, history);
        if (!report.deterministic) {
          violation("replay", where, encode_replay_report(report));
        }
        hash_.add(where + " " + encode_history(history));
      }
    }
    if (listed.next_cursor.empty()) break;
    page.cursor = listed.next_cursor;
  }
  // The time series are written by the same acks as the statuses: through crashes,
  // rollbacks and duplicates they must still sum to exactly what the table holds.
  TimeSeriesQuery query;
  query.bucket = TimeSeriesQuery::Bucket::Hour;
  query.from_ms = earliest;
  query.to_ms = clock_.now_ms() + 1;
  TimeSeriesPoint totals;
  for (const TimeSeriesPoint& point : store_->get_time_series(query)) {
    totals.starts += point.starts;
    totals.completions += point.completions;
    totals.failures += point.failures;
    totals.duration_sum_ms += point.duration_sum_ms;
  }
  // Deleted instances leave their starts (and, if they had finished, their ends) behind.
  const bool deletions = deleted_instances_ > 0;
  if (totals.starts != instances + deleted_instances_ ||
      (deletions ? totals.completions < completed || totals.failures < failed || totals.duration_sum_ms < duration_sum
                 : totals.completions != completed || totals.failures != failed ||
                       totals.duration_sum_ms != duration_sum)) {
    violation("time-series", "",
              "buckets count " + std::to_string(totals.starts) + " starts, " +
                  std::to_string(totals.completions) + " completions, " + std::to_string(totals.failures) +
                  " failures, " + std::to_string(totals.duration_sum_ms) + " ms; the instances table " +
                  std::to_string(instances) + ", " + std::to_string(completed) + ", " + std::to_string(failed) +
                  ", " + std::to_string(duration_sum) + " ms");
  }

  // The status counts are kept by triggers on the instances table: they must
  // equal what the listing walked, roots and children alike.
  const std::map<RuntimeState, std::uint64_t> counted = store_->count_by_status(InstanceFilter{});
  const std::uint64_t running = instances - completed - failed;
  if (counted.at(RuntimeState::Running) != running || counted.at(RuntimeState::Completed) != completed ||
      counted.at(RuntimeState::Failed) != failed) {
    violation("status-counts", "",
              "counts say " + std::to_string(counted.at(RuntimeState::Running)) + " running, " +
                  std::to_string(counted.at(RuntimeState::Completed)) + " completed, " +
                  std::to_string(counted.at(RuntimeState::Failed)) + " failed; the instances table " +
                  std::to_string(running) + ", " + std::to_string(completed) + ", " + std::to_string(failed));
  }
  InstanceFilter roots;
  roots.roots_only = true;
  if (store_->count_instances(roots) != instances - result_.sub_instances) {
    violation("status-counts", "",
              "counts say " + std::to_string(store_->count_instances(roots)) + " roots; the instances table " +
                  std::to_string(instances - result_.sub_instances));
  }

  check_activity_runs();
  check_corruption_visible();

  // A corrupted queue row may stay parked for inspection; nothing else may.
  const QueueDepths depths = store_->get_queue_depths();
  const std::uint64_t left = depths.orchestrator_visible + depths.orchestrator_delayed +
                             depths.orchestrator_locked + depths.worker_visible + depths.worker_locked +
                             depths.parked - std::min(depths.parked, queue_rows_corrupted_);
  if (left != 0) {
    violation("liveness", "", "queues not empty after phase 2: " + std::to_string(left) + " items (" +
                                  std::to_string(depths.orchestrator_visible) + " orchestrator visible, " +
                                  std::to_string(depths.orchestrator_delayed) + " delayed, " +
                                  std::to_string(depths.worker_visible) + " worker, " +
                                  std::to_string(depths.parked) + " parked)");
  }
}

SimResult World::run() {
  trace("seed " + std::to_string(options_.seed) + " nodes " + std::to_string(options_.nodes) +
        " instances " + std::to_string(options_.instances));
  for (std::size_t i = 0; i < kFaultKindCount; ++i) {
    // Runs without the Corruption or NodeShutdown fault keep the traces (and hashes) they had before those existed.
    if ((i == index_of(FaultKind::Corruption) || i == index_of(FaultKind::NodeShutdown)) && fault_ppm_[i] == 0) {
      continue;
    }
    trace(std::string("ppm ") + kFaultNames[i] + " " + std::to_string(fault_ppm_[i]));
  }
  for (Scenario scenario : options_.scenarios) trace("scenario " + std::string(to_string(scenario)));
  phase_one();
  phase_two();
  final_checks();

  result_.seed = options_.seed;
  result_.steps = step_;
  result_.liveness_steps = liveness_steps_;
  result_.virtual_ms = clock_.now_ms() - start_ms_;
  for (std::size_t i = 0; i < kFaultKindCount; ++i) {
    result_.fault_ppm[kFaultNames[i]] = fault_ppm_[i];
    result_.faults_injected[kFaultNames[i]] = faults_injected_[i];
  }
  result_.instances = workload_.instances.size();
  result_.node_restarts = restarts_;
  result_.violations = violations_;
  result_.trace_hash = hash_.value();
  result_.trace = std::move(trace_lines_);
  if (custom_ && custom_->coverage) result_.coverage = *custom_->coverage;
  if (custom_ && custom_->describe && !violations_.empty()) result_.workload_text = custom_->describe();
  if (options_.keep_database) keep_database();
  return result_;
}

// After the hash: the checkpoint and the read are not part of the simulated world.
void World::keep_database() {
  vfs_.set_fault_hook({});
  store_->checkpoint();
  const std::optional<std::string> bytes = vfs_.file_bytes("/sim.db");
  DUROXIDE_ASSERT(bytes.has_value(), "the simulated store has a file");
  result_.database = *bytes;
}

// ---------------------------------------------------------------- NodeProvider

void NodeProvider::before(const char* operation) {
  if (node_.crash_pending) throw NodeCrash{std::string("before ") + operation + " (died inside an activity)"};
  if (world_.draw(FaultKind::NodeCrash)) {
    world_.record_fault(FaultKind::NodeCrash, node_.index, std::string("before ") + operation);
    throw NodeCrash{std::string("before ") + operation};
  }
  if (world_.draw(FaultKind::Transient)) {
    world_.record_fault(FaultKind::Transient, node_.index, operation);
    throw ProviderError(ProviderErrorKind::Transient, operation, "injected transient error");
  }
}

void NodeProvider::after(const char* operation) {
  if (world_.draw(FaultKind::NodeCrash)) {
    world_.record_fault(FaultKind::NodeCrash, node_.index, std::string("after ") + operation);
    throw NodeCrash{std::string("after ") + operation};
  }
}

std::optional<OrchestrationItem> NodeProvider::fetch_orchestration_item(std::int64_t lock_timeout_ms,
                                                                        const CapabilityFilter& filter) {
  before("fetch_orchestration_item");
  auto item = inner_.fetch_orchestration_item(lock_timeout_ms, filter);
  if (item) instance_of_token_[item->lock_token] = item->instance;
  after("fetch_orchestration_item");
  return item;
}

void NodeProvider::ack_orchestration_item(const std::string& lock_token, const OrchestrationAck& ack) {
  before("ack_orchestration_item");
  const std::string instance = instance_of_token_[lock_token];
  instance_of_token_.erase(lock_token);
  if (world_.draw(FaultKind::NodePause)) {
    world_.record_fault(FaultKind::NodePause, node_.index, "before ack_orchestration_item of " + instance);
    world_.interleave(&node_, kOrchestrationLockMs);
  }
  OrchestrationAck sent = ack;
  if (!sent.worker_items.empty() && world_.draw(FaultKind::Duplicate)) {
    world_.record_fault(FaultKind::Duplicate, node_.index, "activity of " + instance);
    sent.worker_items.push_back(sent.worker_items.front());
  }
  if (world_.draw(FaultKind::CommitCrash)) {
    world_.record_fault(FaultKind::CommitCrash, node_.index, "ack_orchestration_item of " + instance);
    const std::size_t before_size = world_.read_soundly(instance).size();
    bool committed = true;
    try {
      World::CommitFailureScope armed(world_);
      inner_.ack_orchestration_item(lock_token, sent);
    } catch (const ProviderError&) {
      committed = false;
    }
    const std::size_t after_size = world_.read_soundly(instance).size();
    if (!committed && after_size != before_size) {
      world_.violation("atomic-ack", instance,
                       "a failed commit changed the history from " + std::to_string(before_size) +
                           " to " + std::to_string(after_size) + " events");
    }
    throw NodeCrash{"inside the commit of ack_orchestration_item"};
  }
  inner_.ack_orchestration_item(lock_token, sent);
  world_.check_latest(world_.store(), instance);
  after("ack_orchestration_item");
}

void NodeProvider::abandon_orchestration_item(const std::string& lock_token, std::int64_t delay_ms,
                                              bool ignore_attempt) {
  before("abandon_orchestration_item");
  instance_of_token_.erase(lock_token);
  inner_.abandon_orchestration_item(lock_token, delay_ms, ignore_attempt);
  after("abandon_orchestration_item");
}

void NodeProvider::renew_orchestration_item_lock(const std::string& lock_token, std::int64_t extend_ms) {
  before("renew_orchestration_item_lock");
  inner_.renew_orchestration_item_lock(lock_token, extend_ms);
  after("renew_orchestration_item_lock");
}

History NodeProvider::read(const std::string& instance) {
  before("read");
  History history = inner_.read(instance);
  after("read");
  return history;
}

void NodeProvider::enqueue_orchestrator_item(const WorkItem& item, std::int64_t delay_ms) {
  before("enqueue_orchestrator_item");
  inner_.enqueue_orchestrator_item(item, delay_ms);
  after("enqueue_orchestrator_item");
}

std::optional<WorkerItem> NodeProvider::fetch_work_item(std::int64_t lock_timeout_ms, const TagFilter& filter,
                                                        const SessionFetch* session) {
  before("fetch_work_item");
  auto item = inner_.fetch_work_item(lock_timeout_ms, filter, session);
  if (item) world_.note_session_fetches(node_, {*item});
  after("fetch_work_item");
  return item;
}

void NodeProvider::ack_work_item(const std::string& lock_token, const std::optional<WorkItem>& completion) {
  before("ack_work_item");
  if (world_.draw(FaultKind::NodePause)) {
    world_.record_fault(FaultKind::NodePause, node_.index, "before ack_work_item");
    world_.interleave(&node_, kWorkerLockMs);
  }
  if (world_.draw(FaultKind::CommitCrash)) {
    world_.record_fault(FaultKind::CommitCrash, node_.index, "ack_work_item");
    const QueueDepths before_depths = world_.depths_soundly();
    bool committed = true;
    try {
      World::CommitFailureScope armed(world_);
      inner_.ack_work_item(lock_token, completion);
    } catch (const ProviderError&) {
      committed = false;
    }
    const QueueDepths after_depths = world_.depths_soundly();
    if (!committed && (after_depths.orchestrator_visible != before_depths.orchestrator_visible ||
                       after_depths.worker_locked != before_depths.worker_locked)) {
      world_.violation("atomic-ack", "", "a failed worker commit changed the queues");
    }
    throw NodeCrash{"inside the commit of ack_work_item"};
  }
  inner_.ack_work_item(lock_token, completion);
  if (completion && world_.draw(FaultKind::Duplicate)) {
    // At-least-once delivery: the same completion arrives a second time.
    world_.record_fault(FaultKind::Duplicate, node_.index, "completion for " + target_instance(*completion));
    inner_.enqueue_orchestrator_item(*completion, 0);
  }
  after("ack_work_item");
}

std::vector<OrchestrationItem> NodeProvider::fetch_orchestration_items(std::int64_t lock_timeout_ms,
                                                                       std::size_t max_items,
                                                                       const CapabilityFilter& filter) {
  before("fetch_orchestration_items");
  std::vector<OrchestrationItem> items = inner_.fetch_orchestration_items(lock_timeout_ms, max_items, filter);
  for (const OrchestrationItem& item : items) instance_of_token_[item.lock_token] = item.instance;
  after("fetch_orchestration_items");
  return items;
}

std::vector<AckOutcome> NodeProvider::ack_orchestration_items(
    const std::vector<OrchestrationAckRequest>& requests) {
  before("ack_orchestration_items");
  std::vector<std::string> instances;
  for (const OrchestrationAckRequest& request : requests) {
    instances.push_back(instance_of_token_[request.lock_token]);
    instance_of_token_.erase(request.lock_token);
  }
  if (world_.draw(FaultKind::NodePause)) {
    world_.record_fault(FaultKind::NodePause, node_.index, "before a batch of " + std::to_string(requests.size()) + " acks");
    world_.interleave(&node_, kOrchestrationLockMs);
  }
  std::vector<OrchestrationAckRequest> sent = requests;
  for (std::size_t i = 0; i < sent.size(); ++i) {
    if (!sent[i].ack.worker_items.empty() && world_.draw(FaultKind::Duplicate)) {
      world_.record_fault(FaultKind::Duplicate, node_.index, "activity of " + instances[i]);
      sent[i].ack.worker_items.push_back(sent[i].ack.worker_items.front());
    }
  }
  if (world_.draw(FaultKind::CommitCrash)) {
    world_.record_fault(FaultKind::CommitCrash, node_.index, "a batch of " + std::to_string(sent.size()) + " acks");
    std::vector<std::size_t> before_sizes;
    for (const std::string& instance : instances) before_sizes.push_back(world_.read_soundly(instance).size());
    std::vector<AckOutcome> outcomes;
    {
      World::CommitFailureScope armed(world_);
      outcomes = inner_.ack_orchestration_items(sent);
    }
    const bool committed = std::any_of(outcomes.begin(), outcomes.end(),
                                       [](const AckOutcome& outcome) { return !outcome.has_value(); });
    for (std::size_t i = 0; i < instances.size() && !committed; ++i) {
      const std::size_t after_size = world_.read_soundly(instances[i]).size();
      if (after_size != before_sizes[i]) {
        world_.violation("atomic-ack", instances[i],
                         "a failed batch commit changed the history from " + std::to_string(before_sizes[i]) +
                             " to " + std::to_string(after_size) + " events");
      }
    }
    throw NodeCrash{"inside the commit of a batch of orchestration acks"};
  }
  std::vector<AckOutcome> outcomes = inner_.ack_orchestration_items(sent);
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    if (!outcomes[i]) world_.check_latest(world_.store(), instances[i]);
  }
  after("ack_orchestration_items");
  return outcomes;
}

std::vector<WorkerItem> NodeProvider::fetch_work_items(std::int64_t lock_timeout_ms, std::size_t max_items,
                                                       const TagFilter& filter, const SessionFetch* session) {
  before("fetch_work_items");
  std::vector<WorkerItem> items = inner_.fetch_work_items(lock_timeout_ms, max_items, filter, session);
  world_.note_session_fetches(node_, items);
  after("fetch_work_items");
  return items;
}

std::vector<AckOutcome> NodeProvider::ack_work_items(const std::vector<WorkAckRequest>& requests) {
  before("ack_work_items");
  if (world_.draw(FaultKind::NodePause)) {
    world_.record_fault(FaultKind::NodePause, node_.index, "before a batch of " + std::to_string(requests.size()) + " worker acks");
    world_.interleave(&node_, kWorkerLockMs);
  }
  if (world_.draw(FaultKind::CommitCrash)) {
    world_.record_fault(FaultKind::CommitCrash, node_.index, "a batch of " + std::to_string(requests.size()) + " worker acks");
    const QueueDepths before_depths = world_.depths_soundly();
    std::vector<AckOutcome> outcomes;
    {
      World::CommitFailureScope armed(world_);
      outcomes = inner_.ack_work_items(requests);
    }
    const bool committed = std::any_of(outcomes.begin(), outcomes.end(),
                                       [](const AckOutcome& outcome) { return !outcome.has_value(); });
    const QueueDepths after_depths = world_.depths_soundly();
    if (!committed && (after_depths.orchestrator_visible != before_depths.orchestrator_visible ||
                       after_depths.worker_locked != before_depths.worker_locked)) {
      world_.violation("atomic-ack", "", "a failed batch of worker acks changed the queues");
    }
    throw NodeCrash{"inside the commit of a batch of worker acks"};
  }
  std::vector<AckOutcome> outcomes = inner_.ack_work_items(requests);
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (!outcomes[i] && requests[i].completion && world_.draw(FaultKind::Duplicate)) {
      world_.record_fault(FaultKind::Duplicate, node_.index, "completion for " + target_instance(*requests[i].completion));
      inner_.enqueue_orchestrator_item(*requests[i].completion, 0);
    }
  }
  after("ack_work_items");
  return outcomes;
}

void NodeProvider::renew_work_item_lock(const std::string& lock_token, std::int64_t extend_ms) {
  before("renew_work_item_lock");
  inner_.renew_work_item_lock(lock_token, extend_ms);
  after("renew_work_item_lock");
}

void NodeProvider::abandon_work_item(const std::string& lock_token, std::int64_t delay_ms,
                                     bool ignore_attempt) {
  before("abandon_work_item");
  inner_.abandon_work_item(lock_token, delay_ms, ignore_attempt);
  after("abandon_work_item");
}

}  // namespace

// ---------------------------------------------------------------- public

SimResult run_simulation(const SimOptions& options) {
  World world(options);
  return world.run();
}

std::string first_invariant(const SimOptions& options) {
  try {
    const SimResult result = run_simulation(options);
    return result.ok() ? std::string() : result.violations.front().invariant;
  } catch (const std::exception&) {
    return {};
  }
}

bool fails_with(const SimOptions& options, const std::string& invariant) {
  try {
    const SimResult result = run_simulation(options);
    return std::any_of(result.violations.begin(), result.violations.end(),
                       [&](const Violation& violation) { return violation.invariant == invariant; });
  } catch (const std::exception&) {
    return false;
  }
}

SimOptions shrink_failure(SimOptions failing) {
  failing.keep_trace = false;
  const std::string invariant = first_invariant(failing);
  if (invariant.empty()) return failing;
  auto fails = [&invariant](const SimOptions& options) { return fails_with(options, invariant); };
  for (bool changed = true; changed;) {
    changed = false;
    std::vector<SimOptions> candidates;
    if (failing.instances > 1 && !failing.workload) {  // a user's workload plans its own instances
      SimOptions smaller = failing;
      smaller.instances = failing.instances / 2;
      candidates.push_back(smaller);
      smaller.instances = failing.instances - 1;
      candidates.push_back(smaller);
    }
    if (failing.steps > 50) {
      SimOptions shorter = failing;
      shorter.steps = failing.steps / 2;
      candidates.push_back(shorter);
    }
    if (failing.nodes > 1) {
      SimOptions fewer = failing;
      fewer.nodes = failing.nodes - 1;
      candidates.push_back(fewer);
    }
    for (std::size_t i = 0; i < failing.faults.size(); ++i) {
      SimOptions quieter = failing;
      quieter.faults.erase(quieter.faults.begin() + static_cast<std::ptrdiff_t>(i));
      candidates.push_back(quieter);
    }
    for (std::size_t i = 0; i < failing.scenarios.size(); ++i) {
      SimOptions plainer = failing;
      plainer.scenarios.erase(plainer.scenarios.begin() + static_cast<std::ptrdiff_t>(i));
      candidates.push_back(plainer);
    }
    for (const SimOptions& candidate : candidates) {
      if (fails(candidate)) {
        failing = candidate;
        changed = true;
        break;
      }
    }
  }
  return failing;
}


namespace {

// The enumerator's name, as a program writes it in SimOptions::faults.
std::string fault_enum_name(FaultKind kind) {
  static const char* const names[kFaultKindCount] = {"NodeCrash",  "CommitCrash",     "ClockJump",    "NodePause",
                                                     "Duplicate",  "Transient",       "DiskError",    "ActivityFailure",
                                                     "SlowActivity", "Corruption",    "NodeShutdown"};
  return names[static_cast<std::size_t>(kind)];
}

}  // namespace

std::string reproduce_command(const SimOptions& options) {
  std::string faults;
  for (FaultKind kind : options.faults) faults += (faults.empty() ? "" : ",") + std::string(to_string(kind));
  if (options.workload && options.workload_flags.empty()) {
    // A workload only a program builds: the options to run it with (run_simulation).
    std::string kinds;
    for (FaultKind kind : options.faults) kinds += (kinds.empty() ? "FaultKind::" : ", FaultKind::") + fault_enum_name(kind);
    return "run_simulation with this workload and SimOptions: seed = " + std::to_string(options.seed) +
           ", steps = " + std::to_string(options.steps) + ", nodes = " + std::to_string(options.nodes) +
           ", instances = " + std::to_string(options.instances) + ", liveness_steps = " +
           std::to_string(options.liveness_steps) + ", faults = {" + kinds + "}";
  }
  std::string scenarios;
  for (Scenario scenario : options.scenarios) {
    scenarios += (scenarios.empty() ? "" : ",") + std::string(to_string(scenario));
  }
  return "duroxide-sim --seed " + std::to_string(options.seed) + " --steps " +
         std::to_string(options.steps) + " --nodes " + std::to_string(options.nodes) +
         " --instances " + std::to_string(options.instances) + " --faults " +
         (faults.empty() ? "none" : faults) + (scenarios.empty() ? "" : " --scenarios " + scenarios) +
         (options.workload_flags.empty() ? "" : " " + options.workload_flags);
}

}  // namespace duroxide::sim
