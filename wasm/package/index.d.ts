// Types of duroxide-wasm (index.mjs): the Node SDK's API on the duroxide engine in WebAssembly.
import type { Duroxide } from './duroxide.js';

/** A JSON value: what inputs, outputs, event data and activity results are. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** An Error thrown by the engine: `kind` says which rule it broke. */
export interface DuroxideError extends Error {
  kind: 'InvalidInput' | 'NotFound' | 'AlreadyExists' | 'Provider' | 'AccessDenied' | 'ReadOnly' | 'Disabled' | 'Conflict'
    | 'Timeout' | 'Unsupported' | 'internal';
}

/** A task descriptor: what ctx.schedule...() returns and an orchestration yields. */
export interface ScheduledTask {
  type: string;
  /** Activities: route to the workers whose workerTagFilter takes `tag` (1 to 256 bytes). */
  withTag?(tag: string): ScheduledTask;
  [key: string]: unknown;
}

/** One result of ctx.all(): the value, or the error message. */
export interface JoinResult<T = unknown> {
  ok?: T;
  err?: unknown;
}

/** The result of ctx.race(): which task won and its value. */
export interface RaceResult<T = unknown> {
  index: number;
  value: T;
}

/** Retries with durable-timer backoff. */
export interface RetryPolicy {
  maxAttempts: number;
  /** Per-attempt timeout; 0 or absent: none. */
  timeoutMs?: number;
  /** A bound on all attempts together, from the first one's start; 0 or absent: none. */
  totalTimeoutMs?: number;
  /** 'exponential' (default; 100 ms doubling to 30 s), 'fixed' (1 s), 'linear' (100 ms steps to 30 s) or 'none'. */
  backoff?: 'exponential' | 'fixed' | 'linear' | 'none';
  /** duroxide-wasm extension: the first delay. */
  initialDelayMs?: number;
  /** duroxide-wasm extension: the cap of growing delays. */
  maxDelayMs?: number;
}

export interface OrchestrationStatus {
  status: 'Running' | 'Completed' | 'Failed' | 'NotFound';
  /** Completed: the returned value (parsed from JSON). */
  output?: any;
  /** Failed: the error message. */
  error?: string;
  customStatus?: string;
  customStatusVersion: number;
}

export interface SystemMetrics {
  totalInstances: number;
  totalExecutions: number;
  runningInstances: number;
  completedInstances: number;
  failedInstances: number;
  totalEvents: number;
}

/** One instance's footprint (getOrchestrationStats). */
export interface SystemStats {
  /** Events of the current execution, and their stored bytes. */
  historyEventCount: number;
  historySizeBytes: number;
  /** Messages queued for the instance that no turn has taken yet. */
  queuePendingCount: number;
  /**
   * Messages in the current execution's history (those a continue-as-new carried into it
   * included) that no waitForEvent / dequeueEvent has taken yet: what a continue-as-new
   * now would carry forward. Drops as the orchestration consumes them; 0 once it has ended.
   */
  carryForwardCount: number;
  kvUserKeyCount: number;
  kvTotalValueBytes: number;
}

export interface QueueDepths {
  orchestratorQueue: number;
  workerQueue: number;
  timerQueue: number;
}

export interface InstanceInfo {
  instanceId: string;
  orchestrationName: string;
  orchestrationVersion: string;
  currentExecutionId: number;
  status: string;
  output?: any;
  error?: string;
  customStatus?: string;
  createdAt: number;
  updatedAt: number;
  parentInstanceId?: string;
}

export interface ExecutionInfo {
  executionId: number;
  status: string;
  output?: any;
  error?: string;
  startedAt: number;
  completedAt?: number;
  eventCount: number;
}

export interface InstanceTree {
  rootId: string;
  allIds: string[];
  size: number;
}

export interface DeleteInstanceResult {
  instancesDeleted: number;
  executionsDeleted: number;
  eventsDeleted: number;
  queueMessagesDeleted: number;
}

