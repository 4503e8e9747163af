// The JavaScript API of Duroxide: `createDuroxide()` loads the WebAssembly
// module and returns the classes below. Every method returns plain objects;
// every engine error is thrown as an Error whose message is the engine's
// (with `.kind`: InvalidInput, NotFound, AlreadyExists, Provider, AccessDenied,
// ReadOnly, Disabled, or internal for anything unexpected). Nothing else leaves
// an entry point: a bare WebAssembly exception becomes an Error of kind internal.
// Field names in returned objects are the engine's (snake_case), so they match
// the CLI's JSON output; method and option names are camelCase.
import createDuroxideCore from './duroxide_core.mjs';

export async function createDuroxide(moduleOptions = {}) {
  // `core`: a module already loaded (the npm package's index.mjs shares its own).
  const core = moduleOptions.core ?? await createDuroxideCore(moduleOptions);

  function engineError(message, kind) {
    const error = new Error(message);
    error.kind = kind;
    return error;
  }

  // Runs one call into the module; whatever it throws arrives as an Error with a kind.
  function guard(call) {
    try {
      return call();
    } catch (error) {
      if (error instanceof Error) {
        if (typeof error.kind !== 'string') error.kind = 'internal';
        throw error;
      }
      throw engineError(`the engine failed: ${String(error)}`, 'internal');
    }
  }

  function unwrap(text) {
    const envelope = JSON.parse(text);
    if (!envelope.ok) throw engineError(envelope.error, envelope.kind);
    return envelope.value;
  }

  // An entry point returning an envelope.
  const unwrapped = (call) => unwrap(guard(call));

  function toBytes(data) {
    if (data === undefined || data === null) return new Uint8Array(0);
    if (data instanceof Uint8Array) return data;
    if (data instanceof ArrayBuffer) return new Uint8Array(data);
    throw new TypeError('database must be a Uint8Array or an ArrayBuffer');
  }

  // One engine: a SQLite database (new, or opened from bytes), the sample
  // catalog registered, and a single-threaded step driver on a virtual clock.
  // readOnly: both clients refuse every change (Error kind 'ReadOnly');
  // management: false switches the ManagementClient off (kind 'Disabled').
  class Runtime {
    constructor({ database, startMs, readOnly = false, management = true } = {}) {
      const engine = guard(() => core.createEngine(toBytes(database), startMs ?? Date.now(),
        JSON.stringify({ readOnly: Boolean(readOnly), management: Boolean(management) })));
      if (!engine) throw engineError(core.lastEngineError(), 'InvalidInput');
      this._engine = engine;
    }
    // `fn(input, context)` returns the result (converted to a string) or throws to fail.
    registerActivity(name, fn) {
      if (typeof fn !== 'function') throw new TypeError('registerActivity needs a function');
      unwrapped(() => this._live().registerActivity(name, (input, context) => {
        try {
          const value = fn(input, JSON.parse(context));
          return JSON.stringify({ ok: true, value: value === undefined || value === null ? '' : String(value) });
        } catch (error) {
          return JSON.stringify({ ok: false, error: error && error.message ? error.message : String(error) });
        }
      }));
    }
    step() { return unwrapped(() => this._live().step()); }
    runUntilIdle(maxSteps = 100000) { return unwrapped(() => this._live().runUntilIdle(maxSteps)); }
    advanceTime(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError('advanceTime needs a non-negative number of ms');
      guard(() => this._live().advanceTime(ms));
    }
    nowMs() { return guard(() => this._live().nowMs()); }
    // Runtime events since the last call: {kind, instance, message, at_ms}.
    takeLogs() { return unwrapped(() => this._live().takeLogs()); }
    // The database as bytes: save it as a .db file, open it natively or here.
    saveDatabase() {
      const result = guard(() => this._live().saveDatabase());
      return typeof result === 'string' ? unwrap(result) : result;
    }
    close() {
      if (this._engine) guard(() => this._engine.delete());
      this._engine = null;
    }
    _live() {
      if (!this._engine) throw engineError('the runtime is closed', 'InvalidInput');
      return this._engine;
    }
    _call(method, args) {
      return unwrapped(() => this._live().call(method, JSON.stringify(args ?? {})));
    }
  }

  class RuntimeClient {
    constructor(runtime) { this._runtime = runtime; }
    startOrchestration(instance, orchestration, input = '', { version } = {}) {
      return this._runtime._call('startOrchestration', { instance, orchestration, input, version });
    }
    raiseEvent(instance, name, data = '') { this._runtime._call('raiseEvent', { instance, name, data }); }
    enqueueEvent(instance, queue, data = '') { this._runtime._call('enqueueEvent', { instance, queue, data }); }
    cancelInstance(instance, reason = 'canceled') { return this._runtime._call('cancelInstance', { instance, reason }); }
    getStatus(instance) { return this._runtime._call('getStatus', { instance }); }
    // Drives the runtime (and virtual time) until the instance finishes or timeoutMs of virtual time pass.
    waitForOrchestration(instance, timeoutMs = 60000) {
      return this._runtime._call('waitForOrchestration', { instance, timeoutMs });
    }
  }

  class ManagementClient {
    constructor(runtime) { this._runtime = runtime; }
    // filter: {states: ['Running'|'Completed'|'Failed'], name, version, prefix, parent, rootsOnly}
    listInstances(filter = {}, { cursor = '', limit = 50 } = {}) {
      return this._runtime._call('listInstances', { filter, cursor, limit });
    }
    countInstances(filter = {}) { return this._runtime._call('countInstances', { filter }); }
    countByStatus(filter = {}) { return this._runtime._call('countByStatus', { filter }); }
    getInstanceDetails(instance) { return this._runtime._call('getInstanceDetails', { instance }); }
    findChildInstances(instance) { return this._runtime._call('findChildInstances', { instance }); }
    listExecutions(instance) { return this._runtime._call('listExecutions', { instance }); }
    readExecution(instance, execution = 0) { return this._runtime._call('readExecution', { instance, execution }); }
    getQueueDepths() { return this._runtime._call('getQueueDepths', {}); }
    // The store: versions, sizes, last checkpoint, row counts, last error, round trip.
    getProviderDiagnostics() { return this._runtime._call('getProviderDiagnostics', {}); }
    // Buckets of [fromMs, toMs) (default: the last hour of minutes / day of hours).
    // metric: 'starts'|'completions'|'failures'|'duration'|'all'; orchestration '' sums all.
    getTimeSeries({ metric = 'all', orchestration = '', bucket = 'minute', fromMs, toMs } = {}) {
      return this._runtime._call('getTimeSeries', { metric, orchestration, bucket, fromMs, toMs });
    }
    // Deltas after `cursor` (a change-feed position) and the cursor to pass next time.
    watchMetrics(cursor = 0, limit = 100) { return this._runtime._call('watchMetrics', { cursor, limit }); }
    getOrchestrationStats(name = '') { return this._runtime._call('getOrchestrationStats', { name }); }
    getActivityStats(name = '') { return this._runtime._call('getActivityStats', { name }); }
    getSystemHealth() { return this._runtime._call('getSystemHealth', {}); }
    exportInstance(instance) { return this._runtime._call('exportInstance', { instance }); }
    importInstance(data) {
      return this._runtime._call('importInstance', { data: typeof data === 'string' ? data : JSON.stringify(data) });
    }
    deleteInstance(instance, { force = false } = {}) { return this._runtime._call('deleteInstance', { instance, force }); }
  }

  const asText = (json) => (typeof json === 'string' ? json : JSON.stringify(json));

  return {
    Runtime,
    RuntimeClient,
    ManagementClient,
    // {deterministic, mismatch?, error?, events, steps: [state after event k], history}
    replayHistory(history) { return unwrapped(() => core.replayHistory(asText(history))); },
    // The state after event `index`: {index, event, state, custom_status, pending, logs, ...}.
    replayStep(history, index) {
      const report = unwrapped(() => core.replayHistory(asText(history)));
      if (!Number.isInteger(index) || index < 0 || index >= report.steps.length) {
        throw new RangeError(`index must be 0 to ${report.steps.length - 1}`);
      }
      return report.steps[index];
    },
    // {seed, hash, ok, faults_injected, violations, reproduce, trace, ...}
    runSimulation(options = {}) { return unwrapped(() => core.runSimulation(JSON.stringify(options))); },
    catalog() { return unwrapped(() => core.catalog()); },
    faultKinds() { return unwrapped(() => core.faultKinds()); },
    defaultFaultKinds() { return unwrapped(() => core.defaultFaultKinds()); },
  };
}

export default createDuroxide;
