// Types of the JavaScript API (wasm/duroxide.mjs).

export type RuntimeState = 'Running' | 'Completed' | 'Failed' | 'NotFound';
// A length of time: ms, or whole units as text ('7d', '12h', '1h30m', '45s', '500ms').
export type Duration = number | string;

export interface ErrorInfo { message: string; kind: string; category: string; }

export interface DuroxideError extends Error {
  kind: 'InvalidInput' | 'UnknownCommand' | 'NotFound' | 'AlreadyExists' | 'Provider' | 'AccessDenied' | 'ReadOnly' | 'Disabled' | 'Conflict' | 'internal';
}

export interface Status {
  instance: string;
  status: RuntimeState;
  output?: string;
  error: ErrorInfo | null;
  custom_status: string | null;
  custom_status_version: number;
}

export interface InstanceSummary {
  instance: string;
  orchestration: string;
  version: string;
  status: RuntimeState;
  preview: string;
  output: string | null;
  error: ErrorInfo | null;
  custom_status: string | null;
  executions: number;
  current_execution: number;
  parent: string;
  created_at_ms: number;
  updated_at_ms: number;
}

export interface ExecutionInfo {
  execution: number;
  status: RuntimeState;
  continued_as_new: boolean;
  output: string;
  error: ErrorInfo | null;
  started_at_ms: number;
  completed_at_ms: number;
  events: number;
}

export interface PendingWork {
  kind: string;
  scheduled_event_id: number;
  name: string;
  input: string;
  instance: string;
  scheduled_at_ms: number;
  fire_at_ms: number;
  /** `input` is a prefix of at most 1024 bytes; the scheduling event holds it whole. */
  input_truncated: boolean;
  /** Activities: the tag it was scheduled with (`withTag`); "" when untagged. */
  tag: string;
  /** Activities: the session it runs in (`scheduleActivityOnSession`); "" when none. */
  session_id: string;
  /** Sub-orchestrations: the version it asked for; "" when the registry's policy picks. */
  version: string;
}

export interface InstanceDetails extends InstanceSummary {
  execution_list: ExecutionInfo[];
  /** At most 100 items, in scheduling order; `pending_total` counts all of them. */
  pending: PendingWork[];
  pending_total: number;
}

export interface HistoryEvent {
  event_id: number;
  source_event_id?: number;
  timestamp_ms: number;
  kind: string;
  [field: string]: unknown;
}

export interface InstanceFilter {
  states?: Array<'Running' | 'Completed' | 'Failed'>;
  name?: string;
  version?: string;
  prefix?: string;
  parent?: string;
  rootsOnly?: boolean;
  // A substring (case-sensitive, at most 256 bytes) of the input, output, error or custom status.
  // A search reads at most 50,000 instances a call: its page may end short, even empty, with
  // a next_cursor that goes on.
  contains?: string;
  // [from, to) in ms since the epoch; unknown keys are an error.
  createdFromMs?: number; createdToMs?: number; updatedFromMs?: number; updatedToMs?: number;
  // Only instances with work ready for them since before this time (ms) that nothing has
  // taken: a visible message, or an activity no live lock holds (health's "no progress").
  readyWorkBeforeMs?: number;
  // Only this tenant's instances; a caller bound to another tenant is refused (AccessDenied).
  tenant?: string;
}

export interface SessionInfo {
  session_id: string; owner_id: string; locked_until_ms: number; claimed_at_ms: number; held: boolean; queued_items: number;
}

/** A message the store parked because nothing would consume it; `item` is the work item's JSON as queued. */
export interface ParkedMessage {
  id: number; instance: string; reason: string; parked_at_ms: number; item: string;
}

export interface QueueDepths {
  orchestrator_visible: number; orchestrator_delayed: number; orchestrator_locked: number;
  worker_visible: number; worker_locked: number; parked: number;
  timers_due: number; timers_pending: number;
  oldest_orchestrator_age_ms: number; oldest_worker_age_ms: number;
}