export interface PruneOptions {
  /** How many of the newest executions to keep (default 1: the current one). */
  keepLast?: number;
  /** Only executions finished before this time (ms since the epoch); both conditions hold. */
  completedBefore?: number;
}

export interface PruneResult {
  instancesProcessed: number;
  executionsDeleted: number;
  eventsDeleted: number;
}

export interface InstanceFilter {
  instanceIds?: string[];
  completedBefore?: number;
  limit?: number;
}

/** The Node SDK's history event, with the engine's other fields (event_id, input, ...) beside. */
export interface HistoryEvent {
  eventId: number;
  kind: string;
  sourceEventId: number | null;
  timestampMs: number;
  /** The event's content as JSON text (the SDK's extract_event_data); undefined for other kinds. */
  data?: string;
  event_id: number;
  [key: string]: unknown;
}

export interface MetricsSnapshot {
  orchStarts: number;
  orchCompletions: number;
  orchFailures: number;
  orchApplicationErrors: number;
  orchInfrastructureErrors: number;
  orchConfigurationErrors: number;
  orchContinueAsNew: number;
  orchPoison: number;
  activitySuccess: number;
  activityAppErrors: number;
  activityInfraErrors: number;
  activityConfigErrors: number;
  activityPoison: number;
  orchDispatcherItemsFetched: number;
  workerDispatcherItemsFetched: number;
  /** Sub-orchestration executions this runtime started. */
  suborchestrationCalls: number;
  providerErrors: number;
  locksLost: number;
  uptimeMs: number;
}

export interface LogEntry {
  level: 'info' | 'warn' | 'error' | 'debug';
  /** 'log' (orchestration trace), 'activity' (activity trace), or a runtime event: dropped, poison, unregistered, unsupported, lock-lost, provider-error. */
  kind: string;
  instanceId: string;
  activityName?: string;
  message: string;
  atMs: number;
}

export interface ProviderOptions {
  /** 'real' (default): Date.now. 'virtual': moves only with advanceTime (tests, replays). */
  clock?: 'real' | 'virtual';
  /** The virtual clock's start (ms since the epoch). */
  startMs?: number;
}

/** A SQLite database: in memory, a file (node), or opened from bytes (browsers). */
export declare class SqliteProvider {
  private constructor();
  /** 'sqlite::memory:', or under node 'sqlite:./app.db' / 'sqlite:///abs/app.db' (created if missing, durable). */
  static open(url: string, options?: ProviderOptions): Promise<SqliteProvider>;
  static inMemory(options?: ProviderOptions): Promise<SqliteProvider>;
  static fromBytes(bytes: Uint8Array | ArrayBuffer, options?: ProviderOptions): Promise<SqliteProvider>;
  /** The bytes of an in-memory database. */
  toBytes(): Uint8Array;
  /** Virtual clock only. */
  advanceTime(ms: number): void;
  nowMs(): number;
  close(): void;
}

/** Not in this build: every connect rejects with an error of kind `Unsupported`. */
export declare class PostgresProvider {
  private constructor();
  static connect(databaseUrl: string): Promise<never>;
  static connectWithSchema(databaseUrl: string, schema: string): Promise<never>;
  static connectWithEntra(host: string, port: number, database: string, user: string, options?: object): Promise<never>;
  static connectWithSchemaAndEntra(host: string, port: number, database: string, user: string, schema: string, options?: object): Promise<never>;
}

