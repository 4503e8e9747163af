// Walks the command table (core/hosts/include/duroxide/commands.hpp) and checks that every front
// end agrees with it and with the clients:
//   - the table has one row per public RuntimeClient / ManagementClient operation
//     (the list below, which must equal both the headers and the table);
//   - the CLI knows each command (`duroxide help <command>` names every argument);
//   - the JS facade has the camelCase method on the right class;
//   - wasm/duroxide.d.ts declares it with the same parameter names and options keys;
//   - the CLI and the JS facade return the same JSON shape for each read command
//     run on the same database;
//   - the npm package's Client (build/wasm/package/index.mjs, the Node SDK's API)
//     sends only commands of the table, and every table command the SDK has a
//     method for is what that method sends.
//   node tests/js/commands_agree.mjs build/native/duroxide build/wasm/web
// Ends with "N passed, M failed".
import { createRequire } from 'node:module';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';

const cli = path.resolve(process.argv[2] ?? 'build/native/duroxide');
const dir = path.resolve(process.argv[3] ?? 'build/wasm/web');
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

globalThis.require = createRequire(path.join(dir, 'duroxide_core.mjs'));
globalThis.__dirname = dir;
delete globalThis.fetch;  // the loader must read the file, not fetch it (docs/toolchain.md, note 1)
const { createDuroxide } = await import(path.join(dir, 'duroxide.mjs'));
const dx = await createDuroxide({ wasmBinary: readFileSync(path.join(dir, 'duroxide_core.wasm')) });

// Every operation of the two clients, as its command name (the C++ method in kebab-case).
const EXPECTED = {
  runtime: ['start-orchestration', 'raise-event', 'enqueue-event', 'cancel-instance', 'get-status',
    'wait-for-orchestration', 'wait-for-status-change', 'cancel-instances', 'raise-event-bulk', 'enqueue-event-bulk',
    'wait-for-instances', 'wait-for-instances-bulk',
    'get-value', 'get-all-values', 'wait-for-value'],
  management: ['list-instances', 'count-instances', 'count-by-status', 'find-child-instances', 'get-instance-tree',
    'get-instance-details', 'get-instance-stats', 'list-executions', 'get-execution-info', 'read-execution', 'get-bulk-status',
    'get-system-metrics', 'get-queue-depths', 'list-sessions', 'list-parked-messages', 'get-provider-diagnostics', 'get-orchestration-stats',
    'get-activity-stats', 'get-performance-metrics', 'get-system-health', 'get-problematic-instances',
    'delete-parked-messages', 'delete-instance', 'delete-instances', 'prune-executions', 'prune-executions-bulk', 'purge-completed', 'changes-since',
    'get-time-series', 'watch-metrics', 'export-instance', 'import-instance', 'export-tree', 'export-instances',
    'import-instances'],
};
// Public members of the clients that are helpers, not operations.
const HELPERS = new Set(['check_identifier', 'check_payload', 'summarize']);

const table = dx.commands();
const tests = [];
const test = (name, body) => tests.push({ name, body });
const sorted = (list) => [...list].sort();