/**
 * `tag`: the tag it was scheduled with (`withTag`), "" when untagged; `sessionId`: the session it
 * runs in (`scheduleActivityOnSession`), "" when none; `orchestrationName` and
 * `orchestrationVersion`: its instance's when it was fetched, "" when the instance has no row.
 */
export interface ActivityContext {
  instance: string; execution: number; activityId: number; name: string; tag: string; sessionId: string;
  orchestrationName: string; orchestrationVersion: string;
}

export interface Caller { principal?: string; tenant?: string; roles?: string[]; }

/** Ages: a duration ("7d", "12h", "500ms") or a number of ms. `runUntilIdle` deletes what is older, a batch at a time. */
export interface Retention {
  /** Finished root instances (default 0: kept forever). */
  finished?: string | number;
  /** The change feed (default 7 days; 0: forever). */
  changes?: string | number;
  /** Queued messages no instance could take (default 30 days; 0: forever). */
  parked?: string | number;
}

export declare class Runtime {
  constructor(options?: {
    database?: Uint8Array | ArrayBuffer; startMs?: number; readOnly?: boolean; management?: boolean; caller?: Caller;
    retention?: Retention;
    /** Keep the newest this many executions of a continue-as-new loop (0, the default: all). */
    executionsKept?: number;
    /** The activities its workers take by tag, as the package Runtime's option ('defaultOnly' by default). */
    workerTagFilter?: 'defaultOnly' | 'any' | 'none' | { tags: string[] } | { defaultAnd: string[] };
    /** The session owner it claims activity sessions as ("local" by default; at most 256 bytes). */
    workerNodeId?: string;
    /** Sessions whose activities run here at once (1 to 10000; default 10). */
    maxSessionsPerRuntime?: number;
    /** A session with no activity here for this long is let go (default 300000 ms). */
    sessionIdleTimeoutMs?: number;
  });
  registerActivity(name: string, fn: (input: string, context: ActivityContext) => unknown): void;
  /**
   * A generator orchestration (ctx: the npm package's OrchestrationContext), version 1.0.0;
   * registers it or replaces that version's earlier code, the catalog's too. Values follow the
   * text convention (encodeText / decodeText). Needs the package's createDuroxide().
   */
  registerOrchestration(name: string, fn: (ctx: any, input: unknown) => Generator<any, unknown, any>): void;
  registerOrchestrationVersioned(name: string, version: string, fn: (ctx: any, input: unknown) => Generator<any, unknown, any>): void;
  step(): boolean;
  runUntilIdle(maxSteps?: number): number;
  advanceTime(ms: number): void;
  nowMs(): number;
  takeLogs(): Array<{ kind: string; instance: string; message: string; at_ms: number }>;
  saveDatabase(): Uint8Array;
  close(): void;
}