/** Starts, signals, inspects and manages instances. */
export declare class Client {
  constructor(provider: SqliteProvider);
  startOrchestration(instanceId: string, orchestrationName: string, input?: unknown): Promise<void>;
  startOrchestrationVersioned(instanceId: string, orchestrationName: string, input: unknown, version: string): Promise<void>;
  raiseEvent(instanceId: string, eventName: string, data?: unknown): Promise<void>;
  enqueueEvent(instanceId: string, queueName: string, data?: unknown): Promise<void>;
  cancelInstance(instanceId: string, reason?: string): Promise<void>;
  getStatus(instanceId: string): Promise<OrchestrationStatus>;
  /** Rejects with kind 'Timeout' when the instance has not finished in time. */
  waitForOrchestration(instanceId: string, timeoutMs?: number): Promise<OrchestrationStatus>;
  waitForStatusChange(instanceId: string, lastSeenVersion: number, pollIntervalMs?: number, timeoutMs?: number): Promise<OrchestrationStatus>;
  /** The instance's key-value store as its last committed turn left it (null: absent). */
  getValue(instanceId: string, key: string): Promise<string | null>;
  waitForValue(instanceId: string, key: string, timeoutMs?: number): Promise<string>;
  getKvAllValues(instanceId: string): Promise<Record<string, string>>;
  getSystemMetrics(): Promise<SystemMetrics>;
  getOrchestrationStats(instanceId: string): Promise<SystemStats | null>;
  getQueueDepths(): Promise<QueueDepths>;
  listAllInstances(): Promise<string[]>;
  listInstancesByStatus(status: string): Promise<string[]>;
  getInstanceInfo(instanceId: string): Promise<InstanceInfo>;
  getExecutionInfo(instanceId: string, executionId: number): Promise<ExecutionInfo>;
  listExecutions(instanceId: string): Promise<number[]>;
  readExecutionHistory(instanceId: string, executionId: number): Promise<HistoryEvent[]>;
  getInstanceTree(instanceId: string): Promise<InstanceTree>;
  deleteInstance(instanceId: string, force?: boolean): Promise<DeleteInstanceResult>;
  deleteInstanceBulk(filter?: InstanceFilter): Promise<DeleteInstanceResult>;
  pruneExecutions(instanceId: string, options?: PruneOptions): Promise<PruneResult>;
  pruneExecutionsBulk(filter?: InstanceFilter, options?: PruneOptions): Promise<PruneResult>;
  startOrchestrationTyped(instanceId: string, orchestrationName: string, input?: unknown): Promise<void>;
  startOrchestrationVersionedTyped(instanceId: string, orchestrationName: string, input: unknown, version: string): Promise<void>;
  raiseEventTyped(instanceId: string, eventName: string, data?: unknown): Promise<void>;
  enqueueEventTyped(instanceId: string, queueName: string, data?: unknown): Promise<void>;
  waitForOrchestrationTyped<TResult = unknown>(instanceId: string, timeoutMs?: number): Promise<TResult>;
}

/** What an orchestration generator gets. Scheduling methods return tasks to yield. */
export declare class OrchestrationContext {
  readonly instanceId: string;
  readonly executionId: number;
  readonly orchestrationName: string;
  readonly orchestrationVersion: string | null;
  readonly parentInstanceId: string | null;
  /** True while the code re-runs history it ran before. */
  readonly isReplaying: boolean;

  /** `options.sessionId` (when not empty): as scheduleActivityOnSession. */
  scheduleActivity(name: string, input?: unknown, options?: { sessionId?: string }): ScheduledTask;
  /**
   * Runs the activity in session `sessionId` (1 to 256 bytes; a longer one fails the
   * orchestration): every activity of one session id runs on the runtime that owns the
   * session (RuntimeOptions.workerNodeId) for as long as it owns it.
   */
  scheduleActivityOnSession(name: string, input: unknown, sessionId: string): ScheduledTask;
  scheduleActivityWithRetry(name: string, input: unknown, retry: RetryPolicy): ScheduledTask;
  /** scheduleActivityWithRetry whose every attempt runs in session `sessionId`. */
  scheduleActivityWithRetryOnSession(name: string, input: unknown, retry: RetryPolicy, sessionId: string): ScheduledTask;
  scheduleTimer(delayMs: number): ScheduledTask;
  waitForEvent(name: string): ScheduledTask;
  dequeueEvent(queueName: string): ScheduledTask;
  /** Reads a key of another instance's key-value store, durably: yields string | null. */
  getValueFromInstance(instanceId: string, key: string): ScheduledTask;
  scheduleSubOrchestration(name: string, input?: unknown): ScheduledTask;
  scheduleSubOrchestrationWithId(name: string, instanceId: string, input?: unknown): ScheduledTask;
  scheduleSubOrchestrationVersioned(name: string, version: string, input?: unknown): ScheduledTask;
  scheduleSubOrchestrationVersionedWithId(name: string, version: string, instanceId: string, input?: unknown): ScheduledTask;
  startOrchestration(name: string, instanceId: string, input?: unknown): ScheduledTask;
  startOrchestrationVersioned(name: string, version: string, instanceId: string, input?: unknown): ScheduledTask;
  newGuid(): ScheduledTask;
  utcNow(): ScheduledTask;
  continueAsNew(input?: unknown): ScheduledTask;
  continueAsNewVersioned(input: unknown, version: string): ScheduledTask;
  all(tasks: ScheduledTask[]): ScheduledTask;
  race(...tasks: ScheduledTask[]): ScheduledTask;

