// Node tests of the JavaScript API (build/wasm/web/duroxide.mjs).
//   node tests/js/api_test.mjs [build/wasm/web]
// Ends with "N passed, M failed".
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';

const dir = path.resolve(process.argv[2] ?? 'build/wasm/web');
// The ES module Emscripten 3.1.6 emits reaches for require/__dirname under node (docs/toolchain.md, note 8).
globalThis.require = createRequire(path.join(dir, 'duroxide_core.mjs'));
globalThis.__dirname = dir;
delete globalThis.fetch;  // the loader must read the file, not fetch it (docs/toolchain.md, note 1)

const { createDuroxide } = await import(path.join(dir, 'duroxide.mjs'));
const dx = await createDuroxide({ wasmBinary: readFileSync(path.join(dir, 'duroxide_core.wasm')) });

const tests = [];
const test = (name, body) => tests.push({ name, body });

function fresh() {
  const runtime = new dx.Runtime({ startMs: 1_700_000_000_000 });
  return { runtime, client: new dx.RuntimeClient(runtime), management: new dx.ManagementClient(runtime) };
}

test('every catalog sample runs to its documented output', () => {
  const { runtime, client } = fresh();
  const expected = {
    HelloWorld: 'Hi, Ada!', FanOutFanIn: '["Hello, a!","Hello, b!","Hello, c!"]', Chain: '15',
    Counter: '3', Parent: '["Hi, a!","Hi, b!"]', RetryFlaky: 'ok after 2 failures',
    Saga: 'compensated', LongTimer: 'done',
  };
  const catalog = dx.catalog();
  assert.equal(catalog.length, 11);
  for (const sample of catalog) {
    if (!(sample.name in expected)) continue;
    client.startOrchestration(`s-${sample.name}`, sample.name, sample.example_input);
    const status = client.waitForOrchestration(`s-${sample.name}`, 2 * 3600 * 1000);
    assert.equal(status.status, 'Completed', `${sample.name}: ${JSON.stringify(status)}`);
    assert.equal(status.output, expected[sample.name], sample.name);
  }
  runtime.close();
});

test('events, queues and cancellation through the client', () => {
  const { runtime, client } = fresh();
  client.startOrchestration('a1', 'Approval', '{"timeout_ms":60000}');
  runtime.runUntilIdle();
  client.raiseEvent('a1', 'Approve', 'yes');
  assert.equal(client.waitForOrchestration('a1', 1000).output, 'approved:yes');
  client.startOrchestration('m1', 'Mailbox', '{"messages":2}');
  runtime.runUntilIdle();
  client.enqueueEvent('m1', 'inbox', 'x');
  client.enqueueEvent('m1', 'inbox', 'y');
  assert.equal(client.waitForOrchestration('m1', 1000).output, 'x,y');
  client.startOrchestration('t1', 'LongTimer');
  runtime.runUntilIdle();
  assert.equal(client.getStatus('t1').custom_status, 'waiting');
  assert.equal(client.cancelInstance('t1', 'no longer needed'), true);
  const canceled = client.waitForOrchestration('t1', 1000);
  assert.equal(canceled.status, 'Failed');
  assert.equal(canceled.error.message, 'canceled: no longer needed');
  assert.equal(client.cancelInstance('t1', 'again'), false);
  runtime.close();
});

test('engine errors arrive as Error with the engine message and kind', () => {
  const { runtime, client, management } = fresh();
  client.startOrchestration('dup', 'HelloWorld', 'x');
  runtime.runUntilIdle();
  assert.throws(() => client.startOrchestration('dup', 'HelloWorld', 'x'),
    (e) => e instanceof Error && e.kind === 'AlreadyExists' && /dup/.test(e.message));
  assert.throws(() => client.raiseEvent('missing', 'Approve', ''), (e) => e.kind === 'NotFound');
  client.startOrchestration('queued', 'HelloWorld', 'x');
  assert.throws(() => client.startOrchestration('queued', 'HelloWorld', 'y'), (e) => e.kind === 'AlreadyExists');
  assert.throws(() => client.startOrchestration('nope', 'NoSuchOrchestration', ''),
    (e) => e.kind === 'NotFound' && /orchestration NoSuchOrchestration is not registered/.test(e.message) &&
      /HelloWorld/.test(e.message));
  assert.throws(() => client.startOrchestration('', 'HelloWorld', 'x'), (e) => e.kind === 'InvalidInput');
  assert.throws(() => client.startOrchestration('big', 'HelloWorld', 'x'.repeat(2_000_000)),
    (e) => e.kind === 'InvalidInput');
  assert.throws(() => management.listInstances({ states: ['Sleeping'] }), (e) => e.kind === 'InvalidInput');
  assert.throws(() => management.listInstances({}, { limit: 100000 }), (e) => e.kind === 'InvalidInput');
  assert.throws(() => runtime._command('no-such-command', {}),
    (e) => e.kind === 'UnknownCommand' && /unknown command "no-such-command"/.test(e.message));
  assert.throws(() => dx.replayHistory('{not json'), (e) => e.kind === 'InvalidInput');
  assert.throws(() => new dx.Runtime({ database: new Uint8Array([1, 2, 3, 4]) }), Error);
  runtime.close();
});

