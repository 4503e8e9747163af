// The code panel's program: JavaScript that registers orchestrations (generator
// functions, the npm package's OrchestrationContext) and activities ((ctx, input) =>
// value, run synchronously) beside the catalog. Evaluating it only collects what it
// registers; apply() puts that into a runtime, replacing catalog code of the same
// name and version. Errors name the line and column of the code.
import { dx } from './engine.js';
import { noteActivityLine } from './notices.js';

const SOURCE_URL = 'playground-code.js';
const WORKLOAD_URL = 'playground-workload.js';
const WRAPPER_LINES = 1;  // the line evaluate() puts before the code
const MAX_SOURCE_BYTES = 256 * 1024;
const STORAGE_KEY = 'duroxide-playground-code';

// An error in the code, with its place: line and column are 1-based, 0 when unknown.
export class CodeError extends Error {
  constructor(message, line = 0, column = 0) {
    super(line ? `line ${line}${column ? `:${column}` : ''}: ${message}` : message);
    this.line = line;
    this.column = column;
  }
}

// The place in `url`'s code of an error's stack: {line, column} or null.
function placeInStack(error, url = SOURCE_URL) {
  const match = String(error && error.stack).match(new RegExp(`${url.replace('.', '\\.')}:(\\d+):(\\d+)`));
  if (!match) return null;
  return { line: Number(match[1]) - WRAPPER_LINES, column: Number(match[2]) };
}

// What the code threw, as a CodeError naming its place in `url`'s code when the stack has it.
function codeErrorOf(error, url = SOURCE_URL) {
  const place = placeInStack(error, url);
  return new CodeError(error && error.message ? error.message : String(error), place?.line ?? 0, place?.column ?? 0);
}

const isGeneratorFunction = (fn) => typeof fn === 'function' && fn.constructor && fn.constructor.name === 'GeneratorFunction';

// Compiles `source` as a classic script named `url` (so a syntax error reports its line)
// into a function of `params` (the calls it may make); throws CodeError.
function compile(source, url = SOURCE_URL, params = 'registerOrchestration, registerOrchestrationVersioned, registerActivity',
  tail = '') {
  if (new TextEncoder().encode(source).length > MAX_SOURCE_BYTES) throw new CodeError('the code is over 256 KiB');
  const slot = `__duroxideCode${Math.random().toString(36).slice(2)}`;
  let syntaxError = null;
  // An inline script reports its syntax error to window, synchronously, during append.
  const onError = (event) => {
    event.preventDefault();
    syntaxError = new CodeError(event.message.replace(/^Uncaught /, ''), event.lineno - WRAPPER_LINES, event.colno);
  };
  window.addEventListener('error', onError);
  const script = document.createElement('script');
  script.textContent = `window.${slot} = function (${params}) {\n${source}\n${tail}};\n//# sourceURL=${url}`;
  try {
    document.head.append(script);
  } finally {
    script.remove();
    window.removeEventListener('error', onError);
  }
  const compiled = window[slot];
  delete window[slot];
  if (syntaxError) throw syntaxError;
  if (typeof compiled !== 'function') throw new CodeError('the code did not compile');
  return compiled;
}

// Runs the code's registrations: {orchestrations: [{name, version, fn}], activities: [{name, fn}]}.
export function evaluate(source) {
  const program = compile(source);
  const orchestrations = [];
  const activities = [];
  const registerOrchestrationVersioned = (name, version, fn) => {
    if (typeof name !== 'string' || name === '') throw new TypeError('registerOrchestration needs a name');
    if (!/^\d+\.\d+\.\d+$/.test(String(version))) throw new TypeError(`version must be MAJOR.MINOR.PATCH, got ${version}`);
    if (!isGeneratorFunction(fn)) throw new TypeError(`registerOrchestration('${name}') needs a generator function (function*)`);
    orchestrations.push({ name, version: String(version), fn: noting(fn) });
  };
  const registerOrchestration = (name, fn) => registerOrchestrationVersioned(name, '1.0.0', fn);
  const registerActivity = (name, fn) => {
    if (typeof name !== 'string' || name === '') throw new TypeError('registerActivity needs a name');
    if (typeof fn !== 'function') throw new TypeError(`registerActivity('${name}') needs a function`);
    activities.push({ name, fn });
  };
  try {
    program(registerOrchestration, registerOrchestrationVersioned, registerActivity);
  } catch (error) {
    throw codeErrorOf(error);
  }
  if (!orchestrations.length && !activities.length) throw new CodeError('the code registers nothing');
  return { orchestrations, activities };
}