  scheduleActivityTyped<TResult = unknown>(name: string, input?: unknown): ScheduledTask;
  scheduleSubOrchestrationTyped<TResult = unknown>(name: string, input?: unknown): ScheduledTask;
  scheduleActivityOnSessionTyped<TResult = unknown>(name: string, input: unknown, sessionId: string): ScheduledTask;
  scheduleActivityWithRetryTyped<TResult = unknown>(name: string, input: unknown, retry: RetryPolicy): ScheduledTask;
  scheduleActivityWithRetryOnSessionTyped<TResult = unknown>(name: string, input: unknown, retry: RetryPolicy, sessionId: string): ScheduledTask;
  waitForEventTyped<TResult = unknown>(name: string): ScheduledTask;
  dequeueEventTyped<TResult = unknown>(queueName: string): ScheduledTask;
  scheduleSubOrchestrationWithIdTyped<TResult = unknown>(name: string, instanceId: string, input?: unknown): ScheduledTask;
  startOrchestrationTyped(name: string, instanceId: string, input?: unknown): ScheduledTask;
  startOrchestrationVersionedTyped(name: string, version: string, instanceId: string, input?: unknown): ScheduledTask;
  continueAsNewTyped(input?: unknown): ScheduledTask;
  allTyped<TResult = unknown>(tasks: ScheduledTask[]): ScheduledTask;
  raceTyped<TResult = unknown>(...tasks: ScheduledTask[]): ScheduledTask;

  setCustomStatus(status: string): void;
  resetCustomStatus(): void;
  getCustomStatus(): string | null;

  /** The instance's key-value store: recorded in history, kept across continue-as-new. */
  setValue(key: string, value: string): void;
  getValue(key: string): string | null;
  clearValue(key: string): void;
  clearAllValues(): void;
  getKvAllValues(): Record<string, string>;
  getKvAllKeys(): string[];
  getKvLength(): number;
  pruneKvValuesUpdatedBefore(cutoffMs: number): number;

  traceInfo(message: string): void;
  traceWarn(message: string): void;
  traceError(message: string): void;
  traceDebug(message: string): void;
}

/** What an activity function gets. */
export declare class ActivityContext {
  readonly instanceId: string;
  readonly executionId: number;
  readonly activityId: number;
  readonly activityName: string;
  /** 1 on the first delivery; more after a crash or a lost lock. */
  readonly attempt: number;
  /** Its instance's orchestration and version when it was fetched (null when the instance has no row). */
  readonly orchestrationName: string | null;
  readonly orchestrationVersion: string | null;
  readonly workerId: string;
  /** The session it runs in (scheduleActivityOnSession), or null. */
  readonly sessionId: string | null;
  /** The tag the activity was scheduled with (`withTag`), or null. */
  tag(): string | null;
  /** True once the orchestration cancelled this activity (or its lock was lost). */
  isCancelled(): boolean;
  /** The runtime's one Client on its provider (the same object for every activity). */
  getClient(): Client;
  traceInfo(message: string): void;
  traceWarn(message: string): void;
  traceError(message: string): void;
  traceDebug(message: string): void;
}