// RuntimeClient and ManagementClient are built from the command table
// (core/hosts/commands.hpp; `duroxide help <command>` on the CLI): one method
// per command, its positional arguments as parameters, the others in a trailing
// `options` object. tests/js/commands_agree.mjs checks these declarations
// against the table.
export declare class RuntimeClient {
  constructor(runtime: Runtime);
  startOrchestration(instance: string, orchestration: string, input?: string, options?: { version?: string }): string;
  raiseEvent(instance: string, event: string, data?: string): null;
  enqueueEvent(instance: string, queue: string, data?: string): null;
  cancelInstance(instance: string, reason?: string): boolean;
  getStatus(instance: string): Status;
  waitForOrchestration(instance: string, timeoutMs?: Duration): Status;
  waitForStatusChange(instance: string, sinceVersion?: number, timeoutMs?: Duration):
    { custom_status: string | null; custom_status_version: number } | null;
  // Bulk control: the ids in options.instances, or one batch of the filter's running
  // matches; pass the result's continuation back to go on (see BulkOptions).
  cancelInstances(filter?: InstanceFilter, reason?: string, options?: { instances?: string[]; batch?: number; continuation?: string; dryRun?: boolean }): BulkResult;
  raiseEventBulk(filter: InstanceFilter, event: string, data?: string,
                 options?: { instances?: string[]; batch?: number; continuation?: string; dryRun?: boolean }): BulkResult;
  enqueueEventBulk(filter: InstanceFilter, queue: string, data?: string,
                   options?: { instances?: string[]; batch?: number; continuation?: string; dryRun?: boolean }): BulkResult;
  // The whole walk in one call, every batch, onProgress after each.
  cancelInstancesAll(filter?: InstanceFilter, reason?: string, options?: BulkOptions & Walk<BulkTotal>): Promise<BulkTotal>;
  raiseEventBulkAll(filter: InstanceFilter, event: string, data?: string, options?: BulkOptions & Walk<BulkTotal>):
    Promise<BulkTotal>;
  enqueueEventBulkAll(filter: InstanceFilter, queue: string, data?: string, options?: BulkOptions & Walk<BulkTotal>):
    Promise<BulkTotal>;
  waitForInstances(instances: string[], timeoutMs?: Duration): Status[];
  // Waits, within timeoutMs per call, for the ids in options.instances or one batch of the
  // filter's matches (any state unless the filter names states); a still-running one fails.
  waitForInstancesBulk(filter?: InstanceFilter,
                       options?: { instances?: string[]; batch?: number; continuation?: string; dryRun?: boolean; timeoutMs?: Duration }): BulkResult;
  waitForInstancesBulkAll(filter?: InstanceFilter, options?: BulkOptions & { timeoutMs?: Duration } & Walk<BulkTotal>):
    Promise<BulkTotal>;
  getValue(instance: string, key: string): string | null;
  getAllValues(instance: string): Record<string, string>;
  waitForValue(instance: string, key: string, timeoutMs?: Duration): string | null;
}