test('arguments nested past the JSON depth limit are InvalidInput, not a stack overflow', () => {
  const { runtime, management } = fresh();
  // The engine's entry with the JSON text the facade sends (JSON.stringify itself gives up
  // near this depth): 20,000 levels used to overflow the wasm stack.
  const depth = 20000;
  const text = `{"filter":{"states":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
  const envelope = JSON.parse(runtime._live().command('count-instances', text));
  assert.equal(envelope.ok, false);
  assert.equal(envelope.kind, 'InvalidInput');
  assert.match(envelope.error, /nested deeper than 16 levels/);
  assert.throws(() => dx.replayHistory('['.repeat(depth) + ']'.repeat(depth)),
    (e) => e.kind === 'InvalidInput' && /nested deeper than 16 levels/.test(e.message));
  assert.equal(management.countInstances({}), 0);  // the engine is still whole
  runtime.close();
});

test('JS activities: results, failures and context', () => {
  const { runtime, client } = fresh();
  const seen = [];
  runtime.registerActivity('Hello', (input, context) => {
    seen.push(context.name);
    if (input === 'bad') throw new Error('no bad names');
    return `Howdy, ${input}!`;
  });
  client.startOrchestration('j1', 'HelloWorld', 'Ada', { version: '1.0.0' });
  assert.equal(client.waitForOrchestration('j1', 1000).output, 'Howdy, Ada!');
  client.startOrchestration('j2', 'HelloWorld', 'bad', { version: '1.0.0' });
  const failed = client.waitForOrchestration('j2', 1000);
  assert.equal(failed.status, 'Failed');
  assert.equal(failed.error.message, 'no bad names');
  assert.deepEqual(seen, ['Hello', 'Hello']);
  runtime.close();
});

test('management: listing with filters and paging, counts, details, executions', () => {
  const { runtime, client, management } = fresh();
  for (let i = 0; i < 7; i++) client.startOrchestration(`h${i}`, 'HelloWorld', `n${i}`);
  client.startOrchestration('c1', 'Counter', '{"count":0,"limit":2}');
  client.startOrchestration('lt', 'LongTimer');
  runtime.runUntilIdle();
  const counts = management.countByStatus();
  assert.equal(counts.Completed, 8);
  assert.equal(counts.Running, 1);
  const first = management.listInstances({ states: ['Completed'] }, { limit: 5 });
  assert.equal(first.instances.length, 5);
  assert.ok(first.next_cursor);
  const second = management.listInstances({ states: ['Completed'] }, { cursor: first.next_cursor, limit: 5 });
  assert.equal(second.instances.length, 3);
  const ids = new Set([...first.instances, ...second.instances].map((s) => s.instance));
  assert.equal(ids.size, 8);
  assert.equal(management.countInstances({ prefix: 'h' }), 7);
  const newest = management.listInstances({ prefix: 'h' }).instances.map((s) => s.instance);
  const oldest = management.listInstances({ prefix: 'h' }, { sort: 'created-asc' }).instances.map((s) => s.instance);
  assert.equal(newest.length, 7);
  assert.deepEqual(oldest, [...newest].reverse());
  assert.throws(() => management.listInstances({}, { sort: 'duration' }), (e) => e.kind === 'InvalidInput');
  const details = management.getInstanceDetails('lt');
  assert.equal(details.status, 'Running');
  assert.equal(details.pending.length, 1);
  assert.equal(details.pending[0].kind, 'timer');
  assert.equal(management.listExecutions('c1').length, 3);
  const history = management.readExecution('c1', 1);
  assert.equal(history[0].kind, 'OrchestrationStarted');
  assert.ok(history.some((e) => e.kind === 'OrchestrationContinuedAsNew'));
  const depths = management.getQueueDepths();
  assert.equal(depths.timers_pending, 1);
  assert.ok(management.getSystemHealth().score <= 100);
  const diagnostics = management.getProviderDiagnostics();
  assert.equal(diagnostics.store_kind, 'sqlite');
  assert.equal(diagnostics.journal_mode, 'wal');
  assert.equal(diagnostics.connected, true);
  assert.equal(diagnostics.table_rows.instances, 9);
  assert.equal(diagnostics.last_error, null);
  assert.ok(management.getOrchestrationStats().some((s) => s.name === 'HelloWorld' && s.completed === 7));
  runtime.close();
});

test('time series match the instances and watchMetrics follows them live', () => {
  const { runtime, client, management } = fresh();
  for (let i = 0; i < 4; i++) {
    client.startOrchestration(`ok${i}`, 'HelloWorld', `n${i}`);
    client.startOrchestration(`bad${i}`, 'Fails', 'boom');
    runtime.runUntilIdle();
    runtime.advanceTime(45_000); // spread over several minutes
  }
  const series = management.getTimeSeries();
  assert.equal(series.bucket, 'minute');
  assert.equal(series.points.length, 60);
  const sum = (points, key) => points.reduce((n, p) => n + (p[key] ?? 0), 0);
  assert.equal(sum(series.points, 'starts'), 8);
  assert.equal(sum(series.points, 'completions'), 4);
  assert.equal(sum(series.points, 'failures'), 4);
  // Each minute agrees with the instances table over the same window.
  for (const point of series.points) {
    const window = { createdFromMs: point.bucket_start_ms, createdToMs: point.bucket_start_ms + 60_000 };
    assert.equal(point.starts, management.countInstances(window));
  }
  assert.ok(series.points.filter((p) => p.starts > 0).length >= 3);
  const fails = management.getTimeSeries({ metric: 'failures', orchestration: 'Fails', bucket: 'hour' });
  assert.equal(sum(fails.points, 'failures'), 4);
  assert.equal(fails.points[0].starts, undefined); // only the asked metric
  const durations = management.getTimeSeries({ metric: 'duration' });
  assert.equal(sum(durations.points, 'duration_count'), 8);
  assert.equal(durations.histogram_bounds_ms.length + 1, durations.points[0].duration_histogram.length);

  let feed = management.watchMetrics(0, 1000);
  assert.equal(sum(feed.deltas, 'starts'), 8);
  assert.equal(sum(feed.deltas, 'failures'), 4);
  const cursor = feed.next_cursor;
  assert.equal(management.watchMetrics(cursor).deltas.length, 0);
  client.startOrchestration('late', 'HelloWorld', 'Bo');
  runtime.runUntilIdle();
  feed = management.watchMetrics(cursor);
  // HelloWorld 2.0.0 finishes in its first turn: one delta, a start and a completion.
  assert.deepEqual(feed.deltas.map((d) => [d.instance, d.starts, d.completions, d.duration_ms]), [['late', 1, 1, 0]]);
  client.startOrchestration('late-chain', 'Chain', '{"steps":2,"value":1}');
  runtime.runUntilIdle();
  feed = management.watchMetrics(feed.next_cursor);
  assert.deepEqual(feed.deltas.map((d) => [d.instance, d.starts, d.completions]), [['late-chain', 1, 0], ['late-chain', 0, 1]]);
  assert.throws(() => management.getTimeSeries({ metric: 'latency' }), /metric takes starts, completions/);
  assert.throws(() => management.getTimeSeries({ fromMs: 10, toMs: 5 }),
    (error) => error.kind === 'InvalidInput' && /toMs \(5\) must be after fromMs \(10\)/.test(error.message));
  assert.throws(() => management.countInstances({ createdFrom: 1 }), /filter.createdFrom is not a filter field/);
  runtime.close();
});

test('a database saved as bytes reopens with everything in it', () => {
  const { runtime, client } = fresh();
  client.startOrchestration('keep', 'HelloWorld', 'Bo');
  client.startOrchestration('wait', 'LongTimer');
  runtime.runUntilIdle();
  const bytes = runtime.saveDatabase();
  assert.ok(bytes instanceof Uint8Array);
  assert.equal(new TextDecoder().decode(bytes.slice(0, 15)), 'SQLite format 3');
  runtime.close();
  const reopened = new dx.Runtime({ database: bytes, startMs: 1_700_000_000_000 });
  const client2 = new dx.RuntimeClient(reopened);
  assert.equal(client2.getStatus('keep').output, 'Hi, Bo!');
  assert.equal(client2.getStatus('wait').status, 'Running');
  reopened.advanceTime(3_600_000);
  reopened.runUntilIdle();
  assert.equal(client2.getStatus('wait').output, 'done');
  reopened.close();
});

test('export, import and step-through replay', () => {
  const { runtime, client, management } = fresh();
  client.startOrchestration('f1', 'FanOutFanIn', '["a","b"]');
  runtime.runUntilIdle();
  const exported = management.exportInstance('f1');
  const history = management.readExecution('f1');
  const report = dx.replayHistory(history);
  assert.equal(report.deterministic, true);
  assert.equal(report.steps.length, history.length);
  const afterSchedules = dx.replayStep(history, 2);
  assert.equal(afterSchedules.pending.length, 2);
  assert.equal(afterSchedules.state, 'Running');
  const last = dx.replayStep(history, history.length - 1);
  assert.equal(last.state, 'Completed');
  assert.equal(last.pending.length, 0);
  assert.equal(dx.replayHistory(exported).deterministic, true);
  // A tampered history is named as nondeterministic, with the event index.
  const tampered = structuredClone(history);
  const scheduled = tampered.find((e) => e.kind === 'ActivityScheduled');
  scheduled.name = 'Other';
  const bad = dx.replayHistory(tampered);
  assert.equal(bad.deterministic, false);
  assert.ok(bad.mismatch, JSON.stringify(bad));
  assert.throws(() => dx.replayStep(history, history.length), RangeError);
  management.deleteInstance('f1');
  assert.equal(client.getStatus('f1').status, 'NotFound');
  assert.equal(management.importInstance(exported), 'f1');
  assert.equal(client.getStatus('f1').status, 'Completed');
  runtime.close();
});

test('step-through replay of a 100,000-event history reads its steps when used', () => {
  const { runtime, client, management } = fresh();
  client.startOrchestration('big', 'Approval', '{"timeout_ms":600000}');
  runtime.runUntilIdle();
  client.raiseEvent('big', 'noise', '"n"');
  runtime.runUntilIdle();
  const history = management.readExecution('big');
  const noise = history.find((e) => e.kind === 'ExternalEvent');
  assert.ok(noise, JSON.stringify(history));
  let next = history[history.length - 1].event_id;
  while (history.length < 100_000) history.push({ ...noise, event_id: ++next });
  const report = dx.replayHistory(history, { instance: 'big' });
  assert.equal(report.deterministic, true, JSON.stringify(report.mismatch ?? report.error));
  assert.equal(report.steps.length, 100_000);
  assert.ok(Array.isArray(report.steps));
  // Windows far apart, then back to the first ones read (evicted by then and read again).
  for (const index of [99_999, 0, 50_000, 257, 12_345, 70_000, 80_000, 90_000, 30_000, 40_000, 99_999, 0]) {
    const step = report.steps[index];
    assert.equal(step.index, index);
    assert.equal(step.event.event_id, history[index].event_id);
  }
  const last = report.steps[99_999];
  assert.equal(last.state, 'Running');
  assert.deepEqual(last.pending.map((w) => w.kind).sort(), ['external_wait', 'timer']);
  assert.equal(last.pending_total, 2);
  assert.equal(report.steps[0].pending.length, 0);
  assert.equal(dx.replayStep(history, 99_999).event.event_id, history[99_999].event_id);
  assert.throws(() => { report.steps[0] = null; }, TypeError);
  assert.throws(() => Object.freeze(report.steps), TypeError);
  // A copy of the report leaves the steps out; the steps of a small one copy as an array.
  assert.equal(structuredClone(report).steps, undefined);
  assert.equal(JSON.parse(JSON.stringify(report)).steps, undefined);
  const small = dx.replayHistory(history.slice(0, 3), { instance: 'big' });
  assert.deepEqual(JSON.parse(JSON.stringify(small.steps)).map((s) => s.index), [0, 1, 2]);
  assert.deepEqual([...small.steps].map((s) => s.event.event_id), history.slice(0, 3).map((e) => e.event_id));
  const { replayStep } = dx;
  assert.equal(replayStep(history.slice(0, 3), 2).index, 2);
  runtime.close();
});

test('a simulation seed gives the native hash, its faults and its trace', () => {
  const summary = dx.runSimulation({ seed: 77, steps: 3000 });
  assert.equal(summary.ok, true);
  assert.equal(summary.seed, 77);
  assert.match(summary.hash, /^[0-9a-f]{16}$/);
  assert.equal(summary.reproduce, 'duroxide-sim --seed 77 --steps 3000 --nodes 3 --instances 12 --faults ' +
    dx.defaultFaultKinds().join(','));
  // Opt-in kinds (row corruption) are known but not drawn unless asked for.
  assert.ok(dx.faultKinds().includes('corruption'));
  assert.ok(!dx.defaultFaultKinds().includes('corruption'));
  assert.ok(summary.trace.length > 100);
  assert.equal(dx.runSimulation({ seed: 77, steps: 3000 }).hash, summary.hash);
  assert.throws(() => dx.runSimulation({ faults: ['meteor'] }), (e) => e.kind === 'InvalidInput');
});

test('a bad value fails only its own item: runUntilIdle does not throw', () => {
  const { runtime, client, management } = fresh();
  let calls = 0;
  // An error message over the 256 KiB payload limit with a multi-byte character at the cut.
  const huge = 'x'.repeat(256 * 1024 - 1) + '\u20ac' + 'tail';
  runtime.registerActivity('Hello', () => {
    calls += 1;
    throw new Error(huge);
  });
  client.startOrchestration('huge', 'HelloWorld', 'Ada', { version: '1.0.0' });
  client.startOrchestration('fine', 'Chain', '{"steps":2,"value":1}');
  assert.doesNotThrow(() => runtime.runUntilIdle());
  assert.equal(calls, 1);
  const status = client.getStatus('huge');
  assert.equal(status.status, 'Failed');
  assert.equal(status.error.message, 'x'.repeat(256 * 1024 - 1));
  assert.equal(client.getStatus('fine').output, '3');
  assert.equal(management.listInstances().instances.length, 2);

  runtime.registerActivity('Hello', () => '\ud800');  // a lone surrogate is no UTF-8 text
  client.startOrchestration('surrogate', 'HelloWorld', 'Ada', { version: '1.0.0' });
  assert.doesNotThrow(() => runtime.runUntilIdle());
  const garbled = client.getStatus('surrogate');
  assert.equal(garbled.status, 'Failed');
  assert.equal(garbled.error.message, 'activity Hello returned a result that is not valid UTF-8');
  runtime.close();
});

test('every entry point throws an Error with a kind, never a bare exception', () => {
  const { runtime } = fresh();
  const bare = () => {
    if (typeof WebAssembly.Tag === 'function' && typeof WebAssembly.Exception === 'function') {
      throw new WebAssembly.Exception(new WebAssembly.Tag({ parameters: ['i32'] }), [42]);
    }
    throw 42;
  };
  const engine = runtime._engine;
  runtime._engine = {
    step: bare, runUntilIdle: bare, saveDatabase: bare, takeLogs: bare, nowMs: bare, advanceTime: bare,
    command: bare, registerActivity: bare, delete: bare,
  };
  const internal = (e) => e instanceof Error && e.kind === 'internal';
  assert.throws(() => runtime.step(), internal);
  assert.throws(() => runtime.runUntilIdle(), internal);
  assert.throws(() => runtime.saveDatabase(), internal);
  assert.throws(() => runtime.takeLogs(), internal);
  assert.throws(() => runtime.nowMs(), internal);
  assert.throws(() => runtime.advanceTime(1), internal);
  assert.throws(() => runtime.registerActivity('A', () => ''), internal);
  assert.throws(() => new dx.RuntimeClient(runtime).getStatus('x'), internal);
  assert.throws(() => new dx.ManagementClient(runtime).listInstances(), internal);
  runtime._engine = engine;
  runtime.close();
  const closed = (e) => e instanceof Error && e.kind === 'InvalidInput' && /closed/.test(e.message);
  assert.throws(() => runtime.step(), closed);
  assert.throws(() => runtime.runUntilIdle(), closed);
  assert.throws(() => runtime.saveDatabase(), closed);
  assert.throws(() => new dx.RuntimeClient(runtime).getStatus('x'), closed);
});

test('bulk control, trees, pruning and purging through the table-built methods', () => {
  const { runtime, client, management } = fresh();
  for (const id of ['b1', 'b2', 'b3']) client.startOrchestration(id, 'Approval', '{"timeout_ms":600000}');
  runtime.runUntilIdle();
  const raised = client.raiseEventBulk({ prefix: 'b' }, 'Approve', 'all', { batch: 2 });
  assert.deepEqual(raised.items.map((r) => r.ok), [true, true]);
  assert.ok(raised.continuation, 'a third running match waits for the next call');
  const canceled = client.cancelInstances({ prefix: 'b' }, 'tidy');
  assert.equal(canceled.succeeded, 3, 'all three were still running');
  const done = client.waitForInstances(['b1', 'b2', 'b3'], 10_000);
  assert.deepEqual(done.map((s) => s.status).sort(), ['Completed', 'Completed', 'Failed']);
  assert.equal(done.find((s) => s.status === 'Failed').error.message, 'canceled: tidy');
  assert.equal(management.getBulkStatus(['b1', 'ghost'])[1].status, 'NotFound');

  client.startOrchestration('fam', 'Parent', '["x","y"]');
  client.waitForOrchestration('fam', 10_000);
  assert.equal(management.getInstanceTree('fam').children.length, 2);
  client.startOrchestration('cnt', 'Counter', '{"count":0,"limit":3}');
  client.waitForOrchestration('cnt', 10_000);
  const doomedEvents = [1, 2, 3].reduce((sum, execution) => sum + management.readExecution('cnt', execution).length, 0);
  assert.deepEqual(management.pruneExecutions('cnt', 1), { instance: 'cnt', pruned: 3, events_pruned: doomedEvents });
  assert.equal(management.listExecutions('cnt').length, 1);
  assert.equal(management.getExecutionInfo('cnt', 1), null);
  assert.equal(management.getSystemMetrics().total_instances, 7);
  const changes = management.changesSince(0, { limit: 1000 });
  assert.ok(changes.changes.length > 0 && changes.next_cursor > 0);

  runtime.advanceTime(60_000);
  assert.equal(management.deleteInstances({ instances: ['b1'] }).instances, 1);
  assert.equal(management.purgeCompleted('2m').instances, 0, 'nothing finished two minutes ago');
  assert.throws(() => management.purgeCompleted(), (e) => e.kind === 'InvalidInput');
  assert.throws(() => management.purgeCompleted('30 s'), (e) => e.kind === 'InvalidInput');
  const purged = management.purgeCompleted('30s');
  assert.equal(purged.instances, 6, 'b2, b3, cnt, and fam with its two children');
  assert.equal(management.countInstances(), 0);
  runtime.close();
});

test('a paged command walks every batch with <method>All, reporting progress after each', async () => {
  const { runtime, client, management } = fresh();
  for (let i = 0; i < 7; i++) client.startOrchestration(`walk-${i}`, 'Mailbox', '{"messages":1}');
  client.startOrchestration('done', 'HelloWorld', 'Ada');
  runtime.runUntilIdle();
  const seen = [];
  const dry = await client.enqueueEventBulkAll({ prefix: 'walk-' }, 'inbox', 'hi',
    { batch: 3, dryRun: true, onProgress: (total) => seen.push(total.succeeded) });
  assert.deepEqual(seen, [3, 6, 7]);
  assert.equal(dry.pages, 3);
  assert.equal(dry.dry_run, true);
  assert.equal(management.countByStatus({ prefix: 'walk-' }).Running, 7, 'a dry run sends nothing');

  const sent = await client.enqueueEventBulkAll({ prefix: 'walk-' }, 'inbox', 'hi', { batch: 3 });
  assert.deepEqual([sent.succeeded, sent.failed, sent.failures, sent.continuation], [7, 0, [], '']);
  const byIds = client.enqueueEventBulk({}, 'inbox', 'again', { instances: ['walk-0', 'done', 'ghost'] });
  assert.deepEqual(byIds.items.map((r) => r.ok), [true, false, false]);
  runtime.runUntilIdle();
  assert.equal(management.countByStatus({ prefix: 'walk-' }).Completed, 7);

  runtime.advanceTime(60_000);
  const preview = await management.purgeCompletedAll('30s', { limit: 2, dryRun: true });
  assert.equal(preview.instances, 8);
  assert.equal(management.countInstances(), 8, 'a dry-run purge keeps everything');
  const progress = [];
  const purged = await management.purgeCompletedAll('30s', { limit: 3, onProgress: (t) => progress.push(t.instances) });
  assert.deepEqual(progress, [3, 6, 8]);
  assert.equal(purged.pages, 3);
  assert.equal(management.countInstances(), 0);
  await assert.rejects(client.cancelInstancesAll({}, 'x', { continuation: 'nonsense' }), (e) => e.kind === 'InvalidInput');
  await assert.rejects(client.cancelInstancesAll({}, 'x', { onProgress: 5 }), (e) => e.kind === 'InvalidInput');
  runtime.close();
});

test('read-only and management switches refuse with typed errors', () => {
  const { runtime, client } = fresh();
  client.startOrchestration('kept', 'HelloWorld', 'Ada');
  runtime.runUntilIdle();
  const bytes = runtime.saveDatabase();
  runtime.close();
  const readOnly = new dx.Runtime({ database: bytes, readOnly: true });
  const roClient = new dx.RuntimeClient(readOnly);
  const roManagement = new dx.ManagementClient(readOnly);
  assert.throws(() => roClient.startOrchestration('new', 'HelloWorld', 'x'), (e) => e.kind === 'ReadOnly');
  assert.throws(() => roManagement.deleteInstance('kept', { force: true }), (e) => e.kind === 'ReadOnly');
  assert.throws(() => roManagement.deleteParkedMessages([1]), (e) => e.kind === 'ReadOnly');
  assert.deepEqual(roManagement.listParkedMessages(), []);
  assert.equal(roClient.getStatus('kept').output, 'Hi, Ada!');
  assert.equal(roManagement.listInstances().instances.length, 1);
  readOnly.close();
  const noManagement = new dx.Runtime({ database: bytes, management: false });
  assert.throws(() => new dx.ManagementClient(noManagement).listInstances(), (e) => e.kind === 'Disabled');
  assert.equal(new dx.RuntimeClient(noManagement).getStatus('kept').status, 'Completed');
  noManagement.close();
});

test('a caller with a tenant sees only its own instances; roles decide what it may do', () => {
  const acme = new dx.Runtime({ caller: { principal: 'ann', tenant: 'acme' } });
  new dx.RuntimeClient(acme).startOrchestration('a-1', 'HelloWorld', 'Ada');
  acme.runUntilIdle();
  const bytes = acme.saveDatabase();
  acme.close();
  const globex = new dx.Runtime({ database: bytes, caller: { tenant: 'globex' } });
  const globexClient = new dx.RuntimeClient(globex);
  globexClient.startOrchestration('g-1', 'HelloWorld', 'Bo');
  globex.runUntilIdle();
  const globexManagement = new dx.ManagementClient(globex);
  assert.deepEqual(globexManagement.listInstances().instances.map((i) => i.instance), ['g-1']);
  assert.equal(globexManagement.listInstances().instances[0].tenant, 'globex');
  assert.equal(globexClient.getStatus('a-1').status, 'NotFound');
  assert.throws(() => globexManagement.getQueueDepths(), (e) => e.kind === 'AccessDenied');
  const both = globex.saveDatabase();
  globex.close();
  const everyone = new dx.Runtime({ database: both });
  assert.equal(new dx.ManagementClient(everyone).countInstances(), 2);
  assert.equal(new dx.ManagementClient(everyone).countInstances({ tenant: 'acme' }), 1);
  everyone.close();
  const reader = new dx.Runtime({ database: both, caller: { roles: ['reader'] } });
  assert.equal(new dx.RuntimeClient(reader).getStatus('a-1').output, 'Hi, Ada!');
  assert.throws(() => new dx.RuntimeClient(reader).startOrchestration('r-1', 'HelloWorld', 'x'),
    (e) => e.kind === 'AccessDenied');
  reader.close();
  assert.throws(() => new dx.Runtime({ caller: { tenant: 'a\nb' } }), (e) => e.kind === 'InvalidInput');
  assert.throws(() => new dx.Runtime({ caller: { team: 'x' } }), (e) => e.kind === 'InvalidInput');
  assert.throws(() => new dx.Runtime({ caller: { tenant: 7 } }), (e) => e.kind === 'InvalidInput');
  assert.throws(() => new dx.Runtime({ caller: { roles: ['reader', 3] } }), (e) => e.kind === 'InvalidInput');
  assert.throws(() => new dx.Runtime({ caller: { roles: Array(65).fill('reader') } }),
    (e) => e.kind === 'InvalidInput' && /1 to 64 strings/.test(e.message));
  assert.throws(() => new dx.Runtime({ caller: 'acme' }), (e) => e.kind === 'InvalidInput');
});

test('retention: runUntilIdle purges old finished instances and a loop keeps its newest executions', () => {
  const runtime = new dx.Runtime({ retention: { finished: '1d', changes: 0 }, executionsKept: 2 });
  const client = new dx.RuntimeClient(runtime);
  const management = new dx.ManagementClient(runtime);
  client.startOrchestration('old', 'HelloWorld', 'Ada');
  client.startOrchestration('loop', 'Counter', '{"count":0,"limit":4}');
  runtime.runUntilIdle();
  assert.equal(client.getStatus('old').status, 'Completed');
  assert.equal(management.listExecutions('loop').length, 2);  // of five executions
  runtime.advanceTime(2 * 86400000);
  runtime.runUntilIdle();
  assert.equal(client.getStatus('old').status, 'NotFound');
  runtime.close();
  const refused = (options) => assert.throws(() => new dx.Runtime(options), (e) => e.kind === 'InvalidInput');
  refused({ retention: { finished: '-1d' } });
  refused({ retention: { finished: 'soon' } });
  refused({ retention: { forever: '1d' } });
  refused({ retention: '7d' });
  refused({ executionsKept: -1 });
  refused({ executionsKept: 1.5 });
});

test('a tree exports as JSON lines and imports back; a filtered set exports page by page', async () => {
  const { runtime, client } = fresh();
  const management = new dx.ManagementClient(runtime);
  client.startOrchestration('jt', 'Parent', '["x","y"]');
  client.startOrchestration('jl', 'HelloWorld', 'Ada');
  runtime.runUntilIdle();
  const documents = management.exportTree('jt');
  assert.equal(documents.length, 3);
  assert.equal(documents[0].instance.instance, 'jt');
  management.deleteInstance('jt');
  const lines = documents.map((d) => JSON.stringify(d)).join('\n');
  const restored = management.importInstances(lines);
  assert.equal(restored.succeeded, 3);
  assert.equal(management.getInstanceTree('jt').children.length, 2);
  const all = await management.exportInstancesAll({ name: 'HelloWorld' }, { batch: 1 });
  assert.equal(all.documents.length, 3);
  assert.equal(all.pages, 3);  // three pages of one; the last has no continuation
  runtime.close();
});

test('options that would misread are refused at construction, naming them', () => {
  const refused = (options, pattern) => assert.throws(() => new dx.Runtime(options),
    (e) => e instanceof Error && e.kind === 'InvalidInput' && pattern.test(e.message), JSON.stringify(options));
  // A clock cast from NaN or past JS's dates would sit near INT64_MIN, from where retention
  // counts back to delete everything.
  for (const startMs of [NaN, Infinity, -1, 1e20, 1.5]) refused({ startMs }, /startMs must be a whole number/);
  // An empty caller field reads as none given: roles [] would act with every right.
  refused({ caller: { roles: [] } }, /caller\.roles must be an array of 1 to/);
  refused({ caller: { tenant: '' } }, /caller\.tenant must be a non-empty string/);
  refused({ caller: { principal: '' } }, /caller\.principal must be a non-empty string/);
  refused({ caller: { roles: ['Admin'] } }, /"Admin" is not a role/);
  const reader = new dx.Runtime({ startMs: 0, caller: { roles: ['reader'] } });
  assert.throws(() => new dx.RuntimeClient(reader).startOrchestration('x', 'HelloWorld', 'Ada'),
    (e) => e.kind === 'AccessDenied');
  reader.close();
  assert.throws(() => new dx.Runtime({ database: new Uint8Array(512 * 1024 * 1024 + 1) }),
    (e) => e.kind === 'InvalidInput' && /database over 512 MiB/.test(e.message));
});

test('a runtime that fails to open leaves nothing behind in the module', () => {
  // Each attempt copies 300 MiB into the module's disk; kept, eight would pass its 2 GiB.
  const notADatabase = new Uint8Array(300 * 1024 * 1024).fill(7);
  for (let i = 0; i < 8; i++) {
    assert.throws(() => new dx.Runtime({ database: notADatabase }),
      (e) => e.kind === 'InvalidInput' && /file is not a database/.test(e.message), `attempt ${i}`);
  }
  const { runtime, client } = fresh();
  client.startOrchestration('after', 'HelloWorld', 'Ada');
  assert.equal(client.waitForOrchestration('after', 1000).output, 'Hi, Ada!');
  runtime.close();
});

test('step counts and clock steps are checked, not wrapped', () => {
  const { runtime, client } = fresh();
  for (const steps of [Infinity, 2 ** 32 + 5, 0, 1.5, '10']) {
    assert.throws(() => runtime.runUntilIdle(steps), RangeError, String(steps));
  }
  client.startOrchestration('c', 'Chain', '{"steps":3,"value":0}');
  assert.equal(runtime.runUntilIdle(2), 2);
  assert.throws(() => runtime.advanceTime(1e19), (e) => e.kind === 'InvalidInput' && /clock stops at/.test(e.message));
  const before = runtime.nowMs();
  runtime.advanceTime(1000);
  assert.equal(runtime.nowMs(), before + 1000);
  runtime.close();
});

test('activity results travel as text; a Promise, a close or a step from inside fails that activity', () => {
  const { runtime, client } = fresh();
  let returned;
  runtime.registerActivity('Hello', () => returned());
  const result = (id) => {
    client.startOrchestration(id, 'HelloWorld', 'Ada', { version: '1.0.0' });
    return client.waitForOrchestration(id, 1000);
  };
  returned = () => ({ greeting: 'hi', n: [1, 2] });
  assert.equal(result('object').output, '{"greeting":"hi","n":[1,2]}');
  returned = () => 42;
  assert.equal(result('number').output, '42');
  returned = () => Promise.resolve('late');
  assert.match(result('promise').error.message, /returned a Promise/);
  returned = () => { runtime.close(); return 'closed'; };
  assert.match(result('close').error.message, /close\(\) was called from inside a call of this runtime/);
  returned = () => { runtime.runUntilIdle(); return 'nested'; };
  assert.match(result('nested').error.message, /runUntilIdle\(\) was called from inside/);
  returned = () => 'fine';
  assert.equal(result('still-open').output, 'fine', 'the runtime works on after the refused close');
  runtime.close();
});

let passed = 0;
let failed = 0;
for (const { name, body } of tests) {
  try {
    await body();
    passed += 1;
    console.log(`ok   ${name}`);
  } catch (error) {
    failed += 1;
    console.log(`FAIL ${name}\n     ${(error && error.stack) || error}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
