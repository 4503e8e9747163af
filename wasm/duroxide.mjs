// The JavaScript API of Duroxide: `createDuroxide()` loads the WebAssembly
// module and returns the classes below. Every method returns plain objects;
// every engine error is thrown as an Error whose message is the engine's
// (with `.kind`: InvalidInput, NotFound, AlreadyExists, Provider, Error).
// Field names in returned objects are the engine's (snake_case), so they match
// the CLI's JSON output; method and option names are camelCase.
import createDuroxideCore from './duroxide_core.mjs';

export async function createDuroxide(moduleOptions = {}) {
  const core = await createDuroxideCore(moduleOptions);

  function unwrap(text) {
    const envelope = JSON.parse(text);
    if (!envelope.ok) {
      const error = new Error(envelope.error);
      error.kind = envelope.kind;
      throw error;
    }
    return envelope.value;
  }

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
      const engine = core.createEngine(toBytes(database), startMs ?? Date.now(),
        JSON.stringify({ readOnly: Boolean(readOnly), management: Boolean(management) }));
      if (!engine) throw new Error(core.lastEngineError());
      this._engine = engine;
    }
    // `fn(input, context)` returns the result (converted to a string) or throws to fail.
    registerActivity(name, fn) {
      if (typeof fn !== 'function') throw new TypeError('registerActivity needs a function');
      unwrap(this._engine.registerActivity(name, (input, context) => {
        try {
          const value = fn(input, JSON.parse(context));
          return JSON.stringify({ ok: true, value: value === undefined || value === null ? '' : String(value) });
        } catch (error) {
          return JSON.stringify({ ok: false, error: error && error.message ? error.message : String(error) });
        }
      }));
    }
    step() { return this._engine.step(); }
    runUntilIdle(maxSteps = 100000) { return this._engine.runUntilIdle(maxSteps); }
    advanceTime(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError('advanceTime needs a non-negative number of ms');
      this._engine.advanceTime(ms);
    }
    nowMs() { return this._engine.nowMs(); }
    // Runtime events since the last call: {kind, instance, message, at_ms}.
    takeLogs() { return JSON.parse(this._engine.takeLogs()); }
    // The database as bytes: save it as a .db file, open it natively or here.
    saveDatabase() { return this._engine.saveDatabase(); }
    close() {
      if (this._engine) this._engine.delete();
      this._engine = null;
    }
    _call(method, args) {
      if (!this._engine) throw new Error('the runtime is closed');
      return unwrap(this._engine.call(method, JSON.stringify(args ?? {})));
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
    replayHistory(history) { return unwrap(core.replayHistory(asText(history))); },
    // The state after event `index`: {index, event, state, custom_status, pending, logs, ...}.
    replayStep(history, index) {
      const report = unwrap(core.replayHistory(asText(history)));
      if (!Number.isInteger(index) || index < 0 || index >= report.steps.length) {
        throw new RangeError(`index must be 0 to ${report.steps.length - 1}`);
      }
      return report.steps[index];
    },
    // {seed, hash, ok, faults_injected, violations, reproduce, trace, ...}
    runSimulation(options = {}) { return unwrap(core.runSimulation(JSON.stringify(options))); },
    catalog() { return unwrap(core.catalog()); },
    faultKinds() { return unwrap(core.faultKinds()); },
  };
}

export default createDuroxide;
