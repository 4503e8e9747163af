// duroxide-wasm: durable orchestrations written as JavaScript generators, run by
// the duroxide engine compiled to WebAssembly, under node (>= 20) and in browsers
// (pages and Web Workers) from the same files. The API is the Node SDK's
// (SqliteProvider, Client, Runtime; docs/javascript.md):
//
//   const provider = await SqliteProvider.open('sqlite::memory:');
//   const runtime = new Runtime(provider);
//   runtime.registerActivity('Greet', async (ctx, name) => `Hello, ${name}!`);
//   runtime.registerOrchestration('Hello', function* (ctx, name) {
//     return yield ctx.scheduleActivity('Greet', name);
//   });
//   await runtime.start();
//   const client = new Client(provider);
//   await client.startOrchestration('hello-1', 'Hello', 'World');
//   (await client.waitForOrchestration('hello-1')).output;  // "Hello, World!"
//
// The engine replays each orchestration's generator from its history on every
// turn (wasm/js_orchestrations.cpp): a `yield` is one durable operation. The
// wasm module is single-threaded: the runtime's loop runs on the JS event loop,
// activities run as promises and are acked when they settle.
import createDuroxideCore from './duroxide_core.mjs';
import { createDuroxide as createEngineApi, decodeText } from './duroxide.mjs';

const isNode = typeof process === 'object' && process !== null && typeof process.versions?.node === 'string' &&
  typeof window === 'undefined' && typeof importScripts === 'undefined';

// Under node the module gets `require`, its directory and the .wasm bytes from
// here (Emscripten 3.1.6 would otherwise look for globals and fetch a file path).
async function loaderOptions() {
  if (!isNode) return {};
  const [{ createRequire }, { fileURLToPath }, { readFile }, path] = await Promise.all([
    import('node:module'), import('node:url'), import('node:fs/promises'), import('node:path')]);
  const wasmPath = fileURLToPath(new URL('./duroxide_core.wasm', import.meta.url));
  return {
    nodeRequire: createRequire(import.meta.url),
    nodeDirname: path.dirname(wasmPath),
    wasmBinary: await readFile(wasmPath),
  };
}

const core = await createDuroxideCore(await loaderOptions());

// ---------------------------------------------------------------- helpers

function engineError(message, kind) {
  const error = new Error(message);
  error.kind = kind;
  return error;
}

function unwrap(text) {
  const envelope = JSON.parse(text);
  if (!envelope.ok) throw engineError(envelope.error, envelope.kind);
  return envelope.value;
}

const messageOf = (error) => (error && typeof error.message === 'string' ? error.message : String(error));
const toJson = (value) => JSON.stringify(value === undefined ? null : value);

// Engine text back to a value: JSON when it parses, else the text itself.
const parseValue = decodeText;

function unsupported(what) {
  return engineError(`${what} is not supported by duroxide-wasm`, 'Unsupported');
}

const nextMacrotask = typeof setImmediate === 'function'
  ? () => new Promise((resolve) => setImmediate(resolve))
  : (() => {
    if (typeof MessageChannel !== 'function') return () => new Promise((resolve) => setTimeout(resolve, 0));
    const channel = new MessageChannel();
    const waiting = [];
    channel.port1.onmessage = () => waiting.shift()?.();
    return () => new Promise((resolve) => { waiting.push(resolve); channel.port2.postMessage(0); });
  })();

