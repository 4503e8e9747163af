// The JavaScript API of Duroxide: `createDuroxide()` loads the WebAssembly
// module and returns the classes below. Every method returns plain objects;
// every engine error is thrown as an Error whose message is the engine's
// (with `.kind`: InvalidInput, UnknownCommand, NotFound, AlreadyExists, Provider, AccessDenied,
// ReadOnly, Disabled, Conflict, or internal for anything unexpected). Nothing else leaves
// an entry point: a bare WebAssembly exception becomes an Error of kind internal.
// Field names in returned objects are the engine's (snake_case), so they match
// the CLI's JSON output; method and option names are camelCase. RuntimeClient and
// ManagementClient are built from the command table the CLI uses too
// (core/hosts/include/duroxide/commands.hpp, docs/cli.md): one method per command, the same
// arguments and the same JSON.
import createDuroxideCore from './duroxide_core.mjs';

// The engine API's values are text, as the catalog's are: a string travels as itself,
// any other value as its JSON. Orchestrations and activities written in JavaScript for
// this API (registerOrchestration, the playground's code panel) use these.
export function encodeText(value) {
  if (typeof value === 'string') return value;
  return JSON.stringify(value === undefined ? null : value);
}

// Engine text back to a value: the value it parses as JSON, else the text itself (empty:
// null). The npm package reads values this way too.
export function decodeText(text) {
  if (text === undefined || text === null || text === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

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

  // A generator host (wasm/js_generator.hpp) over `functions` ('name@version' -> fn*):
  // the npm package supplies it (wasm/package/index.mjs), with its OrchestrationContext.
  function generatorHost(functions) {
    if (typeof moduleOptions.generatorHost !== 'function') {
      throw engineError('JavaScript orchestrations need the engine API of the duroxide-wasm package (its createDuroxide())', 'InvalidInput');
    }
    return moduleOptions.generatorHost(functions, encodeText);
  }

  // Checked before the bytes are copied into the module's memory, which a file near its
  // size could exhaust.
  const kMaxDatabaseBytes = 512 * 1024 * 1024;
  function toBytes(data) {
    if (data === undefined || data === null) return new Uint8Array(0);
    if (!(data instanceof Uint8Array) && !(data instanceof ArrayBuffer)) {
      throw new TypeError('database must be a Uint8Array or an ArrayBuffer');
    }
    if (data.byteLength > kMaxDatabaseBytes) throw engineError('database over 512 MiB', 'InvalidInput');
    return data instanceof Uint8Array ? data : new Uint8Array(data);
  }

  // An activity's result in the text convention above; a Promise is refused, since the
  // engine runs this API's activities synchronously.
  function activityResult(value) {
    if (value === undefined || value === null) return '';
    if (typeof value.then === 'function') {
      throw new Error('the activity returned a Promise: activities of this API return their result directly');
    }
    return encodeText(value);
  }

  // One engine: a SQLite database (new, or opened from bytes), the sample
  // catalog registered, and a single-threaded step driver on a virtual clock.
  // readOnly: both clients refuse every change (Error kind 'ReadOnly');
  // management: false switches the ManagementClient off (kind 'Disabled').
  // caller: { principal, tenant, roles } the clients act for: with a tenant they see and
  // start only that tenant's instances; with roles the standard roles decide (reader,
  // operator, admin; a denial is kind 'AccessDenied'). workerTagFilter: the activities its
  // workers take by tag, as the SDK's Runtime option ('defaultOnly' by default).
  // workerNodeId ("local" by default), maxSessionsPerRuntime, sessionIdleTimeoutMs: its
  // activity sessions, as the SDK's Runtime options. An invalid option fails the construction
  // naming it.
  class Runtime {
    constructor({ database, startMs, readOnly = false, management = true, caller, retention, executionsKept,
      workerTagFilter, workerNodeId, maxSessionsPerRuntime, sessionIdleTimeoutMs } = {}) {
      const switches = { readOnly: Boolean(readOnly), management: Boolean(management) };
      if (workerTagFilter !== undefined) switches.workerTagFilter = workerTagFilter;
      if (workerNodeId !== undefined) switches.workerNodeId = workerNodeId;
      if (maxSessionsPerRuntime !== undefined) switches.maxSessionsPerRuntime = maxSessionsPerRuntime;
      if (sessionIdleTimeoutMs !== undefined) switches.sessionIdleTimeoutMs = sessionIdleTimeoutMs;
      if (caller !== undefined) switches.caller = caller;
      if (retention !== undefined) switches.retention = retention;
      if (executionsKept !== undefined) switches.executionsKept = executionsKept;
      const engine = guard(() => core.createEngine(toBytes(database), startMs ?? Date.now(),
        JSON.stringify(switches)));
      if (!engine) throw engineError(core.lastEngineError(), 'InvalidInput');
      this._engine = engine;
    }
    // `fn(input, context)` returns the result (a string as itself, any other value as its
    // JSON, undefined or null as "") or throws to fail.
    registerActivity(name, fn) {
      if (typeof fn !== 'function') throw new TypeError('registerActivity needs a function');
      unwrapped(() => this._live().registerActivity(name, (input, context) => {
        try {
          return JSON.stringify({ ok: true, value: activityResult(fn(input, JSON.parse(context))) });
        } catch (error) {
          return JSON.stringify({ ok: false, error: error && error.message ? error.message : String(error) });
        }
      }));
    }
    // `fn`: a generator function (ctx, input), ctx the npm package's OrchestrationContext
    // (docs/javascript.md), values in the text convention above. Registers version 1.0.0
    // of `name`, or replaces its earlier code (the catalog's too): instances of that
    // version replay against the new code from their next turn.
    registerOrchestration(name, fn) { this.registerOrchestrationVersioned(name, '1.0.0', fn); }
    registerOrchestrationVersioned(name, version, fn) {
      if (typeof fn !== 'function') throw new TypeError('registerOrchestration needs a generator function');
      if (!this._functions) {
        this._functions = new Map();
        this._host = generatorHost(this._functions);
      }
      unwrapped(() => this._live().registerOrchestration(String(name), String(version), this._host));
      this._functions.set(`${name}@${version}`, fn);
    }
    step() { return unwrapped(() => this._stepping('step()', (engine) => engine.step())); }
    runUntilIdle(maxSteps = 100000) {
      if (!Number.isInteger(maxSteps) || maxSteps < 1 || maxSteps > 0x7fffffff) {
        throw new RangeError('runUntilIdle needs a whole number of steps from 1 to 2147483647');
      }
      return unwrapped(() => this._stepping('runUntilIdle()', (engine) => engine.runUntilIdle(maxSteps)));
    }
    advanceTime(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError('advanceTime needs a non-negative number of ms');
      unwrapped(() => this._live().advanceTime(ms));
    }
    nowMs() { return guard(() => this._live().nowMs()); }
    // Runtime events since the last call: {kind, instance, message, at_ms}.
    takeLogs() { return unwrapped(() => this._live().takeLogs()); }
    // The database as bytes: save it as a .db file, open it natively or here.
    saveDatabase() {
      const result = guard(() => this._live().saveDatabase());
      return typeof result === 'string' ? unwrap(result) : result;
    }
    // Refused from inside a call of this runtime (an activity or orchestration it runs):
    // the engine is still using what close() would free.
    close() {
      if (this._busy) {
        throw engineError('close() was called from inside a call of this runtime (an activity or orchestration of it): close it after that call returns', 'InvalidInput');
      }
      if (this._engine) guard(() => this._engine.delete());
      this._engine = null;
    }
    _live() {
      if (!this._engine) throw engineError('the runtime is closed', 'InvalidInput');
      return this._engine;
    }
    // Runs `call(engine)`, which may run this runtime's activities and orchestrations;
    // `what` (a call that steps the driver) is refused from inside one of them, whose step
    // is not finished.
    _stepping(what, call) {
      const engine = this._live();
      if (this._busy) {
        throw engineError(`${what} was called from inside a call of this runtime (an activity or orchestration of it)`, 'InvalidInput');
      }
      this._busy = true;  // until the call returns: it runs this runtime's activities and orchestrations
      try {
        return call(engine);
      } finally {
        this._busy = false;
      }
    }
    // One command of the command table by its name ("get-status"): the arguments
    // object in, the command's JSON out. The waits step the driver.
    _command(name, args) {
      const run = (engine) => engine.command(name, JSON.stringify(args ?? {}));
      if (name.startsWith('wait-')) return unwrapped(() => this._stepping(`the command ${name}`, run));
      return unwrapped(() => run(this._live()));
    }
  }

  // The command table (core/hosts/include/duroxide/commands.hpp): one row per RuntimeClient and
  // ManagementClient operation, with its arguments.
  const commands = unwrapped(() => core.commands());

  // A method for one command: its positional arguments as parameters in table
  // order, then (if it has others) one options object holding those by name.
  function commandMethod(command) {
    const positional = command.args.filter((arg) => arg.positional).map((arg) => arg.name);
    const optional = command.args.filter((arg) => !arg.positional).map((arg) => arg.name);
    const most = positional.length + (optional.length ? 1 : 0);
    return function method(...params) {
      if (params.length > most) {
        throw engineError(`${command.method} takes at most ${most} argument(s), got ${params.length}`, 'InvalidInput');
      }
      const args = {};
      positional.forEach((name, i) => { if (params[i] !== undefined) args[name] = params[i]; });
      const options = params[positional.length];
      if (optional.length && options !== undefined && options !== null) {
        if (typeof options !== 'object' || Array.isArray(options)) {
          throw engineError(`${command.method}: the last argument must be an options object`, 'InvalidInput');
        }
        Object.assign(args, options);
      }
      return this._runtime._command(command.name, args);
    };
  }

  // A paged command's whole walk (`<method>All`): the same parameters, plus `onProgress`
  // in the options object; calls the command page after page from options.continuation
  // (none: the start) until its continuation is empty, merging the pages as the CLI does
  // (numbers add up, `failures` lists the failed items, `pages` counts the calls),
  // calls onProgress(total) after each page and lets the event loop turn between pages
  // so a page can repaint. Resolves to the total.
  function walkMethod(command) {
    const one = commandMethod(command);
    const positional = command.args.filter((arg) => arg.positional).length;
    return async function walk(...params) {
      const options = { ...(params[positional] ?? {}) };
      const onProgress = options.onProgress;
      delete options.onProgress;
      if (onProgress !== undefined && typeof onProgress !== 'function') {
        throw engineError(`${command.method}All: onProgress must be a function`, 'InvalidInput');
      }
      let total = null;
      for (let pages = 0; ; pages++) {
        const head = params.slice(0, positional);
        while (head.length < positional) head.push(undefined);
        const page = one.call(this, ...head, options);
        total = unwrapped(() => core.mergePage(JSON.stringify(total), JSON.stringify(page)));
        if (onProgress) onProgress(total);
        if (!page.continuation) return total;
        if (page.continuation === options.continuation) {
          throw engineError(`${command.method}All: the continuation did not move`, 'internal');
        }
        options.continuation = page.continuation;
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    };
  }

  class RuntimeClient {
    constructor(runtime) { this._runtime = runtime; }
  }

  class ManagementClient {
    constructor(runtime) { this._runtime = runtime; }
  }

  for (const command of commands) {
    const target = command.client === 'runtime' ? RuntimeClient : ManagementClient;
    Object.defineProperty(target.prototype, command.method, {
      value: commandMethod(command), writable: true, configurable: true,
    });
    if (command.paged) {
      Object.defineProperty(target.prototype, `${command.method}All`, {
        value: walkMethod(command), writable: true, configurable: true,
      });
    }
  }

  const asText = (json) => (typeof json === 'string' ? json : JSON.stringify(json));

  // A replay report's `steps`: a read-only array of one step per event, each read from the
  // engine when first used, a window of STEP_WINDOW at a time (the last STEP_WINDOWS kept),
  // so a history of a million events replays without a million states in memory. A step's
  // `logs` are the report's lines written up to its event, listed when first read. Not
  // enumerable on the report: copying a report (JSON, structuredClone, spread) leaves them.
  const STEP_WINDOW = 128;
  const STEP_WINDOWS = 4;
  const withSteps = (report, document) => {
    const windows = new Map();
    const logsUpTo = (step) => {
      let logs;
      Object.defineProperty(step, 'logs', {
        enumerable: true,
        get: () => (logs ??= (report.logs ?? []).filter((line) => line.after_event <= step.event.event_id)),
      });
      return step;
    };
    const stepAt = (index) => {
      const start = index - (index % STEP_WINDOW);
      let window = windows.get(start);
      if (!window) {
        window = unwrapped(() => core.replaySteps(document, start, STEP_WINDOW)).map(logsUpTo);
        if (windows.size >= STEP_WINDOWS) windows.delete(windows.keys().next().value);
        windows.set(start, window);
      }
      return window[index - start];
    };
    const count = report.events ?? 0;
    const isIndex = (key) => typeof key === 'string' && /^(0|[1-9]\d*)$/.test(key) && Number(key) < count;
    const steps = new Proxy(new Array(count), {
      get: (target, key, receiver) => (isIndex(key) ? stepAt(Number(key)) : Reflect.get(target, key, receiver)),
      has: (target, key) => isIndex(key) || Reflect.has(target, key),
      getOwnPropertyDescriptor: (target, key) => (isIndex(key)
        ? { value: stepAt(Number(key)), writable: false, enumerable: true, configurable: true }
        : Reflect.getOwnPropertyDescriptor(target, key)),
      ownKeys: (target) => [...Array.from({ length: count }, (_, i) => String(i)), ...Reflect.ownKeys(target)],
      set: () => false,
      defineProperty: () => false,
      deleteProperty: () => false,
      preventExtensions: () => false,
    });
    Object.defineProperty(report, 'steps', { value: steps, enumerable: false });
    return report;
  };

  // Orchestrations and activities written in JavaScript, simulated in the native
  // simulator's world (the npm package's runSimulation, docs/javascript.md) with values in
  // the text convention. options: {orchestrations: [{name, version = '1.0.0', fn}],
  // activities: [{name, fn(ctx, input)}], workload(client, sim), check(end), seed, steps,
  // nodes, faults, keepDatabase, ops}. `ops`: a run's planned client operations, replayed
  // instead of calling the workload. Resolves to {result, ops}: the run's summary (with
  // `database`, the store's file, when kept) and the operations the workload planned.
  async function simulateCode({ orchestrations = [], activities = [], ...options } = {}) {
    if (typeof moduleOptions.simulate !== 'function') {
      throw engineError('simulating JavaScript code needs the engine API of the duroxide-wasm package (its createDuroxide())', 'InvalidInput');
    }
    const setup = (registrar) => {
      for (const { name, fn } of activities) registrar.registerActivity(name, fn);
      for (const { name, version = '1.0.0', fn } of orchestrations) registrar.registerOrchestrationVersioned(name, version, fn);
    };
    return moduleOptions.simulate({ ...options, setup }, encodeText);
  }

  const kMaxShrinkRuns = 200;

  // Greedy shrinking of a failing simulateCode run: keeps any smaller case on which the
  // same seed still breaks the first violation's invariant: without one instance (its
  // start and every operation on it), without one other operation, without one fault
  // kind, with one node fewer, with half the steps; at most 200 runs. Resolves to
  // {options, result, ops, runs}: the smallest case (ops fixed), its run, and the runs tried.
  async function shrinkSimulation(options) {
    const first = await simulateCode(options);
    if (first.result.ok) return { options, result: first.result, ops: first.ops, runs: 1 };
    const invariant = first.result.violations[0].invariant;
    let best = {
      ...options, ops: first.ops, faults: options.faults ?? unwrapped(() => core.defaultFaultKinds()),
      steps: options.steps ?? 2000, nodes: options.nodes ?? 3,
    };
    let bestRun = first;
    let runs = 1;
    const stillFails = async (candidate) => {
      runs += 1;
      try {
        const run = await simulateCode(candidate);
        return run.result.violations.some((violation) => violation.invariant === invariant) ? run : null;
      } catch {
        return null;  // a case the engine refuses (an operation on an instance never started) is no case
      }
    };
    const smaller = () => {
      const out = [];
      const instances = [...new Set(best.ops.map((op) => op.instanceId))];
      if (instances.length > 1) {
        for (const id of instances) out.push({ ...best, ops: best.ops.filter((op) => op.instanceId !== id) });
      }
      best.ops.forEach((op, i) => { if (op.kind !== 'start') out.push({ ...best, ops: best.ops.filter((_, j) => j !== i) }); });
      best.faults.forEach((_, i) => out.push({ ...best, faults: best.faults.filter((_, j) => j !== i) }));
      if (best.nodes > 1) out.push({ ...best, nodes: best.nodes - 1 });
      if (best.steps > 50) out.push({ ...best, steps: Math.floor(best.steps / 2) });
      return out;
    };
    for (let changed = true; changed && runs < kMaxShrinkRuns;) {
      changed = false;
      for (const candidate of smaller()) {
        if (runs >= kMaxShrinkRuns) break;
        const run = await stillFails(candidate);
        if (run) {
          best = candidate;
          bestRun = run;
          changed = true;
          break;
        }
      }
    }
    return { options: best, result: bestRun.result, ops: bestRun.ops, runs };
  }

  const api = {
    Runtime,
    RuntimeClient,
    ManagementClient,
    // {deterministic, mismatch?, error?, events, steps: [state after event k], history}
    // options.instance (and .execution, default 1): the instance the history belongs to, for
    // histories holding ids derived from it (a sub-orchestration's generated id); without it
    // a bare history replays as instance "replay".
    // options.orchestrations: [{name, version = '1.0.0', fn}] replace the catalog's code
    // (or add to it) for this replay only: edited code checked against a stored history.
    replayHistory(history, { instance, execution, orchestrations } = {}) {
      let document = asText(history);
      if (instance !== undefined) {
        document = `{"instance":${JSON.stringify(String(instance))},"execution":${JSON.stringify(execution ?? 1)},"history":${document}}`;
      }
      if (orchestrations === undefined) return withSteps(unwrapped(() => core.replayHistory(document)), document);
      if (!Array.isArray(orchestrations)) throw new TypeError('options.orchestrations must be an array');
      const functions = new Map();
      const names = orchestrations.map(({ name, version = '1.0.0', fn }) => {
        if (typeof fn !== 'function') throw new TypeError(`orchestration ${name} needs a generator function`);
        functions.set(`${name}@${version}`, fn);
        return { name: String(name), version: String(version) };
      });
      const host = generatorHost(functions);
      return withSteps(unwrapped(() => core.replayHistoryWith(document, JSON.stringify(names), host)), document);
    },
    encodeText,
    decodeText,
    simulateCode,
    shrinkSimulation,
    // The state after event `index`: {index, event, state, custom_status, pending, logs, ...}.
    replayStep(history, index) {
      const report = api.replayHistory(history);
      if (!Number.isInteger(index) || index < 0 || index >= report.steps.length) {
        throw new RangeError(`index must be 0 to ${report.steps.length - 1}`);
      }
      return report.steps[index];
    },
    // {seed, hash, ok, faults_injected, violations, reproduce, trace, ...}
    runSimulation(options = {}) { return unwrapped(() => core.runSimulation(JSON.stringify(options))); },
    catalog() { return unwrapped(() => core.catalog()); },
    // The command table: [{name, method, client, help, returns, paged, args: [{name, type, required, positional, ...}]}].
    commands() { return JSON.parse(JSON.stringify(commands)); },
    faultKinds() { return unwrapped(() => core.faultKinds()); },
    defaultFaultKinds() { return unwrapped(() => core.defaultFaultKinds()); },
  };
  return api;
}

export default createDuroxide;