// The simulation panel's workload: code that defines workload(client, sim) and, if it
// wants, check(end). Returns {workload, check}; throws CodeError naming the line.
export function evaluateWorkload(source) {
  const program = compile(source, WORKLOAD_URL, '',
    'return { workload: typeof workload === "function" ? workload : undefined, check: typeof check === "function" ? check : undefined };\n');
  let defined;
  try {
    defined = program();
  } catch (error) {
    throw codeErrorOf(error, WORKLOAD_URL);
  }
  if (!defined.workload) throw new CodeError('the workload code defines no function workload(client, sim)');
  const located = (fn) => (...args) => {
    try {
      return fn(...args);
    } catch (error) {
      throw codeErrorOf(error, WORKLOAD_URL);
    }
  };
  return { workload: located(defined.workload), check: defined.check ? located(defined.check) : undefined };
}

// Where the code threw what ended an instance or an activity, for the details panel:
// instance and message -> {line, column}. Kept in the page, not in the engine, so an
// edit that moves lines never changes what a history holds (or how it replays).
const thrownAt = new Map();
const kMaxPlaces = 1000;

function notePlace(instance, error) {
  const place = error instanceof Error ? placeInStack(error) : null;
  if (!place) return;  // a task failure thrown into the generator: the engine's, not the code's
  if (thrownAt.size >= kMaxPlaces) thrownAt.delete(thrownAt.keys().next().value);
  thrownAt.set(`${instance}\u0000${error.message}`, place);
}

// The place in the code that threw `message` in `instance`, when this page saw it.
export function placeOfError(instance, message) { return thrownAt.get(`${instance}\u0000${message}`) ?? null; }

// The orchestration with its thrown errors' places noted; what it throws is unchanged
// (the same object, so an uncaught task failure still ends the instance with its own error).
function noting(fn) {
  return function* noted(ctx, input) {
    try {
      return yield* fn(ctx, input);
    } catch (error) {
      notePlace(ctx.instanceId, error);
      throw error;
    }
  };
}

// An activity of the code as the engine API runs it: text in, text out, synchronously.
function engineActivity(name, fn) {
  return (input, context) => {
    // As the npm package's ActivityContext: sessionId and tag() are null when none.
    const line = (level) => (message) => noteActivityLine(level, context.instance, name, String(message));
    const ctx = {
      instanceId: context.instance, executionId: context.execution, activityId: context.activityId,
      activityName: name, sessionId: context.sessionId || null, tag: () => context.tag || null,
      orchestrationName: context.orchestrationName || null, orchestrationVersion: context.orchestrationVersion || null,
      isCancelled: () => false,
      traceInfo: line('info'), traceWarn: line('warn'), traceError: line('error'), traceDebug: line('debug'),
    };
    let value;
    try {
      value = fn(ctx, dx.decodeText(input));
    } catch (error) {
      notePlace(context.instance, error);
      throw error;
    }
    if (value && typeof value.then === 'function') {
      throw new Error(`activity ${name} returned a Promise: the playground runs activities synchronously`);
    }
    return dx.encodeText(value);
  };
}

// Registers `program` (evaluate's result) into `runtime`.
export function apply(runtime, program) {
  for (const { name, fn } of program.activities) runtime.registerActivity(name, engineActivity(name, fn));
  for (const { name, version, fn } of program.orchestrations) runtime.registerOrchestrationVersioned(name, version, fn);
}

// The code last registered, kept across reloads.
export function savedSource() { return localStorage.getItem(STORAGE_KEY) ?? ''; }
export function saveSource(source) { localStorage.setItem(STORAGE_KEY, source); }