export declare class ManagementClient {
  constructor(runtime: Runtime);
  // sort: by creation time, last update time or duration, largest (desc, the default) or smallest (asc) first.
  listInstances(filter?: InstanceFilter,
                options?: { cursor?: string; limit?: number; sort?: 'created-desc' | 'created-asc' | 'updated-desc' | 'updated-asc' | 'duration-desc' | 'duration-asc' }):
    { instances: InstanceSummary[]; next_cursor: string };
  countInstances(filter?: InstanceFilter): number;
  countByStatus(filter?: InstanceFilter): Partial<Record<'Running' | 'Completed' | 'Failed', number>>;
  findChildInstances(instance: string): InstanceSummary[];
  getInstanceTree(instance: string): InstanceTree;
  getInstanceDetails(instance: string): InstanceDetails;
  listExecutions(instance: string, options?: { after?: number; limit?: number }): ExecutionInfo[];
  // carry_forward_count: messages in the current execution's history no wait has taken yet.
  getInstanceStats(instance: string): {
    execution_id: number; history_event_count: number; history_size_bytes: number; queue_pending_count: number;
    carry_forward_count: number; kv_user_key_count: number; kv_total_value_bytes: number;
  } | null;
  getExecutionInfo(instance: string, execution: number): ExecutionInfo | null;
  readExecution(instance: string, execution?: number, options?: { kinds?: string[]; fromEventId?: number; toEventId?: number; fromMs?: number; toMs?: number; limit?: number }):
    HistoryEvent[];
  getBulkStatus(instances: string[]): Status[];
  exportInstance(instance: string): object;
  // The instance and its descendants, the root first; a page of a filtered set (any state
  // unless the filter names states), and the whole walk.
  exportTree(instance: string): object[];
  exportInstances(filter?: InstanceFilter, options?: { instances?: string[]; batch?: number; continuation?: string; dryRun?: boolean }):
    BulkResult & { documents: object[] };
  exportInstancesAll(filter?: InstanceFilter, options?: BulkOptions & Walk<BulkTotal & { documents: object[] }>):
    Promise<BulkTotal & { documents: object[] }>;
  getSystemMetrics(): {
    total_instances: number; running: number; completed: number; failed: number; total_executions: number; total_events: number;
  };
  getQueueDepths(): QueueDepths;
  /** The activity sessions the store keeps, by id after `after`: who holds each, until when, its queued items. */
  listSessions(options?: { after?: string; limit?: number }): SessionInfo[];
  /** The messages the store parked (their count: getQueueDepths().parked), oldest first after `afterId`. */
  listParkedMessages(options?: { afterId?: number; limit?: number }): ParkedMessage[];
  /** Deletes parked messages by id (at most 1000); unknown ids are skipped. */
  deleteParkedMessages(ids: number[]): { deleted: number };
  getProviderDiagnostics(): {
    store_kind: string; store_version: string; schema_version: number; location: string; journal_mode: string;
    page_size: number; page_count: number; free_pages: number; database_bytes: number; wal_bytes: number; cache_bytes: number;
    last_checkpoint_ms: number; checkpoints: number; table_rows: Record<string, number>; connected: boolean;
    last_error: string | null; last_error_ms: number; error_count: number; round_trip_us: number;
    round_trips: number; statements_prepared: number;
  };
  getOrchestrationStats(name?: string): Array<{ name: string; running: number; completed: number; failed: number; continued: number }>;
  getActivityStats(name?: string): Array<{ name: string; scheduled: number; completed: number; failed: number; failure_rate: number; avg_duration_ms: number }>;
  getPerformanceMetrics(name: string, options?: { sinceMs?: number }): DurationStats;
  getSystemHealth(options?: { longRunningMs?: Duration; noProgressMs?: Duration; recentFailureWindowMs?: Duration }):
    { score: number; counts: Record<string, number>; long_running: number; no_progress: number; recent_failures: number; queues: QueueDepths };
  getProblematicInstances(options?: { limit?: number; longRunningMs?: Duration; noProgressMs?: Duration; recentFailureWindowMs?: Duration }):
    { long_running: InstanceSummary[]; no_progress: InstanceSummary[]; recently_failed: InstanceSummary[] };
  changesSince(cursor?: number, options?: { limit?: number }): { changes: InstanceChange[]; next_cursor: number };
  getTimeSeries(options?: {
    metric?: 'starts' | 'completions' | 'failures' | 'duration' | 'all'; orchestration?: string;
    bucket?: 'minute' | 'hour'; fromMs?: number; toMs?: number;
  }): TimeSeries;
  watchMetrics(cursor?: number, limit?: number): { deltas: MetricDelta[]; next_cursor: number };
  deleteInstance(instance: string, options?: { force?: boolean }): DeleteResult;
  // A delete that stopped at its limit with candidates left returns a `continuation`; pass it
  // back (with the same `instances`, when it listed them) to go on.
  deleteInstances(options?: {
    instances?: string[]; filter?: InstanceFilter; completedBeforeMs?: number; limit?: number; continuation?: string;
    dryRun?: boolean;
  }): DeleteResult;
  deleteInstancesAll(options?: DeleteOptions & Walk<DeleteTotal>): Promise<DeleteTotal>;
  // Removes all but the newest keepLast executions; with completedBeforeMs, only those finished before it (0: any).
  pruneExecutions(instance: string, keepLast: number, options?: { completedBeforeMs?: number }): { instance: string; pruned: number; events_pruned: number };
  pruneExecutionsBulk(filter: InstanceFilter, options: {
    keepLast: number; completedBeforeMs?: number; instances?: string[]; batch?: number; continuation?: string; dryRun?: boolean;
  }): BulkResult & { executions_pruned: number; events_pruned: number };
  pruneExecutionsBulkAll(filter: InstanceFilter, options: { keepLast: number; completedBeforeMs?: number } & BulkOptions & Walk<BulkTotal & { executions_pruned: number; events_pruned: number }>):
    Promise<BulkTotal & { executions_pruned: number; events_pruned: number }>;
  // Required: purging every finished instance needs an explicit 0. limit 0 (the default)
  // purges everything in one call; a positive limit is one batch with a continuation.
  purgeCompleted(olderThanMs: Duration, options?: { limit?: number; continuation?: string; dryRun?: boolean }): DeleteResult;
  purgeCompletedAll(olderThanMs: Duration, options?: PurgeOptions & Walk<DeleteTotal>): Promise<DeleteTotal>;
  importInstance(data: string | object): string;
  // Export documents one per line (JSON lines); each line imports on its own.
  importInstances(data: string): BulkResult;
}