export interface RuntimeOptions {
  /** Activities running at once (default 8). */
  workerConcurrency?: number;
  /** Idle wait between polls of the store (default 50 ms). */
  dispatcherPollIntervalMs?: number;
  /** Activity lock; renewed at half of it while the activity runs (default 30000). */
  workerLockTimeoutMs?: number;
  orchestrationLockTimeoutMs?: number;
  /** Deliveries of one item before it is poison (default 10). */
  maxAttempts?: number;
  /** Receives orchestration and activity traces and runtime events. */
  logger?: (entry: LogEntry) => void;
  /** The activities this runtime's workers take by tag (default 'defaultOnly': untagged only). */
  workerTagFilter?: TagFilter;
  /**
   * The session owner this runtime claims activity sessions as (at most 256 bytes). Give it a
   * name that outlives a restart and the restarted runtime takes its sessions back at once;
   * default: an id of its own, for its lifetime. Runtimes sharing a provider need different ones.
   */
  workerNodeId?: string;
  /** Sessions whose activities run here at once (1 to 10000; default 10): at that many, only activities outside sessions are fetched. */
  maxSessionsPerRuntime?: number;
  /** A session with no activity here for this long is let go: another runtime may claim it (default 300000 ms). */
  sessionIdleTimeoutMs?: number;
}

/**
 * - `'defaultOnly'`: untagged activities only (the default)
 * - `{ tags: ['gpu'] }`: only activities with one of these tags (1 to 5)
 * - `{ defaultAnd: ['gpu'] }`: untagged activities and those with one of these tags
 * - `'any'`: every activity; `'none'`: no activity (a runtime of orchestrations only)
 */
export type TagFilter = 'defaultOnly' | 'any' | 'none' | { tags: string[] } | { defaultAnd: string[] };

export type OrchestrationFunction<TIn = any> =
  (ctx: OrchestrationContext, input: TIn) => Generator<ScheduledTask, unknown, any>;
export type ActivityFunction<TIn = any, TOut = unknown> =
  (ctx: ActivityContext, input: TIn) => TOut | Promise<TOut>;

/** Runs registered orchestrations and activities against a provider. */
export declare class Runtime {
  constructor(provider: SqliteProvider, options?: RuntimeOptions);
  registerActivity(name: string, fn: ActivityFunction): void;
  registerActivityTyped<TIn, TOut>(name: string, fn: ActivityFunction<TIn, TOut>): void;
  registerOrchestration(name: string, fn: OrchestrationFunction): void;
  registerOrchestrationTyped<TIn>(name: string, fn: OrchestrationFunction<TIn>): void;
  registerOrchestrationVersioned(name: string, version: string, fn: OrchestrationFunction): void;
  registerOrchestrationVersionedTyped<TIn>(name: string, version: string, fn: OrchestrationFunction<TIn>): void;
  /** Runs in the background on the event loop until shutdown(). */
  start(): Promise<void>;
  /** Waits up to timeoutMs (default 10000) for running activities, gives the rest back. */
  shutdown(timeoutMs?: number): Promise<void>;
  metricsSnapshot(): MetricsSnapshot;
  /** Deterministic mode (a runtime that was not started): runs until nothing is left to do now. */
  runUntilIdle(options?: { maxSteps?: number }): Promise<number>;
  /** Deterministic mode: moves the provider's virtual clock, then runs until idle. */
  advanceTime(ms: number): Promise<number>;
}

/** What setup() registers into for a simulation (activities must return synchronously). */
export interface SimulationRegistrar {
  registerActivity(name: string, fn: (ctx: SimulationActivityContext, input: any) => unknown): void;
  registerActivityTyped<TIn, TOut>(name: string, fn: (ctx: SimulationActivityContext, input: TIn) => TOut): void;
  registerOrchestration(name: string, fn: OrchestrationFunction): void;
  registerOrchestrationTyped<TIn>(name: string, fn: OrchestrationFunction<TIn>): void;
  registerOrchestrationVersioned(name: string, version: string, fn: OrchestrationFunction): void;
  registerOrchestrationVersionedTyped<TIn>(name: string, version: string, fn: OrchestrationFunction<TIn>): void;
}