// The public method names of `class Name` in a header.
function publicMethods(header, className) {
  const text = readFileSync(path.join(root, 'core/clients/include/duroxide', header), 'utf8');
  const start = text.indexOf(`class ${className} {`);
  assert.ok(start >= 0, `class ${className} in ${header}`);
  const body = text.slice(start, text.indexOf('\n};', start));
  const publicPart = body.slice(body.indexOf(' public:'), body.indexOf(' private:'));
  const names = new Set();
  for (const match of publicPart.matchAll(/\b([a-z_][a-z0-9_]*)\(/g)) {
    const before = publicPart.slice(Math.max(0, match.index - 40), match.index);
    if (/(return|decltype|sizeof)\s*$/.test(before)) continue;
    names.add(match[1]);
  }
  // Arguments and calls inside inline bodies are not members: keep names declared at the start of a statement.
  return [...names].filter((name) => new RegExp(`\\n  (static )?[\\w:<>,\\s&*]*\\b${name}\\(`).test(publicPart))
    .filter((name) => !HELPERS.has(name));
}

// The JS methods of a client: one per command, and a `<method>All` walk per paged command.
const withWalks = (client) => [...EXPECTED[client].map(camel),
  ...table.filter((c) => c.client === client && c.paged).map((c) => `${c.method}All`)];

const kebab = (snake) => snake.replaceAll('_', '-');
const camel = (name) => name.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
const flag = (name) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

test('the expected list holds every public operation of the client headers', () => {
  assert.deepEqual(sorted(publicMethods('runtime_client.hpp', 'RuntimeClient').map(kebab)), sorted(EXPECTED.runtime));
  assert.deepEqual(sorted(publicMethods('management_client.hpp', 'ManagementClient').map(kebab)), sorted(EXPECTED.management));
});

test('the table has exactly one row per operation, on the right client', () => {
  for (const client of ['runtime', 'management']) {
    assert.deepEqual(sorted(table.filter((c) => c.client === client).map((c) => c.name)), sorted(EXPECTED[client]), client);
  }
  assert.equal(new Set(table.map((c) => c.name)).size, table.length, 'names are unique');
  for (const command of table) {
    assert.equal(command.method, camel(command.name));
    assert.ok(command.help.length > 0 && command.returns.length > 0, `${command.name} has help`);
    for (const arg of command.args) assert.ok(arg.help.length > 0, `${command.name}.${arg.name} has help`);
  }
});

function runCli(args) {
  const result = spawnSync(cli, args, { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('the CLI knows every command and every argument', () => {
  for (const command of table) {
    const { status, stdout } = runCli(['help', command.name]);
    assert.equal(status, 0, `duroxide help ${command.name}`);
    assert.ok(stdout.includes(`usage: duroxide ${command.name}`), stdout);
    assert.ok(stdout.includes(`${command.client === 'runtime' ? 'RuntimeClient' : 'ManagementClient'}.${command.method}`));
    for (const arg of command.args) {
      assert.ok(stdout.includes(`${arg.name} (--${flag(arg.name)}, ${arg.type}`), `${command.name}: ${arg.name}\n${stdout}`);
    }
    const overview = runCli(['--help']).stdout;
    assert.ok(overview.includes(`  ${command.name}`), `--help lists ${command.name}`);
  }
});

test('the JS facade has every method on the right class, and no other', () => {
  const runtime = new dx.Runtime({ startMs: 1_700_000_000_000 });
  const clients = { runtime: new dx.RuntimeClient(runtime), management: new dx.ManagementClient(runtime) };
  for (const command of table) {
    assert.equal(typeof clients[command.client][command.method], 'function', `${command.client}.${command.method}`);
  }
  for (const [client, instance] of Object.entries(clients)) {
    const methods = Object.getOwnPropertyNames(Object.getPrototypeOf(instance)).filter((m) => m !== 'constructor');
    assert.deepEqual(sorted(methods), sorted(withWalks(client)), client);
  }
  runtime.close();
});

// Splits a parameter list at its top-level commas.
function splitTop(text) {
  const parts = [];
  let depth = 0;
  let current = '';
  for (const c of text) {
    if ('({[<'.includes(c)) depth++;
    if (')}]>'.includes(c)) depth--;
    if (c === ',' && depth === 0) {
      parts.push(current.trim());
      current = '';
    } else {
      current += c;
    }
  }
  if (current.trim()) parts.push(current.trim());
  return parts;
}

// {method: [{name, type}]} of `export declare class Name` in duroxide.d.ts.
function declaredMethods(className) {
  const text = readFileSync(path.join(root, 'wasm/duroxide.d.ts'), 'utf8');
  const start = text.indexOf(`export declare class ${className} {`);
  const body = text.slice(text.indexOf('{', start) + 1, text.indexOf('\n}', start));
  const methods = {};
  for (const match of body.matchAll(/\n  (\w+)\(/g)) {
    let depth = 1;
    let i = match.index + match[0].length;
    const open = i;
    for (; depth > 0; i++) {
      if (body[i] === '(') depth++;
      if (body[i] === ')') depth--;
    }
    methods[match[1]] = splitTop(body.slice(open, i - 1)).map((param) => {
      const colon = param.indexOf(':');
      return { name: param.slice(0, colon).replace('?', '').trim(), type: param.slice(colon + 1).trim() };
    });
  }
  delete methods.constructor;
  return methods;
}

test('duroxide.d.ts declares every command with the table\'s argument names', () => {
  const declared = { runtime: declaredMethods('RuntimeClient'), management: declaredMethods('ManagementClient') };
  for (const client of ['runtime', 'management']) {
    assert.deepEqual(sorted(Object.keys(declared[client])), sorted(withWalks(client)), client);
  }
  for (const command of table.filter((c) => c.paged)) {
    const walk = declared[command.client][`${command.method}All`];
    assert.deepEqual(walk.map((p) => p.name), declared[command.client][command.method].map((p) => p.name), `${command.method}All`);
    assert.ok(walk.at(-1).type.includes('Walk<'), `${command.method}All takes onProgress`);
  }
  for (const command of table) {
    const params = declared[command.client][command.method];
    const positional = command.args.filter((a) => a.positional).map((a) => a.name);
    const options = command.args.filter((a) => !a.positional).map((a) => a.name);
    const expected = options.length ? [...positional, 'options'] : positional;
    assert.deepEqual(params.map((p) => p.name), expected, command.method);
    if (options.length) {
      const keys = [...params.at(-1).type.matchAll(/(\w+)\??:/g)].map((m) => m[1]);
      // Keys of the options object itself, not of nested types (InstanceFilter is named, not inlined).
      assert.deepEqual(sorted(keys), sorted(options), `${command.method} options`);
    }
  }
});

// The same JSON shape: objects have the same keys, arrays the shape of their first item.
function shape(value) {
  if (Array.isArray(value)) return value.length ? [shape(value[0])] : [];
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, shape(value[key])]));
  }
  return value === null ? 'null' : typeof value;
}

// The CLI words for a command's arguments: positional ones as bare words, the rest as --flags.
function cliWords(command, args) {
  const words = [command.name];
  for (const arg of command.args) {
    if (!(arg.name in args)) continue;
    const value = Array.isArray(args[arg.name]) ? args[arg.name].join(',') : String(args[arg.name]);
    words.push(...(arg.positional ? [value] : [`--${flag(arg.name)}`, value]));
  }
  return words;
}

test('the CLI and the JS facade return the same JSON for the read commands', () => {
  const runtime = new dx.Runtime({ startMs: Date.now() });
  const client = new dx.RuntimeClient(runtime);
  client.startOrchestration('p', 'Parent', '["a","b"]');
  client.startOrchestration('c', 'Counter', '{"count":0,"limit":2}');
  client.startOrchestration('f', 'Fails', 'boom');
  client.startOrchestration('w', 'LongTimer');
  runtime.runUntilIdle();
  const work = mkdtempSync(path.join(os.tmpdir(), 'duroxide-agree-'));
  const db = path.join(work, 'agree.db');
  writeFileSync(db, runtime.saveDatabase());
  const args = {
    'get-status': { instance: 'c' }, 'wait-for-orchestration': { instance: 'c', timeoutMs: 0 },
    'wait-for-status-change': { instance: 'w', sinceVersion: 0, timeoutMs: 0 },
    'wait-for-instances': { instances: ['c', 'f'], timeoutMs: 0 },
    'list-instances': { limit: 2 }, 'count-instances': {}, 'count-by-status': {},
    'find-child-instances': { instance: 'p' }, 'get-instance-tree': { instance: 'p' },
    'get-instance-details': { instance: 'w' }, 'list-executions': { instance: 'c' },
    'get-execution-info': { instance: 'c', execution: 1 }, 'read-execution': { instance: 'c', execution: 1 },
    'get-bulk-status': { instances: ['c', 'ghost'] }, 'get-system-metrics': {}, 'get-queue-depths': {}, 'list-sessions': {},
    'list-parked-messages': {},
    'get-provider-diagnostics': {}, 'get-orchestration-stats': {}, 'get-activity-stats': {},
    'get-performance-metrics': { name: 'Counter' }, 'get-system-health': {}, 'get-problematic-instances': {},
    'changes-since': { cursor: 0 }, 'get-time-series': { bucket: 'hour' }, 'watch-metrics': { cursor: 0 },
    'export-instance': { instance: 'c' }, 'get-instance-stats': { instance: 'w' },
    'export-tree': { instance: 'p' },
  };
  const clients = { runtime: client, management: new dx.ManagementClient(runtime) };
  try {
    for (const [name, commandArgs] of Object.entries(args)) {
      const command = table.find((c) => c.name === name);
      const fromJs = runtime._command(name, commandArgs);
      const { status, stdout, stderr } = runCli([...cliWords(command, commandArgs), '--db', db, '--read-only']);
      assert.equal(status, 0, `${name}: ${stderr}`);
      const fromCli = JSON.parse(stdout);
      assert.deepEqual(shape(fromCli), shape(fromJs), name);
      // The facade method is the same command.
      const positional = command.args.filter((a) => a.positional).map((a) => a.name);
      const options = Object.fromEntries(Object.entries(commandArgs).filter(([k]) => !positional.includes(k)));
      const params = positional.map((p) => commandArgs[p]);
      const hasOptions = command.args.some((a) => !a.positional);
      const viaMethod = clients[command.client][command.method](...params, ...(hasOptions ? [options] : []));
      assert.deepEqual(shape(viaMethod), shape(fromJs), `${name} via ${command.method}`);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
    runtime.close();
  }
});

test('bad input is a typed error in both front ends', () => {
  const runtime = new dx.Runtime({ startMs: 1_700_000_000_000 });
  const management = new dx.ManagementClient(runtime);
  const kind = (k) => (e) => e instanceof Error && e.kind === k;
  assert.throws(() => runtime._command('no-such', {}), kind('UnknownCommand'));
  assert.throws(() => runtime._command('status', {}), kind('UnknownCommand'), 'CLI aliases are not commands');
  assert.throws(() => runtime._command('get-status', {}), (e) => e.kind === 'InvalidInput' && /needs instance/.test(e.message));
  assert.throws(() => runtime._command('get-status', { instance: 1 }), kind('InvalidInput'));
  assert.throws(() => runtime._command('get-status', { instance: 'x', extra: 1 }), /has no argument extra/);
  assert.throws(() => management.watchMetrics(-1), /cursor must be 0 to/);
  assert.throws(() => management.listInstances({}, { limit: 1001 }), /limit must be 1 to 1000/);
  assert.throws(() => management.getBulkStatus(Array(1001).fill('x')), /over the limit of 1000/);
  assert.throws(() => management.getTimeSeries({ bucket: 'day' }), /bucket takes minute, hour/);
  assert.throws(() => management.getInstanceDetails('x', 'y'), /takes at most 1 argument/);
  assert.throws(() => runtime._command('get-status', { instance: 'x'.repeat(300) }), /instance is 300 bytes, over the limit of 256/);
  runtime.close();
  const cliErrors = [['frobnicate'], ['get-status', '--db', ':memory:'], ['get-status', 'x', '--bogus', '1', '--db', ':memory:'],
    ['watch-metrics', '--since', '-1', '--db', ':memory:'], ['list-instances', '--limit', 'many', '--db', ':memory:']];
  for (const words of cliErrors) {
    const { status, stderr } = runCli(words);
    assert.equal(status, 2, words.join(' '));
    assert.equal(stderr.trim().split('\n').length, 1, `one line: ${stderr}`);
  }
});

// ---- the npm package's Client (wasm/package/index.mjs)

// The Client methods of the Node SDK (microsoft/duroxide-node, lib/duroxide.d.ts): the
// package keeps these names and shapes.
const SDK_CLIENT = ['startOrchestration', 'startOrchestrationVersioned', 'getStatus', 'getValue', 'waitForValue',
  'getKvAllValues', 'waitForOrchestration', 'cancelInstance', 'raiseEvent', 'enqueueEvent', 'waitForStatusChange',
  'getSystemMetrics', 'getOrchestrationStats', 'getQueueDepths', 'listAllInstances', 'listInstancesByStatus',
  'getInstanceInfo', 'getExecutionInfo', 'listExecutions', 'readExecutionHistory', 'getInstanceTree', 'deleteInstance',
  'deleteInstanceBulk', 'pruneExecutions', 'pruneExecutionsBulk', 'startOrchestrationTyped',
  'startOrchestrationVersionedTyped', 'raiseEventTyped', 'enqueueEventTyped', 'waitForOrchestrationTyped'];
// SDK methods whose name is a table command's method but that send another command: the
// waits poll on the JavaScript event loop (the table's waits block), and the SDK's
// getOrchestrationStats(instanceId) is the table's per-instance get-instance-stats
// (the table's get-orchestration-stats is per orchestration name).
const SENT_INSTEAD = {
  waitForOrchestration: 'get-status', waitForStatusChange: 'get-status', waitForValue: 'get-value',
  getOrchestrationStats: 'get-instance-stats',
};

// Runs every SDK method of a package Client once against a small world and returns
// {method: [commands its native object was sent]}.
async function packageRoutes(pkg) {
  const provider = await pkg.SqliteProvider.open('sqlite::memory:', { clock: 'virtual', startMs: 1_700_000_000_000 });
  const runtime = new pkg.Runtime(provider);
  runtime.registerOrchestration('Holds', function* (ctx) {
    ctx.setValue('k', 'v');
    ctx.setCustomStatus('held');
    yield ctx.waitForEvent('go');
    return 'done';
  });
  runtime.registerOrchestration('Quick', function* (ctx, n) { return n < 2 ? yield ctx.continueAsNew(n + 1) : n; });
  const client = new pkg.Client(provider);
  const native = provider._clients.get(client._token);  // the engine object behind the client
  const nativeMethods = Object.getOwnPropertyNames(Object.getPrototypeOf(native))
    .filter((m) => typeof native[m] === 'function' && m !== 'constructor' && !m.startsWith('$$'));
  const sent = [];
  const send = native.command.bind(native);
  native.command = (name, args) => { sent.push(name); return send(name, args); };
  const calls = [
    ['startOrchestration', 'held', 'Holds', null], ['startOrchestrationVersioned', 'quick', 'Quick', 0, '1.0.0'],
    ['startOrchestrationTyped', 'spare', 'Holds', null], ['startOrchestrationVersionedTyped', 'spare2', 'Holds', null, '1.0.0'],
    ['raiseEvent', 'spare', 'other', 1], ['raiseEventTyped', 'spare', 'other', 2],
    ['enqueueEvent', 'spare', 'inbox', 3], ['enqueueEventTyped', 'spare', 'inbox', 4],
    ['getStatus', 'held'], ['getValue', 'held', 'k'], ['waitForValue', 'held', 'k', 1000], ['getKvAllValues', 'held'],
    ['waitForStatusChange', 'held', 0, 10, 1000], ['waitForOrchestration', 'quick', 1000],
    ['waitForOrchestrationTyped', 'quick', 1000], ['getSystemMetrics'], ['getOrchestrationStats', 'held'],
    ['getQueueDepths'], ['listAllInstances'], ['listInstancesByStatus', 'Running'], ['getInstanceInfo', 'held'],
    ['getExecutionInfo', 'quick', 1], ['listExecutions', 'quick'], ['readExecutionHistory', 'quick', 1],
    ['getInstanceTree', 'held'], ['pruneExecutions', 'quick', { keepLast: 2 }],
    ['pruneExecutionsBulk', { instanceIds: ['quick'] }, { keepLast: 1 }], ['cancelInstance', 'spare2', 'stop'],
    ['deleteInstanceBulk', { instanceIds: ['spare2'] }], ['deleteInstance', 'held', true],
  ];
  const routes = {};
  try {
    for (const [method, ...params] of calls) {
      await runtime.runUntilIdle();
      sent.length = 0;
      await client[method](...params);
      routes[method] = [...new Set(sent)];
    }
    // The table's blocking waits would stop the event loop: the package's client refuses them.
    assert.throws(() => client._command('wait-for-orchestration', { instance: 'spare', timeoutMs: 1000 }),
      (e) => e.kind === 'InvalidInput' && /would stop the JavaScript event loop/.test(e.message));
  } finally {
    provider.close();
  }
  return { routes, nativeMethods };
}

test('the package Client sends only table commands, and every SDK verb of the table', async () => {
  const pkg = await import(path.join(dir, '..', 'package', 'index.mjs'));
  const prototype = Object.getOwnPropertyNames(pkg.Client.prototype).filter((m) => m !== 'constructor' && !m.startsWith('_'));
  assert.deepEqual(sorted(prototype), sorted(SDK_CLIENT), 'the package Client has the SDK methods, and no others');
  const { routes, nativeMethods } = await packageRoutes(pkg);
  assert.deepEqual(nativeMethods, ['command'], 'the native client has one entry point: a command of the table');
  const names = new Set(table.map((c) => c.name));
  for (const method of SDK_CLIENT) {
    assert.ok(routes[method]?.length > 0, `${method} reaches the engine`);
    for (const name of routes[method]) assert.ok(names.has(name), `${method} sends ${name}, which is not in the table`);
  }
  for (const command of table) {
    if (!SDK_CLIENT.includes(command.method)) continue;
    const expected = SENT_INSTEAD[command.method] ?? command.name;
    assert.ok(routes[command.method].includes(expected), `${command.method} must send ${expected}, sent ${routes[command.method]}`);
  }
  for (const [method, name] of Object.entries(SENT_INSTEAD)) {
    assert.ok(names.has(name), `${name} (sent by ${method}) is in the table`);
  }
  // SDK methods with no table command of their name, and the command each sends.
  const expectedRoutes = {
    getKvAllValues: 'get-all-values', listAllInstances: 'list-instances', listInstancesByStatus: 'list-instances',
    getInstanceInfo: 'get-instance-details', readExecutionHistory: 'read-execution', deleteInstanceBulk: 'delete-instances',
    startOrchestrationVersioned: 'start-orchestration',
  };
  for (const [method, name] of Object.entries(expectedRoutes)) {
    assert.ok(routes[method].includes(name), `${method} sends ${name}, sent ${routes[method]}`);
  }
});

let passed = 0;
let failed = 0;
for (const { name, body } of tests) {
  try {
    await body();
    passed++;
    console.log(`ok   ${name}`);
  } catch (error) {
    failed++;
    console.log(`FAIL ${name}\n     ${String(error && error.stack ? error.stack : error).split('\n').slice(0, 8).join('\n     ')}`);
  }
}
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