// Waits for `promise` or `ms`, whichever comes first; the timer does not outlive the wait.
async function settledWithin(promise, ms) {
  let timer;
  try {
    await Promise.race([promise, new Promise((resolve) => { timer = setTimeout(resolve, ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------- the store

let hostMounts = 0;
const mountedDirectories = new Map();

// A host directory made visible to the module (node only): its files are real files.
async function mountHostDirectory(directory) {
  if (mountedDirectories.has(directory)) return mountedDirectories.get(directory);
  const point = `/host${++hostMounts}`;
  core.FS.mkdir(point);
  core.FS.mount(core.NODEFS ?? core.FS.filesystems.NODEFS, { root: directory }, point);
  mountedDirectories.set(directory, point);
  return point;
}

// 'sqlite::memory:' -> null; 'sqlite:./app.db', 'sqlite:///abs/app.db', 'sqlite:app.db?mode=rwc', './app.db' -> the path.
function databasePath(url) {
  if (typeof url !== 'string' || url === '') throw new TypeError('SqliteProvider.open needs a database URL such as sqlite::memory: or sqlite:./app.db');
  let rest = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url;
  if (rest === ':memory:' || rest.startsWith(':memory:?')) return null;
  if (rest.startsWith('//')) rest = rest.slice(2);
  const query = rest.indexOf('?');
  if (query >= 0) rest = rest.slice(0, query);
  if (rest === '') throw new TypeError(`no file in database URL ${url}`);
  return rest;
}

let storeSerial = 0;

function openStore(path, bytes, options) {
  const settings = {
    path,
    virtualClock: options.clock === 'virtual',
    startMs: options.startMs ?? Date.now(),
    idPrefix: `js-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}-${++storeSerial}`,
  };
  if (options.clock !== undefined && options.clock !== 'virtual' && options.clock !== 'real') {
    throw new TypeError("options.clock must be 'real' or 'virtual'");
  }
  const store = core.openJsStore(JSON.stringify(settings), bytes ?? new Uint8Array(0));
  if (!store) throw engineError(core.lastFactoryError(), 'InvalidInput');
  return new SqliteProvider(store, path);
}

/** A SQLite database: in memory, a file (node), or opened from bytes (browsers). */
export class SqliteProvider {
  constructor(store, path) {
    if (!store) throw new TypeError('use SqliteProvider.open(url), inMemory() or fromBytes(bytes)');
    this._store = store;
    this._path = path;
    this._listeners = new Set();
    this._runtimes = new Set();  // runtimes whose engine objects use this store
    this._clients = new Map();  // a client's token -> its engine object, which uses this store
  }

  /**
   * 'sqlite::memory:' (a new in-memory database), or under node a file URL
   * ('sqlite:./app.db', 'sqlite:///var/data/app.db'), created if missing, durable.
   * options.clock: 'real' (default) or 'virtual' (moves only with advanceTime: tests, replays).
   */
  static async open(url, options = {}) {
    const path = databasePath(url);
    if (path === null) return openStore('', null, options);
    if (!isNode) throw engineError('file databases need node; in a browser use sqlite::memory: or SqliteProvider.fromBytes', 'InvalidInput');
    const nodePath = await import('node:path');
    const { mkdirSync } = await import('node:fs');
    const absolute = nodePath.resolve(path);
    mkdirSync(nodePath.dirname(absolute), { recursive: true });
    const point = await mountHostDirectory(nodePath.dirname(absolute));
    return openStore(`${point}/${nodePath.basename(absolute)}`, null, options);
  }

  static async inMemory(options = {}) { return openStore('', null, options); }

  /** An in-memory database starting from the bytes of a SQLite file (toBytes, the CLI, a download). */
  static async fromBytes(bytes, options = {}) {
    let data = bytes;
    if (data instanceof ArrayBuffer) data = new Uint8Array(data);
    if (!(data instanceof Uint8Array)) throw new TypeError('fromBytes needs a Uint8Array or an ArrayBuffer');
    return openStore('', data, options);
  }

  /** The database as bytes (in-memory databases): save it, open it natively or with fromBytes. */
  toBytes() {
    const result = this._live().toBytes();
    return typeof result === 'string' ? unwrap(result) : result;
  }

  /** Virtual clock only: moves time forward (timers become due). */
  advanceTime(ms) {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('advanceTime needs a non-negative number of ms');
    unwrap(this._live().advanceTime(ms));
    this._notify();
  }

  nowMs() { return this._live().nowMs(); }

  /** Releases the database (an in-memory one is gone); its clients and runtimes stop working. */
  close() {
    if ([...this._runtimes].some((runtime) => runtime._running || runtime._stopping || runtime._stepping)) {
      throw engineError('shut the runtimes down (and wait for it) before closing their provider', 'InvalidInput');
    }
    for (const runtime of this._runtimes) runtime._release();
    this._runtimes.clear();
    for (const token of [...this._clients.keys()]) releaseClient(this, token);
    if (this._store) this._store.delete();
    this._store = null;
  }

  _live() {
    if (!this._store) throw engineError('the provider is closed', 'InvalidInput');
    return this._store;
  }

  // Work was queued, or instances changed: wake runtimes and waiting clients.
  _notify() { for (const listener of [...this._listeners]) listener(); }
}

// ---------------------------------------------------------------- the client

function parseOutput(result) {
  if (result && typeof result.output === 'string') result.output = parseValue(result.output);
  return result;
}

// The Client reaches the engine only through the command table
// (core/hosts/include/duroxide/commands.hpp: the rows the CLI and createDuroxide()'s
// RuntimeClient / ManagementClient run too). Its JSON is snake_case (docs/cli.md);
// these turn it into the Node SDK's shapes.
// The Node SDK's `data` of a history event (its client's extract_event_data): the
// event's own content as JSON text, undefined for kinds it leaves out.
function historyEventData(e) {
  const embedded = (text) => decodeText(text);
  switch (e.kind) {
    case 'OrchestrationStarted': return JSON.stringify({ name: e.name, version: e.version, input: embedded(e.input) });
    case 'OrchestrationCompleted': return e.output;
    case 'ActivityCompleted':
    case 'SubOrchestrationCompleted': return e.result;
    case 'OrchestrationFailed':
    case 'ActivityFailed':
    case 'SubOrchestrationFailed': return JSON.stringify(e.error);
    case 'ActivityScheduled': return JSON.stringify({ name: e.name, input: embedded(e.input) });
    case 'TimerCreated':
    case 'TimerFired': return JSON.stringify({ fireAtMs: e.fire_at_ms });
    case 'ExternalSubscribed':
    case 'QueueSubscribed': return JSON.stringify({ name: e.name });
    case 'ExternalEvent':
    case 'QueueEventDelivered': return JSON.stringify({ name: e.name, data: embedded(e.data) });
    case 'SubOrchestrationScheduled':
      return JSON.stringify({ name: e.name, instance: e.instance, input: embedded(e.input) });
    default: return undefined;
  }
}

const sdkShape = {
  // A history event as the SDK gives it ({eventId, kind, sourceEventId, timestampMs, data}),
  // with the engine's other fields beside (event_id, input, session_id, ...); `data` is the
  // SDK's (for an event or queue message, {name, data} as JSON text).
  historyEvent(e) {
    // The SDK names a detached start by upstream's event kind, OrchestrationChained.
    const kind = e.kind === 'DetachedOrchestrationStarted' ? 'OrchestrationChained' : e.kind;
    return { ...e, kind, eventId: e.event_id, sourceEventId: e.source_event_id ?? null, timestampMs: e.timestamp_ms,
      data: historyEventData(e) };
  },
  status(s) {
    const out = { status: s.status, customStatusVersion: s.custom_status_version };
    if (s.status === 'Completed') out.output = s.output;
    if (s.error) out.error = s.error.message;
    if (s.custom_status !== null) out.customStatus = s.custom_status;
    return parseOutput(out);
  },
  instance(summary) {
    const out = {
      instanceId: summary.instance, orchestrationName: summary.orchestration, orchestrationVersion: summary.version,
      currentExecutionId: summary.current_execution, status: summary.status,
      createdAt: summary.created_at_ms, updatedAt: summary.updated_at_ms,
    };
    if (summary.status === 'Completed') out.output = summary.output;
    if (summary.error) out.error = summary.error.message;
    if (summary.parent) out.parentInstanceId = summary.parent;
    if (summary.custom_status !== null) out.customStatus = summary.custom_status;
    return parseOutput(out);
  },
  execution(e) {
    const out = {
      executionId: e.execution, status: e.continued_as_new ? 'ContinuedAsNew' : e.status,
      startedAt: e.started_at_ms, eventCount: e.events,
    };
    if (e.output !== '') out.output = e.output;
    if (e.error) out.error = e.error.message;
    if (e.completed_at_ms !== 0) out.completedAt = e.completed_at_ms;
    return parseOutput(out);
  },
  deleted: (r) => ({
    instancesDeleted: r.instances, executionsDeleted: r.executions, eventsDeleted: r.events,
    queueMessagesDeleted: r.queue_items,
  }),
  metrics: (m) => ({
    totalInstances: m.total_instances, totalExecutions: m.total_executions, runningInstances: m.running,
    completedInstances: m.completed, failedInstances: m.failed, totalEvents: m.total_events,
  }),
  // Each queued item counted once: timers not yet due in timerQueue, every other item of the
  // orchestrator queue (due timers, delayed retries and locked items among them) in orchestratorQueue.
  queues: (q) => ({
    orchestratorQueue: q.orchestrator_visible + q.orchestrator_locked + Math.max(0, q.orchestrator_delayed - q.timers_pending),
    workerQueue: q.worker_visible + q.worker_locked,
    timerQueue: q.timers_pending,
  }),
  stats: (s) => s && ({
    historyEventCount: s.history_event_count, historySizeBytes: s.history_size_bytes,
    queuePendingCount: s.queue_pending_count, carryForwardCount: s.carry_forward_count,
    kvUserKeyCount: s.kv_user_key_count, kvTotalValueBytes: s.kv_total_value_bytes,
  }),
  treeIds(node, ids = []) {
    ids.push(node.instance);
    for (const child of node.children) sdkShape.treeIds(child, ids);
    return ids;
  },
};

// The SDK's completedBefore as the commands' completedBeforeMs. For the SDK 0 is the
// epoch, before which nothing finished; for the commands 0 means "whenever", so 0 becomes
// 1 ms past the epoch (only a clock started at the epoch itself finishes anything sooner).
const cutoffMs = (completedBefore) => (completedBefore === 0 ? 1 : completedBefore);

const MAX_DELETE_LIMIT = 100000;  // delete-instances' most instances a call
const NOTHING_DELETED = Object.freeze({ instancesDeleted: 0, executionsDeleted: 0, eventsDeleted: 0, queueMessagesDeleted: 0 });
const isFinished = (status) => status.status === 'Completed' || status.status === 'Failed';

/** Starts, signals, inspects and manages instances. */
/**
 * The Node SDK's PostgreSQL store: not in this build (the engine runs in WebAssembly with
 * SQLite only); every constructor rejects with an error of kind `Unsupported`, so code that
 * imports it loads and fails only where it connects.
 */
export class PostgresProvider {
  constructor() { throw unsupported('PostgresProvider'); }
  static async connect() { throw unsupported('PostgresProvider.connect (PostgreSQL)'); }
  static async connectWithSchema() { throw unsupported('PostgresProvider.connectWithSchema (PostgreSQL)'); }
  static async connectWithEntra() { throw unsupported('PostgresProvider.connectWithEntra (PostgreSQL)'); }
  static async connectWithSchemaAndEntra() { throw unsupported('PostgresProvider.connectWithSchemaAndEntra (PostgreSQL)'); }
}

// A client's engine object is deleted when its provider closes, or when the client is no
// longer reachable from JS (a client made per request or per activity does not pile up).
function releaseClient(provider, token) {
  const native = provider._clients.get(token);
  provider._clients.delete(token);
  unreachableClients?.unregister(token);
  if (native && !native.isDeleted()) native.delete();
}
const unreachableClients = typeof FinalizationRegistry === 'function'
  ? new FinalizationRegistry(({ provider, token }) => releaseClient(provider, token))
  : null;

export class Client {
  constructor(provider) {
    if (!(provider instanceof SqliteProvider)) throw new TypeError('new Client(provider) needs a SqliteProvider');
    this._provider = provider;
    const native = core.createJsClient(provider._live());
    if (!native) throw engineError(core.lastFactoryError(), 'InvalidInput');
    this._token = {};  // its engine object's key in provider._clients; holds nothing of the client
    provider._clients.set(this._token, native);
    unreachableClients?.register(this, { provider, token: this._token }, this._token);
  }

  // One command of the table by its name ("get-status"): its arguments object in, its JSON out.
  _command(name, args) {
    const native = this._provider._clients.get(this._token);
    if (!native) throw engineError('the provider is closed', 'InvalidInput');
    return unwrap(native.command(name, JSON.stringify(args)));
  }

  // A command that changes instances: runtimes and waiting clients are woken.
  _change(name, args) {
    const value = this._command(name, args);
    this._provider._notify();
    return value;
  }

  async startOrchestration(instanceId, orchestrationName, input) {
    this._change('start-orchestration', { instance: instanceId, orchestration: orchestrationName, input: toJson(input) });
  }
  async startOrchestrationVersioned(instanceId, orchestrationName, input, version) {
    this._change('start-orchestration', {
      instance: instanceId, orchestration: orchestrationName, input: toJson(input), version,
    });
  }
  async raiseEvent(instanceId, eventName, data) {
    this._change('raise-event', { instance: instanceId, event: eventName, data: toJson(data) });
  }
  async enqueueEvent(instanceId, queueName, data) {
    this._change('enqueue-event', { instance: instanceId, queue: queueName, data: toJson(data) });
  }
  async cancelInstance(instanceId, reason = 'canceled') {
    this._change('cancel-instance', { instance: instanceId, reason });
  }
  /** {status: 'Running'|'Completed'|'Failed'|'NotFound', output?, error?, customStatus?, customStatusVersion} */
  async getStatus(instanceId) { return this._status(instanceId); }
  _status(instanceId) { return sdkShape.status(this._command('get-status', { instance: instanceId })); }

  // Re-checks `ready` whenever the provider changes (and at least every 100 ms, for
  // other processes sharing a file) until it returns a value or `timeoutMs` passes.
  // The waits run here, on the event loop, rather than as the table's blocking wait commands.
  async _waitFor(ready, timeoutMs, what, pollMs = 100) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = ready();
      if (value !== undefined) return value;
      const left = deadline - Date.now();
      if (left <= 0) throw engineError(`timed out after ${timeoutMs} ms waiting for ${what}`, 'Timeout');
      await new Promise((resolve) => {
        const done = () => { clearTimeout(timer); this._provider._listeners.delete(done); resolve(); };
        const timer = setTimeout(done, Math.min(left, pollMs));
        this._provider._listeners.add(done);
      });
    }
  }

  /** Resolves when the instance is Completed or Failed (output parsed from JSON); throws kind Timeout. */
  async waitForOrchestration(instanceId, timeoutMs = 30000) {
    return this._waitFor(() => {
      const status = this._status(instanceId);
      return isFinished(status) ? status : undefined;
    }, timeoutMs, `instance ${instanceId}`);
  }

  /** Resolves once the custom status version exceeds lastSeenVersion (or the instance finished). */
  async waitForStatusChange(instanceId, lastSeenVersion, pollIntervalMs = 500, timeoutMs = 30000) {
    return this._waitFor(() => {
      const status = this._status(instanceId);
      return status.customStatusVersion > lastSeenVersion || isFinished(status) ? status : undefined;
    }, timeoutMs, `a status change of ${instanceId}`, pollIntervalMs);
  }

  /** A key of the instance's key-value store as its last committed turn left it; null when absent. */
  async getValue(instanceId, key) { return this._command('get-value', { instance: instanceId, key: String(key) }); }
  /** Resolves with the key's value once it exists; rejects with kind 'Timeout'. */
  async waitForValue(instanceId, key, timeoutMs = 30000) {
    return this._waitFor(() => this._command('get-value', { instance: instanceId, key: String(key) }) ?? undefined,
      timeoutMs, `value '${key}' on instance '${instanceId}'`);
  }
  async getKvAllValues(instanceId) { return this._command('get-all-values', { instance: instanceId }); }

  async getSystemMetrics() { return sdkShape.metrics(this._command('get-system-metrics', {})); }
  /**
   * One instance's footprint, or null for an unknown instance: {historyEventCount,
   * historySizeBytes, queuePendingCount (messages queued, not yet taken by a turn),
   * carryForwardCount (messages in its history no wait has taken yet), kvUserKeyCount, kvTotalValueBytes}.
   */
  async getOrchestrationStats(instanceId) {
    return sdkShape.stats(this._command('get-instance-stats', { instance: instanceId }));
  }
  async getQueueDepths() { return sdkShape.queues(this._command('get-queue-depths', {})); }

  // Every instance id the filter matches, newest first, a page of the listing at a time.
  _instanceIds(filter) {
    const ids = [];
    let cursor = '';
    do {
      const page = this._command('list-instances', { filter, cursor, limit: 1000 });
      for (const summary of page.instances) ids.push(summary.instance);
      cursor = page.next_cursor;
    } while (cursor);
    return ids;
  }
  async listAllInstances() { return this._instanceIds({}); }
  async listInstancesByStatus(status) { return this._instanceIds({ states: [status] }); }
  async getInstanceInfo(instanceId) {
    return sdkShape.instance(this._command('get-instance-details', { instance: instanceId }));
  }
  async getExecutionInfo(instanceId, executionId) {
    const execution = this._command('get-execution-info', { instance: instanceId, execution: executionId });
    if (execution === null) throw engineError(`execution ${executionId} of instance ${instanceId} not found`, 'NotFound');
    return sdkShape.execution(execution);
  }
  async listExecutions(instanceId) {
    return this._command('list-executions', { instance: instanceId }).map((e) => e.execution);
  }
  async readExecutionHistory(instanceId, executionId) {
    return this._command('read-execution', { instance: instanceId, execution: executionId }).map(sdkShape.historyEvent);
  }
  async getInstanceTree(instanceId) {
    const allIds = sdkShape.treeIds(this._command('get-instance-tree', { instance: instanceId }));
    return { rootId: instanceId, allIds, size: allIds.length };
  }
  async deleteInstance(instanceId, force = false) {
    return sdkShape.deleted(this._change('delete-instance', { instance: instanceId, force: Boolean(force) }));
  }
  /**
   * Finished root instances (with their trees): those named (instanceIds, any number), or all;
   * completedBefore (ms, finished before it) narrows either; limit caps the instances deleted
   * (whole trees: the last one may take it past).
   */
  async deleteInstanceBulk(filter = {}) {
    if (Array.isArray(filter.instanceIds) && filter.instanceIds.length === 0) return { ...NOTHING_DELETED };
    const args = {};
    if (filter.completedBefore !== undefined) args.completedBeforeMs = cutoffMs(filter.completedBefore);
    const total = { ...NOTHING_DELETED };
    // The ids go 1,000 a call (the command's most); each call deletes a batch and says where
    // the next goes on, until every match was considered or the limit is reached.
    const lists = [];
    if (filter.instanceIds === undefined) lists.push(undefined);
    else for (let i = 0; i < filter.instanceIds.length; i += 1000) lists.push(filter.instanceIds.slice(i, i + 1000));
    for (const ids of lists) {
      if (ids !== undefined) args.instances = ids;
      args.continuation = '';
      do {
        if (filter.limit !== undefined) {
          const remaining = filter.limit - total.instancesDeleted;
          if (total.instancesDeleted > 0 && remaining <= 0) return total;
          args.limit = remaining > MAX_DELETE_LIMIT ? MAX_DELETE_LIMIT : remaining;  // the command refuses the rest
        }
        const result = this._change('delete-instances', args);
        const batch = sdkShape.deleted(result);
        for (const key of Object.keys(total)) total[key] += batch[key];
        args.continuation = result.continuation;
      } while (args.continuation);
    }
    return total;
  }
  /** All but the newest keepLast executions (default 1); with completedBefore (ms), only those finished before it. */
  async pruneExecutions(instanceId, options = {}) {
    const args = { instance: instanceId, keepLast: options.keepLast ?? 1 };
    if (options.completedBefore !== undefined) args.completedBeforeMs = cutoffMs(options.completedBefore);
    const result = this._change('prune-executions', args);
    return { instancesProcessed: 1, executionsDeleted: result.pruned, eventsDeleted: result.events_pruned };
  }
  /**
   * pruneExecutions' options for each instance, batch by batch: those named (instanceIds), or
   * all; with filter.completedBefore (ms) only finished instances whose last execution finished
   * before it (as the Node SDK's filter); limit caps how many.
   */
  async pruneExecutionsBulk(filter = {}, options = {}) {
    const keepLast = options.keepLast ?? 1;
    const completedBeforeMs = cutoffMs(options.completedBefore);
    const finishedBeforeMs = filter.completedBefore === undefined ? undefined : cutoffMs(filter.completedBefore);
    const finishedBefore = finishedBeforeMs === undefined ? {} : { states: ['Completed', 'Failed'], updatedToMs: finishedBeforeMs };
    const total = { instancesProcessed: 0, executionsDeleted: 0, eventsDeleted: 0 };
    const add = (page) => {
      total.instancesProcessed += page.succeeded;
      total.executionsDeleted += page.executions_pruned;
      total.eventsDeleted += page.events_pruned;
    };
    let remaining = filter.limit ?? Number.MAX_SAFE_INTEGER;
    if (filter.instanceIds !== undefined) {
      let ids = filter.instanceIds;
      if (finishedBeforeMs !== undefined) ids = ids.filter((id) => this._finishedBefore(id, finishedBeforeMs));
      ids = ids.slice(0, remaining);
      for (let i = 0; i < ids.length; i += 1000) {
        add(this._change('prune-executions-bulk', { keepLast, completedBeforeMs, instances: ids.slice(i, i + 1000) }));
      }
      return total;
    }
    let continuation = '';
    do {
      const page = this._change('prune-executions-bulk', {
        keepLast, completedBeforeMs, filter: finishedBefore, batch: Math.min(1000, remaining), continuation,
      });
      add(page);
      remaining -= page.items.length;
      continuation = page.continuation;
    } while (continuation && remaining > 0);
    return total;
  }

  // Whether the instance exists, has finished, and was last updated (finished) before `ms`:
  // the filter's updatedToMs for one id.
  _finishedBefore(instanceId, ms) {
    let summary;
    try {
      summary = this._command('get-instance-details', { instance: instanceId });
    } catch (error) {
      if (error.kind === 'NotFound') return false;
      throw error;
    }
    return isFinished(summary) && summary.updated_at_ms < ms;
  }

  async startOrchestrationTyped(instanceId, name, input) { return this.startOrchestration(instanceId, name, input); }
  async startOrchestrationVersionedTyped(instanceId, name, input, version) {
    return this.startOrchestrationVersioned(instanceId, name, input, version);
  }
  async raiseEventTyped(instanceId, eventName, data) { return this.raiseEvent(instanceId, eventName, data); }
  async enqueueEventTyped(instanceId, queueName, data) { return this.enqueueEvent(instanceId, queueName, data); }
  async waitForOrchestrationTyped(instanceId, timeoutMs = 30000) {
    const result = await this.waitForOrchestration(instanceId, timeoutMs);
    if (result.status === 'Failed') throw new Error(result.error || 'Orchestration failed');
    return result.output;
  }
}

// ---------------------------------------------------------------- orchestrations

function contextCall(op, argument = '') {
  return unwrap(core.orchestrationContextCall(op, argument));
}

// An activity descriptor with `withTag(tag)`: routes the activity to the workers whose
// workerTagFilter takes that tag (the engine checks it: 1 to 256 bytes of UTF-8).
function taggable(descriptor) {
  Object.defineProperty(descriptor, 'withTag', {
    value: (tag) => {
      if (typeof tag !== 'string' || tag === '') throw new TypeError('withTag needs a non-empty string');
      descriptor.tag = tag;
      return descriptor;
    },
  });
  return descriptor;
}

// A session id the code passes: a non-empty string (the engine checks the rest: at most 256
// bytes of UTF-8; a longer one fails the orchestration naming the limit).
function sessionIdOf(sessionId, what) {
  if (typeof sessionId !== 'string' || sessionId === '') throw new TypeError(`${what} needs a non-empty string session id`);
  return sessionId;
}

/** What an orchestration generator gets: methods that return task descriptors to yield. */
export class OrchestrationContext {
  // `encode`: how values the code passes become engine text (JSON here; the engine API's
  // text convention for orchestrations registered through createDuroxide()).
  constructor(info, encode = toJson) {
    Object.defineProperty(this, '_encode', { value: encode });
    this.instanceId = info.instanceId;
    this.executionId = info.executionId;
    this.orchestrationName = info.orchestrationName;
    this.orchestrationVersion = info.orchestrationVersion || null;
    this.parentInstanceId = info.parentInstanceId || null;
  }

  _withInput(descriptor, input) { return { ...descriptor, input: this._encode(input) }; }

  /** `options.sessionId` (when given and not empty): as scheduleActivityOnSession. */
  scheduleActivity(name, input, options) {
    const descriptor = taggable(this._withInput({ type: 'activity', name }, input));
    if (options && options.sessionId) descriptor.sessionId = sessionIdOf(options.sessionId, 'scheduleActivity');
    return descriptor;
  }
  /**
   * Runs the activity in session `sessionId`: every activity of one session id runs on the
   * runtime that owns the session (its workerNodeId) for as long as it owns it.
   */
  scheduleActivityOnSession(name, input, sessionId) {
    const descriptor = taggable(this._withInput({ type: 'activity', name }, input));
    descriptor.sessionId = sessionIdOf(sessionId, 'scheduleActivityOnSession');
    return descriptor;
  }
  scheduleActivityWithRetry(name, input, retry) {
    if (!retry || typeof retry !== 'object') throw new TypeError('scheduleActivityWithRetry needs a retry policy');
    return taggable(this._withInput({ type: 'activityWithRetry', name, retry: { ...retry } }, input));
  }
  /** scheduleActivityWithRetry whose every attempt runs in session `sessionId`. */
  scheduleActivityWithRetryOnSession(name, input, retry, sessionId) {
    const descriptor = this.scheduleActivityWithRetry(name, input, retry);
    descriptor.sessionId = sessionIdOf(sessionId, 'scheduleActivityWithRetryOnSession');
    return descriptor;
  }
  scheduleTimer(delayMs) {
    // As the SDK, which takes an integer: NaN, Infinity or nothing would be a 0 ms timer here.
    if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0) {
      throw new TypeError(`scheduleTimer needs a delay in ms, a finite number of 0 or more, not ${String(delayMs)}`);
    }
    return { type: 'timer', delayMs };
  }
  waitForEvent(name) { return { type: 'waitEvent', name }; }
  dequeueEvent(queueName) { return { type: 'dequeueEvent', queueName }; }
  /** Reads a key of another instance's store as a durable operation: string or null. */
  getValueFromInstance(instanceId, key) { return { type: 'getValueFromInstance', instanceId, key: String(key) }; }
  scheduleSubOrchestration(name, input) { return this._withInput({ type: 'subOrchestration', name }, input); }
  scheduleSubOrchestrationWithId(name, instanceId, input) {
    return this._withInput({ type: 'subOrchestrationWithId', name, instanceId }, input);
  }
  scheduleSubOrchestrationVersioned(name, version, input) {
    return this._withInput({ type: 'subOrchestrationVersioned', name, version: version || null }, input);
  }
  scheduleSubOrchestrationVersionedWithId(name, version, instanceId, input) {
    return this._withInput({ type: 'subOrchestrationVersionedWithId', name, version: version || null, instanceId }, input);
  }
  /** Starts an independent instance (fire and forget); yield it. */
  startOrchestration(name, instanceId, input) { return this._withInput({ type: 'orchestration', name, instanceId }, input); }
  startOrchestrationVersioned(name, version, instanceId, input) {
    return this._withInput({ type: 'orchestrationVersioned', name, version: version || null, instanceId }, input);
  }
  newGuid() { return { type: 'newGuid' }; }
  utcNow() { return { type: 'utcNow' }; }
  continueAsNew(input) { return this._withInput({ type: 'continueAsNew' }, input); }
  continueAsNewVersioned(input, version) { return this._withInput({ type: 'continueAsNewVersioned', version: version || null }, input); }

  /** Waits for every task: [{ok: value} | {err: message}] in argument order. */
  all(tasks) {
    if (!Array.isArray(tasks)) throw new TypeError('ctx.all needs an array of tasks');
    return { type: 'join', tasks };
  }
  /** Waits for the first task: {index, value}; the others are cancelled. */
  race(...tasks) {
    const list = tasks.length === 1 && Array.isArray(tasks[0]) ? tasks[0] : tasks;
    return { type: 'select', tasks: list };
  }

  // The typed variants parse a string result once more (the Node SDK's applyTypedParsing):
  // an activity returning JSON.stringify(x) gives x.
  scheduleActivityTyped(name, input) { return typed(this.scheduleActivity(name, input)); }
  scheduleSubOrchestrationTyped(name, input) { return typed(this.scheduleSubOrchestration(name, input)); }
  scheduleActivityWithRetryTyped(name, input, retry) { return typed(this.scheduleActivityWithRetry(name, input, retry)); }
  scheduleActivityOnSessionTyped(name, input, sessionId) {
    return typed(this.scheduleActivityOnSession(name, input, sessionId));
  }
  scheduleActivityWithRetryOnSessionTyped(name, input, retry, sessionId) {
    return typed(this.scheduleActivityWithRetryOnSession(name, input, retry, sessionId));
  }
  waitForEventTyped(name) { return typed(this.waitForEvent(name)); }
  dequeueEventTyped(queueName) { return typed(this.dequeueEvent(queueName)); }
  scheduleSubOrchestrationWithIdTyped(name, instanceId, input) {
    return typed(this.scheduleSubOrchestrationWithId(name, instanceId, input));
  }
  startOrchestrationTyped(name, instanceId, input) { return this.startOrchestration(name, instanceId, input); }
  startOrchestrationVersionedTyped(name, version, instanceId, input) {
    return this.startOrchestrationVersioned(name, version, instanceId, input);
  }
  continueAsNewTyped(input) { return this.continueAsNew(input); }
  allTyped(tasks) { return typed(this.all(tasks)); }
  raceTyped(...tasks) { return typed(this.race(...tasks)); }

  setCustomStatus(status) { contextCall('setCustomStatus', String(status)); }
  resetCustomStatus() { contextCall('resetCustomStatus'); }
  getCustomStatus() { return contextCall('getCustomStatus'); }
  /** True while the code re-runs history it has run before (no side effects then). */
  get isReplaying() { return contextCall('isReplaying'); }

  // The instance's key-value store: durable (recorded in history), survives
  // continue-as-new, readable by clients (client.getValue) once the turn commits.
  setValue(key, value) { contextCall('setValue', JSON.stringify({ key: String(key), value: String(value) })); }
  getValue(key) { return contextCall('getValue', String(key)); }
  clearValue(key) { contextCall('clearValue', String(key)); }
  clearAllValues() { contextCall('clearAllValues'); }
  getKvAllValues() { return contextCall('getKvAllValues'); }
  getKvAllKeys() { return contextCall('getKvAllKeys'); }
  getKvLength() { return contextCall('getKvLength'); }
  pruneKvValuesUpdatedBefore(cutoffMs) {
    return contextCall('pruneKvValuesUpdatedBefore', String(Math.max(0, Math.trunc(Number(cutoffMs) || 0))));
  }

  traceInfo(message) { contextCall('info', String(message)); }
  traceWarn(message) { contextCall('warn', String(message)); }
  traceError(message) { contextCall('error', String(message)); }
  traceDebug(message) { contextCall('debug', String(message)); }
}

const isTask = (value) => value !== null && typeof value === 'object' && typeof value.type === 'string';

// A typed variant's descriptor: its result is parsed once more when it comes back.
function typed(task) {
  task._typed = true;
  return task;
}
const parsedOnceMore = (v) => {
  if (typeof v !== 'string') return v;
  try { return JSON.parse(v); } catch { return v; }
};
const kTypedOne = new Set(['activity', 'activityWithRetry', 'subOrchestration', 'subOrchestrationWithId',
  'subOrchestrationVersioned', 'subOrchestrationVersionedWithId']);
// What a typed task's code gets, by its type (the Node SDK's rule): one result parsed once
// more; each of all's {ok}/{err} values; race's winning value; anything else as it came.
function typedResult(value, type) {
  if (kTypedOne.has(type)) return parsedOnceMore(value);
  if (type === 'join' && Array.isArray(value)) {
    return value.map((r) => {
      if (r && typeof r === 'object' && 'ok' in r) return { ...r, ok: parsedOnceMore(r.ok) };
      if (r && typeof r === 'object' && 'err' in r) return { ...r, err: parsedOnceMore(r.err) };
      return r;
    });
  }
  if (type === 'select' && value && typeof value === 'object') return { ...value, value: parsedOnceMore(value.value) };
  return value;
}

// The generator host the engine's adapter calls (wasm/js_orchestrations.cpp):
// begin/next answer {status: 'yielded', task} | {status: 'completed', output} |
// {status: 'error', message} | {status: 'rethrown'} (the failed task's error that next
// threw into the generator escaped it untouched: the engine ends the instance with that
// task's error, kind and all); nothing thrown here reaches the engine.
// `encode`: how the code's results become engine text (OrchestrationContext).
function generatorHost(functions, encode = toJson) {
  const generators = new Map();
  const typedTasks = new Map();  // generator id -> the type of its pending typed task
  let nextId = 1;
  const answer = (id, run, thrownIn = null) => {
    typedTasks.delete(id);
    try {
      const { value, done } = run();
      if (done) {
        generators.delete(id);
        return JSON.stringify({ status: 'completed', output: encode(value) });
      }
      if (!isTask(value)) {
        generators.delete(id);
        const shown = value && typeof value.then === 'function' ? 'a Promise' : typeof value;
        return JSON.stringify({ status: 'error', message: `an orchestration may only yield ctx task descriptors (ctx.scheduleActivity(...), ctx.all([...]), ...), not ${shown}` });
      }
      if (value._typed) typedTasks.set(id, value.type);
      return JSON.stringify({ status: 'yielded', generatorId: id, task: value });
    } catch (error) {
      generators.delete(id);
      if (thrownIn !== null && error === thrownIn) return JSON.stringify({ status: 'rethrown', message: messageOf(error) });
      return JSON.stringify({ status: 'error', message: messageOf(error) });
    }
  };
  return {
    begin(infoJson, input) {
      let info;
      try {
        info = JSON.parse(infoJson);
        const fn = functions.get(`${info.orchestrationName}@${info.orchestrationVersion}`);
        if (!fn) throw new Error(`orchestration ${info.orchestrationName} ${info.orchestrationVersion} is not registered here`);
        const generator = fn(new OrchestrationContext(info, encode), parseValue(input));
        if (!generator || typeof generator.next !== 'function') {
          throw new Error(`orchestration ${info.orchestrationName} must be a generator function (function*)`);
        }
        const id = nextId++;
        generators.set(id, generator);
        return answer(id, () => generator.next());
      } catch (error) {
        return JSON.stringify({ status: 'error', message: messageOf(error) });
      }
    },
    next(id, ok, value) {
      const generator = generators.get(id);
      if (!generator) return JSON.stringify({ status: 'error', message: `generator ${id} is gone` });
      if (ok) {
        const type = typedTasks.get(id);
        const result = type ? typedResult(parseValue(value), type) : parseValue(value);
        return answer(id, () => generator.next(result));
      }
      const failure = new Error(value);
      return answer(id, () => generator.throw(failure), failure);
    },
    dispose(id) {
      generators.delete(id);
      typedTasks.delete(id);
    },
  };
}

// ---------------------------------------------------------------- activities

/** What an activity function gets. */
export class ActivityContext {
  constructor(item, lease, runtime) {
    this.instanceId = item.instanceId;
    this.executionId = item.executionId;
    this.activityId = item.activityId;
    this.activityName = item.name;
    this.attempt = item.attempt;
    // Its instance's orchestration and version when it was fetched (null: the instance has no row).
    this.orchestrationName = item.orchestrationName ?? null;
    this.orchestrationVersion = item.orchestrationVersion ?? null;
    this.workerId = runtime._workerId;
    // The session it runs in (scheduleActivityOnSession), or null.
    this.sessionId = item.sessionId ?? null;
    this._tag = item.tag ?? null;
    this._lease = lease;
    this._runtime = runtime;
  }
  /** The tag the activity was scheduled with (`withTag`), or null. */
  tag() { return this._tag; }
  /** True once the activity's orchestration cancelled it (or its lock was lost): stop, the result is dropped. */
  isCancelled() { return this._lease.cancelled; }
  /** A Client on the runtime's provider, e.g. to start other orchestrations. */
  getClient() { return (this._runtime._activityClient ??= new Client(this._runtime._provider)); }
  traceInfo(message) { this._runtime._log('info', this.instanceId, String(message), this.activityName); }
  traceWarn(message) { this._runtime._log('warn', this.instanceId, String(message), this.activityName); }
  traceError(message) { this._runtime._log('error', this.instanceId, String(message), this.activityName); }
  traceDebug(message) { this._runtime._log('debug', this.instanceId, String(message), this.activityName); }
}

// ---------------------------------------------------------------- the runtime

const VERSION_PATTERN = /^\d+\.\d+\.\d+$/;
// How often runUntilIdle runs its turns again while activities are still running.
const IDLE_TICK_MS = 10;

/**
 * Runs registered orchestrations and activities against a provider.
 * options: {workerConcurrency = 8, dispatcherPollIntervalMs = 50, workerLockTimeoutMs = 30000,
 *           orchestrationLockTimeoutMs = 5000, maxAttempts = 10, logger(entry),
 *           workerTagFilter = 'defaultOnly' ('any', 'none', {tags: [..]}, {defaultAnd: [..]}),
 *           workerNodeId (the session owner it claims activity sessions as; default: its own,
 *           for its lifetime), maxSessionsPerRuntime = 10, sessionIdleTimeoutMs = 300000}.
 * An invalid option fails the construction with an Error (kind InvalidInput) naming it.
 * Two ways to run: start()/shutdown() (background on the event loop, any clock), or
 * runUntilIdle() with provider.advanceTime(ms) (deterministic, virtual clock).
 */
export class Runtime {
  constructor(provider, options) {
    if (!(provider instanceof SqliteProvider)) throw new TypeError('new Runtime(provider) needs a SqliteProvider');
    options = options ?? {};
    this._provider = provider;
    this._options = {
      workerConcurrency: options.workerConcurrency ?? 8,
      pollMs: options.dispatcherPollIntervalMs ?? 50,
      workerLockTimeoutMs: options.workerLockTimeoutMs ?? 30000,
    };
    // The two options only this file reads; the engine checks the others.
    const { workerConcurrency, pollMs } = this._options;
    if (!Number.isInteger(workerConcurrency) || workerConcurrency < 1 || workerConcurrency > 1000) {
      throw engineError(`workerConcurrency must be an integer from 1 to 1000, got ${String(workerConcurrency)}`, 'InvalidInput');
    }
    if (!Number.isFinite(pollMs) || pollMs < 1 || pollMs > 60000) {
      throw engineError(`dispatcherPollIntervalMs must be a number from 1 to 60000, got ${String(pollMs)}`, 'InvalidInput');
    }
    this._logger = typeof options.logger === 'function' ? options.logger : null;
    this._functions = new Map();
    this._activities = new Map();
    this._inFlight = new Map();
    this._running = false;
    this._loop = null;
    this._wakeUp = null;
    this._workerId = `js-worker-${Math.random().toString(36).slice(2, 10)}`;
    const native = core.createJsRuntime(provider._live(), JSON.stringify({
      workerLockTimeoutMs: this._options.workerLockTimeoutMs,
      orchestrationLockTimeoutMs: options.orchestrationLockTimeoutMs ?? 5000,
      maxAttempts: options.maxAttempts ?? 10,
      workerTagFilter: options.workerTagFilter ?? null,
      workerNodeId: options.workerNodeId ?? null,
      defaultWorkerNodeId: this._workerId,
      maxSessionsPerRuntime: options.maxSessionsPerRuntime ?? null,
      sessionIdleTimeoutMs: options.sessionIdleTimeoutMs ?? null,
    }), generatorHost(this._functions));
    if (!native) throw engineError(core.lastFactoryError(), 'InvalidInput');
    this._native = native;
    this._listener = () => this._wake();
    provider._listeners.add(this._listener);
    provider._runtimes.add(this);
  }

  _release() {
    for (const token of this._inFlight.keys()) this._native?.abandonActivity(token);
    this._inFlight.clear();
    this._provider._listeners.delete(this._listener);
    if (this._native) this._native.delete();
    this._native = null;
  }

  /** `fn(ctx, input)` returns the result or a Promise of it; throwing (or rejecting) fails the activity. */
  registerActivity(name, fn) {
    if (typeof fn !== 'function') throw new TypeError('registerActivity needs a function');
    unwrap(this._native.registerActivity(name));
    this._activities.set(name, fn);
  }
  registerActivityTyped(name, fn) { this.registerActivity(name, fn); }

  /** `fn` is a generator function: function* (ctx, input) { ... yield ctx.scheduleActivity(...) ... }. Version 1.0.0. */
  registerOrchestration(name, fn) { this.registerOrchestrationVersioned(name, '1.0.0', fn); }
  registerOrchestrationTyped(name, fn) { this.registerOrchestration(name, fn); }
  registerOrchestrationVersioned(name, version, fn) {
    if (typeof fn !== 'function') throw new TypeError('registerOrchestration needs a generator function');
    if (!VERSION_PATTERN.test(String(version))) throw new TypeError(`version must be MAJOR.MINOR.PATCH, got ${version}`);
    unwrap(this._native.registerOrchestration(name, String(version)));
    this._functions.set(`${name}@${version}`, fn);
  }
  registerOrchestrationVersionedTyped(name, version, fn) { this.registerOrchestrationVersioned(name, version, fn); }

  /** Runs in the background on the event loop until shutdown(). */
  async start() {
    if (this._running) return;
    if (this._stepping) throw engineError('runUntilIdle is running', 'InvalidInput');
    this._live();
    this._running = true;
    this._renewTimer = setInterval(() => this._renewAll(), Math.max(50, Math.floor(this._options.workerLockTimeoutMs / 2)));
    this._loop = this._runLoop();
  }

  /** Stops taking work, waits up to timeoutMs for running activities, gives the rest back. */
  async shutdown(timeoutMs = 10000) {
    if (!this._running) return;
    this._running = false;
    this._stopping = true;  // until it ends, the provider may not close
    try {
      this._wake();
      await this._loop;
      clearInterval(this._renewTimer);
      clearTimeout(this._renewRetry);
      this._renewRetry = null;
      const pending = [...this._inFlight.values()].map((lease) => lease.done);
      if (pending.length) await settledWithin(Promise.all(pending), timeoutMs);
      for (const token of this._inFlight.keys()) unwrap(this._native.abandonActivity(token));
      this._inFlight.clear();
      this._drainEvents();
    } finally {
      this._stopping = false;
    }
  }

  /** Counters of this runtime: orchStarts, orchCompletions, orchFailures, activitySuccess, ... */
  metricsSnapshot() { return unwrap(this._live().metricsSnapshot()); }

  /**
   * Deterministic mode: runs orchestration turns and activities (awaiting each
   * activity's promise) until nothing is left to do now; returns the steps taken.
   * Timers become due only when the provider's virtual clock moves (advanceTime).
   */
  async runUntilIdle({ maxSteps = 100000 } = {}) {
    if (this._running) throw engineError('runUntilIdle is for a runtime that was not started', 'InvalidInput');
    this._live();
    this._stepping = true;
    let steps = 0;
    try {
      while (steps < maxSteps) {
        let worked = false;
        while (steps < maxSteps && this._orchestrationStep()) { worked = true; steps += 1; }
        while (this._fetchActivity()) { worked = true; steps += 1; }
        if (this._inFlight.size) {
          worked = true;
          // Every running activity, or a tick: the next pass's turns may cancel one, and an
          // activity that waits for isCancelled() would otherwise hold this await for ever.
          let tick;
          await Promise.race([
            Promise.all([...this._inFlight.values()].map((lease) => lease.done)),
            new Promise((resolve) => { tick = setTimeout(resolve, IDLE_TICK_MS); }),
          ]);
          clearTimeout(tick);
        }
        if (!worked) break;
      }
    } finally {
      this._stepping = false;
      this._drainEvents();
    }
    return steps;
  }

  /** Deterministic mode: moves the provider's virtual clock, then runs until idle. */
  async advanceTime(ms) {
    this._provider.advanceTime(ms);
    return this.runUntilIdle();
  }

  _live() {
    if (!this._native) throw engineError('the runtime is closed', 'InvalidInput');
    return this._native;
  }

  _orchestrationStep() {
    const worked = unwrap(this._live().orchestrationStep());
    if (worked) {
      if (this._inFlight.size) this._renewAll();  // a turn may have cancelled running activities
      this._provider._notify();
    }
    return worked;
  }

  // Takes one activity and starts it; false when the queue is empty.
  _fetchActivity() {
    const item = unwrap(this._live().fetchActivity());
    if (item === null) return false;
    if (item.handled) return true;
    const fn = this._activities.get(item.name);
    const lease = { token: item.token, cancelled: false, done: null };
    this._inFlight.set(item.token, lease);
    const context = new ActivityContext(item, lease, this);
    lease.done = (async () => {
      let ok = true;
      let value;
      try {
        value = toJson(await fn(context, parseValue(item.input)));
      } catch (error) {
        ok = false;
        value = messageOf(error);
      }
      if (!this._inFlight.has(item.token) || !this._native) return;  // given back at shutdown
      this._inFlight.delete(item.token);
      try {
        unwrap(this._native.completeActivity(item.token, ok, value, item.startedMs));
      } catch (error) {
        this._log('error', item.instanceId, `acking activity ${item.name} failed: ${messageOf(error)}`, item.name);
      }
      this._provider._notify();
    })();
    return true;
  }

  // Renews every running activity's lock. A renewal the store refuses (busy) is tried
  // again a tenth of the lock timeout later rather than at the next half-timeout tick,
  // by when the lock may have run out.
  _renewAll() {
    if (!this._native) return;
    let refused = false;
    for (const lease of this._inFlight.values()) {
      if (lease.cancelled) continue;
      try {
        if (!unwrap(this._native.renewActivity(lease.token)).alive) lease.cancelled = true;
      } catch (error) {
        refused = true;
        this._log('warn', '', `renewing an activity lock failed: ${messageOf(error)}`);
      }
    }
    if (refused && this._running && !this._renewRetry) {
      this._renewRetry = setTimeout(() => {
        this._renewRetry = null;
        this._renewAll();
      }, Math.max(10, Math.floor(this._options.workerLockTimeoutMs / 10)));
    }
  }

  async _runLoop() {
    let sliceStart = Date.now();
    while (this._running) {
      let worked = false;
      try {
        unwrap(this._live().keepSessions());  // renews this runtime's session locks when due
        worked = this._orchestrationStep();
        while (this._inFlight.size < this._options.workerConcurrency && this._fetchActivity()) worked = true;
      } catch (error) {
        this._log('error', '', `runtime step failed: ${messageOf(error)}`);
      }
      this._drainEvents();
      if (worked) {
        // Let settled activities run (microtasks); give the event loop a turn every few ms.
        await null;
        if (Date.now() - sliceStart > 8) { await nextMacrotask(); sliceStart = Date.now(); }
        continue;
      }
      await new Promise((resolve) => {
        const done = () => { clearTimeout(timer); this._wakeUp = null; resolve(); };
        const timer = setTimeout(done, this._options.pollMs);
        this._wakeUp = done;
      });
      sliceStart = Date.now();
    }
  }

  _wake() { if (this._wakeUp) this._wakeUp(); }

  _drainEvents() {
    if (!this._native) return;
    const events = unwrap(this._native.takeEvents());
    for (const event of events) {
      this._tell({ level: event.level, kind: event.kind, instanceId: event.instanceId, message: event.message, atMs: event.atMs });
    }
  }

  _log(level, instanceId, message, activityName) {
    this._tell({ level, kind: 'activity', instanceId, activityName, message, atMs: Date.now() });
  }

  // A logger that throws loses that entry only: the runtime's loop, timers and shutdown go on.
  _tell(entry) {
    if (!this._logger) return;
    try {
      this._logger(entry);
    } catch {
      // nothing to report it to: the logger is where reports go
    }
  }
}

// ---------------------------------------------------------------- simulation

// A small seeded generator (mulberry32): the workload's random choices, the same on every run.
function seededRandom(seed) {
  let state = Number(BigInt.asUintN(32, BigInt(seed))) || 0x9e3779b9;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Runs your orchestrations in the native simulator's world: several runtime nodes
 * sharing one store, a virtual clock, an in-memory disk and injected faults (the
 * simulator's fault kinds), checked by its invariants (well-formed histories,
 * deterministic replay, liveness, ...) and by your `check`; the trace hash follows
 * the simulator's rules, so a seed reruns identically.
 *   setup(runtime): register orchestrations and activities (activities must return
 *     their result synchronously: the simulated world does not wait for promises);
 *   workload(client, sim): plan the client's operations; sim.at(step) sets the
 *     phase-1 step of the next ones, sim.random() is seeded by `seed`;
 *   check(end): problems (strings) with one started instance's end, [] when fine.
 * Returns {seed, hash, ok, violations, faults_injected, completed, failed, trace, ...}.
 */
export async function runSimulation(options = {}) {
  return (await simulate(options, toJson)).result;
}

// runSimulation with `encode` for the values the code and the workload pass (the
// engine API's text convention for the playground), and two more options:
// options.ops (the client operations a run planned: replayed as they are, the workload
// function is not called; shrinking drops some) and options.keepDatabase (the result's
// `database`: the store's file after the run). Answers {result, ops}.
async function simulate(options, encode) {
  const { setup, workload, check } = options;
  if (typeof setup !== 'function' || (typeof workload !== 'function' && !Array.isArray(options.ops))) {
    throw new TypeError('runSimulation needs setup(runtime) and workload(client, sim)');
  }
  const seed = options.seed ?? 1;
  const steps = options.steps ?? 2000;
  const functions = new Map();
  const activities = new Map();
  const orchestrations = [];
  const registrar = {
    registerActivity(name, fn) {
      if (typeof fn !== 'function') throw new TypeError('registerActivity needs a function');
      activities.set(name, fn);
    },
    registerOrchestration(name, fn) { registrar.registerOrchestrationVersioned(name, '1.0.0', fn); },
    registerOrchestrationVersioned(name, version, fn) {
      if (typeof fn !== 'function') throw new TypeError('registerOrchestration needs a generator function');
      if (!VERSION_PATTERN.test(String(version))) throw new TypeError(`version must be MAJOR.MINOR.PATCH, got ${version}`);
      functions.set(`${name}@${version}`, fn);
      orchestrations.push({ name, version: String(version) });
    },
  };
  registrar.registerActivityTyped = registrar.registerActivity;
  registrar.registerOrchestrationTyped = registrar.registerOrchestration;
  registrar.registerOrchestrationVersionedTyped = registrar.registerOrchestrationVersioned;
  await setup(registrar);

  const ops = options.ops ? options.ops.map((op) => ({ ...op })) : [];
  let step = 0;
  const random = seededRandom(seed);
  const sim = {
    seed,
    steps,
    get step() { return step; },
    at(next) {
      if (!Number.isInteger(next) || next < 0) throw new RangeError('sim.at needs a non-negative integer step');
      step = next;
    },
    random,
    randomInt(bound) { return Math.floor(random() * bound); },
  };
  const plan = (kind, instanceId, name, data) => ops.push({ kind, step, instanceId, name, data });
  const client = {
    async startOrchestration(instanceId, name, input) { plan('start', instanceId, name, encode(input)); },
    async startOrchestrationVersioned() { throw unsupported('startOrchestrationVersioned in a simulation workload'); },
    async raiseEvent(instanceId, eventName, data) { plan('raise', instanceId, eventName, encode(data)); },
    async enqueueEvent(instanceId, queueName, data) { plan('enqueue', instanceId, queueName, encode(data)); },
    async cancelInstance(instanceId, reason = 'canceled') { plan('cancel', instanceId, '', String(reason)); },
  };
  if (!options.ops) await workload(client, sim);

  let asyncActivity = null;
  const host = {
    ...generatorHost(functions, encode),
    run(name, infoJson, input) {
      try {
        const fn = activities.get(name);
        const info = JSON.parse(infoJson);
        const context = {
          instanceId: info.instanceId, executionId: info.executionId, activityId: info.activityId,
          activityName: name, attempt: 1, isCancelled: () => false, tag: () => info.tag ?? null,
          sessionId: info.sessionId ?? null,
          orchestrationName: info.orchestrationName ?? null, orchestrationVersion: info.orchestrationVersion ?? null,
          getClient: () => { throw unsupported('getClient in a simulation'); },
          traceInfo() {}, traceWarn() {}, traceError() {}, traceDebug() {},
        };
        const value = fn(context, parseValue(input));
        if (value && typeof value.then === 'function') {
          asyncActivity = name;
          return JSON.stringify({ ok: false, error: `activity ${name} returned a Promise: simulated activities must return their result synchronously` });
        }
        return JSON.stringify({ ok: true, value: encode(value) });
      } catch (error) {
        return JSON.stringify({ ok: false, error: messageOf(error) });
      }
    },
    check(endJson) {
      try {
        const end = JSON.parse(endJson);
        if (typeof end.output === 'string') end.output = parseValue(end.output);
        end.input = parseValue(end.input);
        const problems = check(end) ?? [];
        return JSON.stringify(Array.isArray(problems) ? problems.map(String) : [String(problems)]);
      } catch (error) {
        return JSON.stringify([`the check threw: ${messageOf(error)}`]);
      }
    },
  };
  const result = unwrap(core.runJsSimulation(JSON.stringify({
    seed, steps, nodes: options.nodes ?? 3, faults: options.faults, orchestrations,
    activities: [...activities.keys()], ops, check: typeof check === 'function',
    keepDatabase: options.keepDatabase === true,
  }), host));
  if (asyncActivity !== null) {
    throw engineError(`activity ${asyncActivity} returned a Promise: in runSimulation activities must return their result synchronously`, 'InvalidInput');
  }
  if (options.keepDatabase === true) result.database = core.takeSimulationDatabase();
  return { result, ops };
}

/** The simulator's fault kinds, and those a run draws when it names none. */
export function faultKinds() { return unwrap(core.faultKinds()); }
export function defaultFaultKinds() { return unwrap(core.defaultFaultKinds()); }

/** The lower-level engine API (sample catalog, step driver, replay, native simulator) the playground uses. */
export async function createDuroxide() {
  return createEngineApi({ core, generatorHost, simulate });
}

/** The Node SDK's tracing setup: traces go to the runtime's `logger` option here. */
export function initTracing() { throw unsupported('initTracing (use the Runtime option logger)'); }

/** Upper bounds of the Node SDK, for source compatibility. */
export const MAX_KV_KEYS = 150;
export const MAX_KV_VALUE_BYTES = 65536;
export const MAX_WORKER_TAGS = 5;
export const MAX_TAG_NAME_BYTES = 256;