export interface SimulationActivityContext {
  readonly instanceId: string;
  readonly executionId: number;
  readonly activityId: number;
  readonly activityName: string;
  readonly attempt: number;
  /** The session it runs in (scheduleActivityOnSession), or null. */
  readonly sessionId: string | null;
  isCancelled(): boolean;
  tag(): string | null;
  traceInfo(message: string): void;
  traceWarn(message: string): void;
  traceError(message: string): void;
  traceDebug(message: string): void;
}

/** The client a simulation workload plans with: each call becomes an operation at sim.step. */
export interface SimulationClient {
  startOrchestration(instanceId: string, orchestrationName: string, input?: unknown): Promise<void>;
  raiseEvent(instanceId: string, eventName: string, data?: unknown): Promise<void>;
  enqueueEvent(instanceId: string, queueName: string, data?: unknown): Promise<void>;
  cancelInstance(instanceId: string, reason?: string): Promise<void>;
}

export interface SimulationWorld {
  readonly seed: number;
  /** Phase 1's length in scheduler steps. */
  readonly steps: number;
  /** The step the next client operations happen at. */
  readonly step: number;
  at(step: number): void;
  /** Seeded by the run's seed: in [0, 1). */
  random(): number;
  randomInt(bound: number): number;
}

/** One started instance's end, for check(). */
export interface SimulationEnd {
  instanceId: string;
  orchestration: string;
  input: any;
  exists: boolean;
  status: 'Running' | 'Completed' | 'Failed' | 'NotFound';
  output?: any;
  error?: string;
  customStatus?: string;
  executions: number;
  cancelAccepted: boolean;
}

export type FaultKind = 'node-crash' | 'commit-crash' | 'clock-jump' | 'node-pause' | 'duplicate' | 'transient'
  | 'disk-error' | 'activity-failure' | 'slow-activity' | 'corruption' | 'node-shutdown' | string;

export interface SimulationOptions {
  seed?: number;
  /** Phase 1 (faults on) scheduler steps (default 2000); phase 2 runs to quiescence. */
  steps?: number;
  nodes?: number;
  /** Fault kinds (faultKinds()); default: defaultFaultKinds(). */
  faults?: FaultKind[];
  setup(runtime: SimulationRegistrar): void | Promise<void>;
  workload(client: SimulationClient, sim: SimulationWorld): void | Promise<void>;
  /** Problems with one instance's end; [] (or nothing) when it is allowed. */
  check?(end: SimulationEnd): string[] | void;
}

export interface SimulationViolation {
  invariant: string;
  instance: string;
  detail: string;
  step: number;
}

export interface SimulationResult {
  seed: number;
  hash: string;
  ok: boolean;
  violations: SimulationViolation[];
  faults_injected: Record<string, number>;
  completed: number;
  failed: number;
  instances: number;
  trace: string[];
  trace_lines: number;
  [key: string]: unknown;
}

/** Runs your orchestrations in the native simulator's world (faults, virtual time, invariants). */
export declare function runSimulation(options: SimulationOptions): Promise<SimulationResult>;
/** Every fault kind the simulator knows. */
export declare function faultKinds(): string[];
/** The fault kinds a run draws when it names none. */
export declare function defaultFaultKinds(): string[];

/** The lower-level engine API (sample catalog, step driver, replay, native simulator). */
export declare function createDuroxide(): Promise<Duroxide>;

/** Not supported: throws (use the Runtime option `logger`). */
export declare function initTracing(options?: object): never;

export declare const MAX_KV_KEYS: number;
export declare const MAX_KV_VALUE_BYTES: number;
export declare const MAX_WORKER_TAGS: number;
export declare const MAX_TAG_NAME_BYTES: number;