export interface BulkItemResult { instance: string; ok: boolean; error: string; }

// instances: these ids (at most 1000; the filter is then ignored); batch: instances per
// call of a filtered walk (1..1000, default 100); continuation: the previous call's;
// dryRun: list what would be touched, change nothing.
export interface BulkOptions { instances?: string[]; batch?: number; continuation?: string; dryRun?: boolean; }
export interface BulkResult {
  items: BulkItemResult[]; succeeded: number; failed: number; continuation: string; dry_run: boolean;
}
// A whole walk: the pages' counts added up, the failed items, how many calls it took.
export interface BulkTotal { succeeded: number; failed: number; failures: BulkItemResult[]; continuation: string; dry_run: boolean; pages: number; }
export interface Walk<Total> { onProgress?: (total: Total) => void; }

export interface DeleteOptions {
  instances?: string[]; filter?: InstanceFilter; completedBeforeMs?: number; limit?: number; continuation?: string;
  dryRun?: boolean;
}
export interface PurgeOptions { limit?: number; continuation?: string; dryRun?: boolean; }
export interface DeleteTotal extends DeleteResult { pages: number; }

export interface InstanceTree extends InstanceSummary { children: InstanceTree[]; }

export interface DurationStats {
  count: number; min_ms: number; avg_ms: number; p50_ms: number; p95_ms: number; p99_ms: number; max_ms: number;
}

// A dry run counts instances only (executions, events and queue_items stay 0).
export interface DeleteResult {
  instances: number; executions: number; events: number; queue_items: number; denied: string[];
  continuation: string; dry_run: boolean;
}

export interface InstanceChange {
  seq: number; instance: string; status: RuntimeState | 'Deleted'; execution: number;
  custom_status_version: number; changed_at_ms: number;
}

export interface CommandArg {
  name: string; type: 'string' | 'integer' | 'boolean' | 'string[]' | 'integer[]' | 'choice' | 'filter' | 'document' | 'duration';
  required: boolean; positional: boolean; help: string; default?: unknown; min?: number; max?: number; choices?: string[];
}

export interface Command {
  name: string; method: string; client: 'runtime' | 'management'; help: string; returns: string; args: CommandArg[];
  paged: boolean;  // takes a continuation and returns the next: it has a `<method>All` walk
}

export interface TimeSeriesPoint {
  bucket_start_ms: number;
  starts?: number; completions?: number; failures?: number;
  duration_count?: number; duration_sum_ms?: number; duration_avg_ms?: number; duration_histogram?: number[];
}

export interface TimeSeries {
  metric: string; orchestration: string; bucket: 'minute' | 'hour'; from_ms: number; to_ms: number;
  histogram_bounds_ms: number[]; points: TimeSeriesPoint[];
}

export interface MetricDelta {
  seq: number; orchestration: string; instance: string; starts: number; completions: number; failures: number;
  started_at_ms?: number; finished_at_ms?: number; duration_ms?: number;
}

export interface ReplayStep {
  index: number;
  event: HistoryEvent;
  state: 'Running' | 'Completed' | 'Failed';
  continued_as_new: boolean;
  custom_status: string | null;
  cancel_requested: boolean;
  /** The first 100 items pending after the event (inputs cut to 1,024 bytes, marked input_truncated); pending_total counts them all. */
  pending: PendingWork[];
  pending_total: number;
  /** The report's log lines written up to this event. */
  logs: unknown[];
}

export interface ReplayReport {
  deterministic: boolean;
  mismatch?: { history_index: number; event_id: number; expected: string; actual: string; [f: string]: unknown };
  error?: ErrorInfo;
  events: number;
  /** One step per event, read from the engine when first used (128 at a time); read-only and not enumerable (a copy of the report leaves it). */
  readonly steps: readonly ReplayStep[];
  history: HistoryEvent[];
}

export interface SimulationSummary {
  seed: number; hash: string; ok: boolean; steps: number; virtual_ms: number;
  instances: number; completed: number; failed: number; node_restarts: number;
  /** Instances whose check's problems were not counted: the corruption fault had damaged their tree. */
  checks_waived: number;
  fault_ppm: Record<string, number>; faults_injected: Record<string, number>;
  violations: Array<{ invariant: string; instance: string; detail: string; step: number }>;
  reproduce: string; trace: string[]; trace_lines: number;
}

/** A client operation a simulation workload planned, due at a phase-1 step. */
export interface PlannedOp { kind: 'start' | 'raise' | 'enqueue' | 'cancel'; step: number; instanceId: string; name: string; data: string; }

export interface CodeSimulationOptions {
  orchestrations?: Array<{ name: string; version?: string; fn: (ctx: any, input: unknown) => Generator<any, unknown, any> }>;
  activities?: Array<{ name: string; fn: (ctx: any, input: unknown) => unknown }>;
  workload?: (client: any, sim: any) => unknown;
  check?: (end: any) => string[] | undefined;
  seed?: number; steps?: number; nodes?: number; faults?: string[]; keepDatabase?: boolean; ops?: PlannedOp[];
}

export interface Duroxide {
  Runtime: typeof Runtime;
  RuntimeClient: typeof RuntimeClient;
  ManagementClient: typeof ManagementClient;
  /**
   * `instance` / `execution`: whose history it is (ids derived from the instance id, such as a
   * sub-orchestration's, replay only under it); `orchestrations` replace (or add to) the catalog's
   * code for this replay only.
   */
  replayHistory(history: string | object, options?: {
    instance?: string; execution?: number;
    orchestrations?: Array<{ name: string; version?: string; fn: (ctx: any, input: unknown) => Generator<any, unknown, any> }>;
  }): ReplayReport;
  /**
   * Simulates JavaScript orchestrations and activities (text convention) in the simulator's world.
   * `ops` replays a run's planned client operations instead of calling `workload`; `keepDatabase`
   * adds the store's final file as `result.database`. Needs the package's createDuroxide().
   */
  simulateCode(options: CodeSimulationOptions): Promise<{ result: SimulationSummary & { database?: Uint8Array }; ops: PlannedOp[] }>;
  /** Shrinks a failing simulateCode run (operations, fault kinds, nodes, steps; at most 200 runs). */
  shrinkSimulation(options: CodeSimulationOptions): Promise<{
    options: CodeSimulationOptions; result: SimulationSummary & { database?: Uint8Array }; ops: PlannedOp[]; runs: number;
  }>;
  /** The engine API's value convention: a string as itself, anything else as JSON. */
  encodeText(value: unknown): string;
  /** Text to a value: its JSON when it parses, else the text itself (empty: null). */
  decodeText(text: string): unknown;
  replayStep(history: string | object, index: number): ReplayStep;
  runSimulation(options?: { seed?: number; steps?: number; nodes?: number; instances?: number; faults?: string[] }): SimulationSummary;
  catalog(): Array<{ name: string; example_input: string; description: string }>;
  /** The command table RuntimeClient and ManagementClient are built from (the CLI's too). */
  commands(): Command[];
  /** Every fault kind the simulator knows. */
  faultKinds(): string[];
  /** The fault kinds a run draws when `faults` is not given (every kind but the opt-in ones: corruption, node-shutdown). */
  defaultFaultKinds(): string[];
}

/** The engine API's value convention: a string as itself, anything else as its JSON. */
export declare function encodeText(value: unknown): string;
/** Engine text to a value: its JSON when it parses, else the text itself (empty: null). */
export declare function decodeText(text: string): unknown;
export declare function createDuroxide(moduleOptions?: object): Promise<Duroxide>;
export default createDuroxide;
