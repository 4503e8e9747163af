// Scenarios of the duroxide-wasm package's Node-SDK API, run against the package
// installed from its tarball (tests/js-package/run.sh copies this file next to
// the installed node_modules/duroxide-wasm).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SqliteProvider, PostgresProvider, Client, Runtime, OrchestrationContext, runSimulation, faultKinds, createDuroxide } from 'duroxide-wasm';

const HOUR = 3600 * 1000;

// A background runtime on the real clock (as applications run it).
// The live runtimes not stopped yet: a test that fails before its stop() leaves its
// runtime polling, which would keep the process (and the suite) from ever ending.
const running = new Set();
after(async () => {
  for (const world of [...running]) await world.stop();
});

async function live(register, options = {}) {
  const provider = await SqliteProvider.open('sqlite::memory:');
  const runtime = new Runtime(provider, { dispatcherPollIntervalMs: 5, ...options });
  register(runtime);
  await runtime.start();
  const client = new Client(provider);
  const world = {
    provider, runtime, client,
    async run(id, name, input) {
      await client.startOrchestration(id, name, input);
      return client.waitForOrchestration(id, 10000);
    },
    async stop() {
      if (!running.delete(world)) return;
      await runtime.shutdown();
      provider.close();
    },
  };
  running.add(world);
  return world;
}

// A deterministic runtime: virtual clock, runUntilIdle, advanceTime.
async function stepped(register, options = {}) {
  const provider = await SqliteProvider.open('sqlite::memory:', { clock: 'virtual', startMs: 1_700_000_000_000 });
  const runtime = new Runtime(provider, options);
  register(runtime);
  const client = new Client(provider);
  return { provider, runtime, client };
}

const greet = (runtime) => runtime.registerActivity('Greet', async (ctx, name) => `Hello, ${name}!`);

test('hello world: one async activity, output parsed', async () => {
  const w = await live((rt) => {
    greet(rt);
    rt.registerOrchestration('Hello', function* (ctx, name) {
      return yield ctx.scheduleActivity('Greet', name);
    });
  });
  const status = await w.run('h1', 'Hello', 'World');
  assert.equal(status.status, 'Completed');
  assert.equal(status.output, 'Hello, World!');
  await w.stop();
});

test('JSON inputs and outputs round-trip as values', async () => {
  const w = await live((rt) => {
    rt.registerActivity('Echo', async (ctx, input) => ({ got: input, n: input.items.length }));
    rt.registerOrchestration('Json', function* (ctx, input) {
      const echoed = yield ctx.scheduleActivity('Echo', input);
      return { echoed, nothing: null, flag: true };
    });
  });
  const status = await w.run('j1', 'Json', { items: [1, 'two', { three: 3 }] });
  assert.deepEqual(status.output, { echoed: { got: { items: [1, 'two', { three: 3 }] }, n: 3 }, nothing: null, flag: true });
  await w.stop();
});

test('branches follow the input', async () => {
  const w = await live((rt) => {
    rt.registerActivity('Small', async () => 'small');
    rt.registerActivity('Large', async () => 'large');
    rt.registerOrchestration('Branch', function* (ctx, n) {
      if (n > 10) return yield ctx.scheduleActivity('Large', n);
      return yield ctx.scheduleActivity('Small', n);
    });
  });
  assert.equal((await w.run('b1', 'Branch', 3)).output, 'small');
  assert.equal((await w.run('b2', 'Branch', 30)).output, 'large');
  await w.stop();
});

test('loops: a chain of activities, each result feeding the next', async () => {
  const w = await live((rt) => {
    rt.registerActivity('Add', async (ctx, { a, b }) => a + b);
    rt.registerOrchestration('Sum', function* (ctx, n) {
      let total = 0;
      for (let i = 1; i <= n; i++) total = yield ctx.scheduleActivity('Add', { a: total, b: i });
      return total;
    });
  });
  assert.equal((await w.run('l1', 'Sum', 10)).output, 55);
  await w.stop();
});

test('a failed activity is thrown into the generator and can be caught', async () => {
  const w = await live((rt) => {
    rt.registerActivity('Boom', async () => { throw new Error('disk full'); });
    rt.registerOrchestration('Catch', function* (ctx) {
      try {
        yield ctx.scheduleActivity('Boom', null);
        return 'not reached';
      } catch (error) {
        return `caught: ${error.message}`;
      }
    });
  });
  assert.equal((await w.run('c1', 'Catch')).output, 'caught: disk full');
  await w.stop();
});

test('a system failure is not thrown into the generator: an unregistered activity fails the instance', async () => {
  const s = await stepped((rt) => {
    rt.registerOrchestration('CatchAll', function* (ctx) {
      try {
        return yield ctx.scheduleActivity('Nowhere', null);  // registered on no runtime
      } catch (error) {
        return `caught: ${error.message}`;
      }
    });
  }, { maxAttempts: 2 });
  await s.client.startOrchestration('lost', 'CatchAll');
  await s.runtime.runUntilIdle();
  for (let i = 0; i < 10 && (await s.client.getStatus('lost')).status === 'Running'; i++) {
    await s.runtime.advanceTime(60_000);
    await s.runtime.runUntilIdle();
  }
  const status = await s.client.getStatus('lost');
  assert.equal(status.status, 'Failed');
  assert.match(status.error, /unregistered activity: Nowhere/);
});

test('an uncaught activity failure fails the instance with its message', async () => {
  const w = await live((rt) => {
    rt.registerActivity('Boom', async () => { throw new Error('disk full'); });
    rt.registerOrchestration('NoCatch', function* (ctx) {
      yield ctx.scheduleActivity('Boom', null);
    });
  });
  const status = await w.run('c2', 'NoCatch');
  assert.equal(status.status, 'Failed');
  assert.match(status.error, /disk full/);
  await w.stop();
});

test('an exception thrown by the generator fails the instance with its message', async () => {
  const w = await live((rt) => {
    greet(rt);
    rt.registerOrchestration('Throws', function* (ctx, name) {
      const greeting = yield ctx.scheduleActivity('Greet', name);
      throw new Error(`refusing ${greeting}`);
    });
    rt.registerOrchestration('ThrowsAtOnce', function* () {
      throw new TypeError('bad input');
    });
  });
  const late = await w.run('t1', 'Throws', 'Ada');
  assert.equal(late.status, 'Failed');
  assert.match(late.error, /refusing Hello, Ada!/);
  const early = await w.run('t2', 'ThrowsAtOnce');
  assert.equal(early.status, 'Failed');
  assert.match(early.error, /bad input/);
  await w.stop();
});

test('a durable timer on the real clock', async () => {
  const w = await live((rt) => {
    rt.registerOrchestration('Sleep', function* (ctx, ms) {
      const before = yield ctx.utcNow();
      yield ctx.scheduleTimer(ms);
      const after = yield ctx.utcNow();
      return after - before;
    });
  });
  const started = Date.now();
  const status = await w.run('tm1', 'Sleep', 40);
  assert.equal(status.status, 'Completed');
  assert.ok(status.output >= 40, `slept ${status.output} ms`);
  assert.ok(Date.now() - started >= 40);
  await w.stop();
});

test('a long timer on the virtual clock fires only when time moves', async () => {
  const s = await stepped((rt) => {
    rt.registerOrchestration('Wait', function* (ctx) {
      yield ctx.scheduleTimer(2 * HOUR);
      return 'woke';
    });
  });
  await s.client.startOrchestration('w1', 'Wait');
  await s.runtime.runUntilIdle();
  assert.equal((await s.client.getStatus('w1')).status, 'Running');
  await s.runtime.advanceTime(HOUR);
  assert.equal((await s.client.getStatus('w1')).status, 'Running');
  await s.runtime.advanceTime(HOUR);
  const status = await s.client.getStatus('w1');
  assert.equal(status.status, 'Completed');
  assert.equal(status.output, 'woke');
});

test('fan-out/fan-in with ctx.all keeps argument order', async () => {
  const w = await live((rt) => {
    rt.registerActivity('Square', async (ctx, n) => {
      await new Promise((resolve) => setTimeout(resolve, (5 - n) * 3));
      return n * n;
    });
    rt.registerOrchestration('FanOut', function* (ctx, n) {
      const tasks = [];
      for (let i = 1; i <= n; i++) tasks.push(ctx.scheduleActivity('Square', i));
      const results = yield ctx.all(tasks);
      return results.map((r) => r.ok);
    });
  });
  assert.deepEqual((await w.run('f1', 'FanOut', 5)).output, [1, 4, 9, 16, 25]);
  await w.stop();
});

test('ctx.all reports failures per task as {err}', async () => {
  const w = await live((rt) => {
    rt.registerActivity('MaybeFail', async (ctx, n) => {
      if (n === 2) throw new Error('two is bad');
      return n;
    });
    rt.registerOrchestration('Mixed', function* (ctx) {
      return yield ctx.all([1, 2, 3].map((n) => ctx.scheduleActivity('MaybeFail', n)));
    });
  });
  assert.deepEqual((await w.run('f2', 'Mixed')).output, [{ ok: 1 }, { err: 'two is bad' }, { ok: 3 }]);
  await w.stop();
});

test('ctx.race: an event beats a timer', async () => {
  const w = await live((rt) => {
    rt.registerOrchestration('Approval', function* (ctx) {
      const winner = yield ctx.race(ctx.scheduleTimer(HOUR), ctx.waitForEvent('approve'));
      return winner;
    });
  });
  await w.client.startOrchestration('r1', 'Approval');
  await new Promise((resolve) => setTimeout(resolve, 30));
  await w.client.raiseEvent('r1', 'approve', { by: 'ada' });
  const status = await w.client.waitForOrchestration('r1', 5000);
  assert.deepEqual(status.output, { index: 1, value: { by: 'ada' } });
  await w.stop();
});

test('ctx.race: the timer wins when no event comes (virtual clock)', async () => {
  const s = await stepped((rt) => {
    rt.registerOrchestration('Approval', function* (ctx) {
      const winner = yield ctx.race(ctx.scheduleTimer(HOUR), ctx.waitForEvent('approve'));
      return winner.index === 0 ? 'timed out' : 'approved';
    });
  });
  await s.client.startOrchestration('r2', 'Approval');
  await s.runtime.runUntilIdle();
  await s.runtime.advanceTime(HOUR);
  assert.equal((await s.client.getStatus('r2')).output, 'timed out');
});

test('a sub-orchestration returns its output to the parent', async () => {
  const w = await live((rt) => {
    greet(rt);
    rt.registerOrchestration('Child', function* (ctx, name) {
      return yield ctx.scheduleActivity('Greet', name);
    });
    rt.registerOrchestration('Parent', function* (ctx, names) {
      const out = [];
      for (const name of names) out.push(yield ctx.scheduleSubOrchestration('Child', name));
      return out;
    });
  });
  assert.deepEqual((await w.run('p1', 'Parent', ['a', 'b'])).output, ['Hello, a!', 'Hello, b!']);
  await w.stop();
});

test('a failing sub-orchestration is thrown into the parent', async () => {
  const w = await live((rt) => {
    rt.registerOrchestration('BadChild', function* () { throw new Error('child broke'); });
    rt.registerOrchestration('Parent', function* (ctx) {
      try {
        yield ctx.scheduleSubOrchestration('BadChild', null);
      } catch (error) {
        return `parent saw: ${error.message}`;
      }
    });
  });
  const status = await w.run('p2', 'Parent');
  assert.match(status.output, /parent saw: .*child broke/);
  await w.stop();
});

test('a sub-orchestration with an explicit id shows in the instance tree', async () => {
  const w = await live((rt) => {
    rt.registerOrchestration('Leaf', function* (ctx, n) { return n + 1; });
    rt.registerOrchestration('Root', function* (ctx) {
      return yield ctx.scheduleSubOrchestrationWithId('Leaf', 'root-1-leaf', 41);
    });
  });
  assert.equal((await w.run('root-1', 'Root')).output, 42);
  const child = await w.client.getStatus('root-1-leaf');
  assert.equal(child.output, 42);
  const tree = await w.client.getInstanceTree('root-1');
  assert.deepEqual(tree.allIds.sort(), ['root-1', 'root-1-leaf']);
  assert.equal(tree.size, 2);
  await w.stop();
});

test('a sub-orchestration that continues as new hands its final output to the parent', async () => {
  const w = await live((rt) => {
    rt.registerOrchestration('Countdown', function* (ctx, n) {
      if (n > 0) return yield ctx.continueAsNew(n - 1);
      return 'liftoff';
    });
    rt.registerOrchestration('Launch', function* (ctx) {
      return yield ctx.scheduleSubOrchestrationWithId('Countdown', 'launch-cd', 3);
    });
  });
  assert.equal((await w.run('launch', 'Launch')).output, 'liftoff');
  assert.equal((await w.client.listExecutions('launch-cd')).length, 4);
  await w.stop();
});

test('a versioned sub-orchestration runs the version asked for', async () => {
  const w = await live((rt) => {
    rt.registerOrchestrationVersioned('Calc', '1.0.0', function* (ctx, n) { return n * 10; });
    rt.registerOrchestrationVersioned('Calc', '2.0.0', function* (ctx, n) { return n * 20; });
    rt.registerOrchestration('UseCalc', function* (ctx) {
      const v1 = yield ctx.scheduleSubOrchestrationVersioned('Calc', '1.0.0', 2);
      const latest = yield ctx.scheduleSubOrchestration('Calc', 2);
      return [v1, latest];
    });
  });
  assert.deepEqual((await w.run('uc', 'UseCalc')).output, [20, 40]);
  await w.stop();
});

test('external events deliver their data', async () => {
  const w = await live((rt) => {
    rt.registerOrchestration('Signals', function* (ctx) {
      const first = yield ctx.waitForEvent('go');
      const second = yield ctx.waitForEvent('go');
      return [first, second];
    });
  });
  await w.client.startOrchestration('e1', 'Signals');
  await w.client.raiseEvent('e1', 'go', { step: 1 });
  await w.client.raiseEvent('e1', 'go', 'two');
  assert.deepEqual((await w.client.waitForOrchestration('e1', 5000)).output, [{ step: 1 }, 'two']);
  await w.stop();
});

test('an event raised before the orchestration waits is kept for it', async () => {
  const s = await stepped((rt) => {
    rt.registerOrchestration('LateWait', function* (ctx) {
      yield ctx.scheduleTimer(1000);
      return yield ctx.waitForEvent('data');
    });
  });
  await s.client.startOrchestration('e2', 'LateWait');
  await s.runtime.runUntilIdle();
  await s.client.raiseEvent('e2', 'data', 7);
  await s.runtime.runUntilIdle();
  await s.runtime.advanceTime(1000);
  assert.equal((await s.client.getStatus('e2')).output, 7);
});

test('event queues: dequeueEvent takes messages in FIFO order', async () => {
  const w = await live((rt) => {
    rt.registerOrchestration('Mailbox', function* (ctx, count) {
      const got = [];
      for (let i = 0; i < count; i++) got.push(yield ctx.dequeueEvent('inbox'));
      return got;
    });
  });
  await w.client.startOrchestration('q1', 'Mailbox', 3);
  for (const message of ['x', { y: 1 }, 3]) await w.client.enqueueEvent('q1', 'inbox', message);
  assert.deepEqual((await w.client.waitForOrchestration('q1', 5000)).output, ['x', { y: 1 }, 3]);
  await w.stop();
});

test('event queue messages survive continue-as-new', async () => {
  const s = await stepped((rt) => {
    rt.registerOrchestration('Accumulate', function* (ctx, state) {
      const message = yield ctx.dequeueEvent('work');
      const total = state.total + message;
      if (state.round + 1 < 3) return yield ctx.continueAsNew({ round: state.round + 1, total });
      return total;
    });
  });
  await s.client.startOrchestration('q2', 'Accumulate', { round: 0, total: 0 });
  await s.runtime.runUntilIdle();
  for (const n of [1, 10, 100]) await s.client.enqueueEvent('q2', 'work', n);
  await s.runtime.runUntilIdle();
  const status = await s.client.getStatus('q2');
  assert.equal(status.output, 111);
  assert.equal((await s.client.listExecutions('q2')).length, 3);
});

test('continue-as-new runs a fresh execution with the new input', async () => {
  const w = await live((rt) => {
    rt.registerOrchestration('Counter', function* (ctx, n) {
      if (n < 5) return yield ctx.continueAsNew(n + 1);
      return `reached ${n}`;
    });
  });
  assert.equal((await w.run('can1', 'Counter', 0)).output, 'reached 5');
  const executions = await w.client.listExecutions('can1');
  assert.deepEqual(executions, [1, 2, 3, 4, 5, 6]);
  const first = await w.client.getExecutionInfo('can1', 1);
  assert.equal(first.status, 'ContinuedAsNew');
  await w.stop();
});

test('continueAsNewVersioned moves an instance to a new version', async () => {
  const w = await live((rt) => {
    rt.registerOrchestrationVersioned('Upgrade', '1.0.0', function* (ctx) {
      return yield ctx.continueAsNewVersioned('from v1', '2.0.0');
    });
    rt.registerOrchestrationVersioned('Upgrade', '2.0.0', function* (ctx, input) {
      return `v2 got ${input}`;
    });
  });
  await w.client.startOrchestrationVersioned('up1', 'Upgrade', null, '1.0.0');
  const status = await w.client.waitForOrchestration('up1', 5000);
  assert.equal(status.output, 'v2 got from v1');
  assert.equal((await w.client.getInstanceInfo('up1')).orchestrationVersion, '2.0.0');
  await w.stop();
});

test('continueAsNew without a version takes the latest registered one (the SDK\'s upgrade path)', async () => {
  const s = await stepped((rt) => {
    rt.registerOrchestrationVersioned('Loop', '1.0.0', function* (ctx) { return yield ctx.continueAsNew({ round: 2 }); });
    rt.registerOrchestrationVersioned('Loop', '1.0.1', function* (ctx, input) { return `1.0.1 round ${input.round}`; });
  });
  await s.client.startOrchestrationVersioned('loop', 'Loop', null, '1.0.0');
  await s.runtime.runUntilIdle();
  const status = await s.client.getStatus('loop');
  assert.equal(status.output, '1.0.1 round 2');
  assert.equal((await s.client.getInstanceInfo('loop')).orchestrationVersion, '1.0.1');
});

test('all([]) is [] at once; race() of nothing fails the instance', async () => {
  const s = await stepped((rt) => {
    rt.registerOrchestration('NoneToJoin', function* (ctx) { return yield ctx.all([]); });
    rt.registerOrchestration('NoneToRace', function* (ctx) { return yield ctx.race(); });
  });
  await s.client.startOrchestration('j', 'NoneToJoin');
  await s.client.startOrchestration('r', 'NoneToRace');
  await s.runtime.runUntilIdle();
  const joined = await s.client.getStatus('j');
  assert.equal(joined.status, 'Completed', joined.error);
  assert.deepEqual(joined.output, []);
  const raced = await s.client.getStatus('r');
  assert.equal(raced.status, 'Failed');
  assert.match(raced.error, /race needs at least one task/);
});

test('the typed variants parse a string result once more, as the SDK does', async () => {
  const s = await stepped((rt) => {
    rt.registerActivity('Stringified', async (ctx, input) => JSON.stringify({ got: input }));
    rt.registerActivity('Plain', async () => 'not json');
    rt.registerOrchestration('Typed', function* (ctx) {
      const one = yield ctx.scheduleActivityTyped('Stringified', 1);
      const untyped = yield ctx.scheduleActivity('Stringified', 2);
      const plain = yield ctx.scheduleActivityTyped('Plain', null);
      const all = yield ctx.allTyped([ctx.scheduleActivity('Stringified', 3), ctx.scheduleActivity('Plain', null)]);
      const race = yield ctx.raceTyped(ctx.scheduleActivity('Stringified', 4));
      return { one, untyped, plain, all, race };
    });
  });
  await s.client.startOrchestration('t', 'Typed');
  await s.runtime.runUntilIdle();
  const status = await s.client.getStatus('t');
  assert.equal(status.status, 'Completed', status.error);
  assert.deepEqual(status.output, {
    one: { got: 1 },
    untyped: '{"got":2}',
    plain: 'not json',
    all: [{ ok: { got: 3 } }, { ok: 'not json' }],
    race: { index: 0, value: { got: 4 } },
  });
});

test('a timer of NaN, Infinity or nothing fails the instance instead of firing at once', async () => {
  const s = await stepped((rt) => {
    rt.registerOrchestration('BadTimer', function* (ctx, delay) { yield ctx.scheduleTimer(delay === 'inf' ? Infinity : undefined); });
  });
  await s.client.startOrchestration('b1', 'BadTimer', 'inf');
  await s.client.startOrchestration('b2', 'BadTimer', null);
  await s.runtime.runUntilIdle();
  for (const id of ['b1', 'b2']) {
    const status = await s.client.getStatus(id);
    assert.equal(status.status, 'Failed');
    assert.match(status.error, /scheduleTimer needs a delay in ms/);
  }
});

test('readExecutionHistory gives the SDK\'s events: eventId, timestampMs and data as JSON text', async () => {
  const s = await stepped((rt) => {
    rt.registerActivity('reverse', async (ctx, input) => ({ reversed: true, ...input }));
    rt.registerOrchestration('HistoryDataTest', function* (ctx, input) { return yield ctx.scheduleActivity('reverse', input); });
  });
  await s.client.startOrchestration('h', 'HistoryDataTest', { greeting: 'hello' });
  await s.runtime.runUntilIdle();
  const events = await s.client.readExecutionHistory('h', 1);
  assert.equal(events[0].kind, 'OrchestrationStarted');
  assert.equal(events[0].eventId, 1);
  assert.ok(events[0].timestampMs > 0);
  const data = (kind) => JSON.parse(events.find((e) => e.kind === kind).data);
  assert.equal(data('OrchestrationStarted').name, 'HistoryDataTest');
  assert.deepEqual(data('OrchestrationStarted').input, { greeting: 'hello' });
  assert.equal(data('ActivityScheduled').name, 'reverse');
  assert.deepEqual(data('ActivityCompleted'), { reversed: true, greeting: 'hello' });
  assert.equal(data('OrchestrationCompleted').reversed, true);
  assert.equal(events.find((e) => e.kind === 'ActivityCompleted').sourceEventId, 2);
  // An event's data is the SDK's {name, data}, not the engine's payload field.
  const w = await stepped((rt) => {
    rt.registerOrchestration('Waits', function* (ctx) { return yield ctx.waitForEvent('Go'); });
  });
  await w.client.startOrchestration('e', 'Waits');
  await w.runtime.runUntilIdle();
  await w.client.raiseEvent('e', 'Go', { fast: true });
  await w.runtime.runUntilIdle();
  const raised = (await w.client.readExecutionHistory('e', 1)).find((e) => e.kind === 'ExternalEvent');
  assert.deepEqual(JSON.parse(raised.data), { name: 'Go', data: { fast: true } });
});

test('PostgresProvider loads and rejects with kind Unsupported where it connects', async () => {
  await assert.rejects(PostgresProvider.connect('postgres://localhost/x'), (e) => e.kind === 'Unsupported');
  await assert.rejects(PostgresProvider.connectWithSchema('postgres://localhost/x', 's'), (e) => e.kind === 'Unsupported');
  await assert.rejects(PostgresProvider.connectWithEntra('h', 5432, 'd', 'u'), (e) => e.kind === 'Unsupported');
  await assert.rejects(PostgresProvider.connectWithSchemaAndEntra('h', 5432, 'd', 'u', 's'), (e) => e.kind === 'Unsupported');
});

test('new Runtime refuses a bad concurrency or poll interval with kind InvalidInput, and takes null options', async () => {
  const provider = await SqliteProvider.open('sqlite::memory:');
  for (const options of [{ workerConcurrency: 0 }, { workerConcurrency: 'x' }, { dispatcherPollIntervalMs: -1 },
    { dispatcherPollIntervalMs: 'fast' }]) {
    assert.throws(() => new Runtime(provider, options), (e) => e.kind === 'InvalidInput', JSON.stringify(options));
  }
  const runtime = new Runtime(provider, null);
  await runtime.shutdown(100);
  provider.close();
});

test('cancelInstance fails a waiting instance with the reason', async () => {
  const w = await live((rt) => {
    rt.registerOrchestration('Forever', function* (ctx) { yield ctx.waitForEvent('never'); });
  });
  await w.client.startOrchestration('x1', 'Forever');
  await new Promise((resolve) => setTimeout(resolve, 20));
  await w.client.cancelInstance('x1', 'operator said so');
  const status = await w.client.waitForOrchestration('x1', 5000);
  assert.equal(status.status, 'Failed');
  assert.match(status.error, /canceled: operator said so/);
  await w.stop();
});

test('an activity that loses a race sees isCancelled() turn true', async () => {
  let sawCancel = false;
  let release;
  const finished = new Promise((resolve) => { release = resolve; });
  const w = await live((rt) => {
    rt.registerActivity('Slow', async (ctx) => {
      for (let i = 0; i < 200 && !ctx.isCancelled(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
      sawCancel = ctx.isCancelled();
      release();
      return 'slow done';
    });
    rt.registerOrchestration('RaceSlow', function* (ctx) {
      const winner = yield ctx.race(ctx.scheduleActivity('Slow', null), ctx.scheduleTimer(30));
      return winner.index;
    });
  }, { workerLockTimeoutMs: 200 });
  assert.equal((await w.run('rc1', 'RaceSlow')).output, 1);
  await finished;
  assert.equal(sawCancel, true);
  await w.stop();
});

test('scheduleActivityWithRetry retries a flaky activity with backoff', async () => {
  let calls = 0;
  const s = await stepped((rt) => {
    rt.registerActivity('Flaky', async () => {
      calls += 1;
      if (calls < 3) throw new Error(`attempt ${calls} failed`);
      return `ok after ${calls - 1} failures`;
    });
    rt.registerOrchestration('Retry', function* (ctx) {
      return yield ctx.scheduleActivityWithRetry('Flaky', null, { maxAttempts: 5, backoff: 'fixed' });
    });
  });
  await s.client.startOrchestration('rt1', 'Retry');
  await s.runtime.runUntilIdle();
  for (let i = 0; i < 5 && (await s.client.getStatus('rt1')).status === 'Running'; i++) await s.runtime.advanceTime(1000);
  assert.equal((await s.client.getStatus('rt1')).output, 'ok after 2 failures');
  assert.equal(calls, 3);
});

test('a retry that runs out of attempts throws the last error', async () => {
  const s = await stepped((rt) => {
    rt.registerActivity('Down', async () => { throw new Error('service down'); });
    rt.registerOrchestration('GiveUp', function* (ctx) {
      try {
        yield ctx.scheduleActivityWithRetry('Down', null, { maxAttempts: 2, timeoutMs: 0, backoff: 'linear' });
      } catch (error) {
        return `gave up: ${error.message}`;
      }
    });
  });
  await s.client.startOrchestration('rt2', 'GiveUp');
  await s.runtime.runUntilIdle();
  for (let i = 0; i < 5; i++) await s.runtime.advanceTime(1000);
  assert.match((await s.client.getStatus('rt2')).output, /gave up: .*service down/);
});

test('a retry\'s totalTimeoutMs bounds all its attempts together', async () => {
  const s = await stepped((rt) => {
    rt.registerActivity('Slow', async () => 'never runs: no worker here takes its tag');
    rt.registerOrchestration('Bounded', function* (ctx) {
      try {
        return yield ctx.scheduleActivityWithRetry('Slow', null,
          { maxAttempts: 5, timeoutMs: 1000, totalTimeoutMs: 2500, backoff: 'fixed' }).withTag('elsewhere');
      } catch (error) {
        return error.message;
      }
    });
  });
  await s.client.startOrchestration('tt', 'Bounded');
  await s.runtime.runUntilIdle();
  for (let i = 0; i < 10 && (await s.client.getStatus('tt')).status === 'Running'; i++) await s.runtime.advanceTime(500);
  // Attempt 1 times out at 1 s, the backoff ends at 2 s, and attempt 2 has 0.5 s of the total left.
  assert.match((await s.client.getStatus('tt')).output, /total timeout of 2500 ms passed \(attempt 2 of 5\)/);
});

test('versioned orchestrations: new starts take the latest, pinned starts their version', async () => {
  const w = await live((rt) => {
    rt.registerOrchestration('Greeter', function* () { return 'v1'; });
    rt.registerOrchestrationVersioned('Greeter', '1.1.0', function* () { return 'v1.1'; });
  });
  assert.equal((await w.run('v-latest', 'Greeter')).output, 'v1.1');
  await w.client.startOrchestrationVersioned('v-pinned', 'Greeter', null, '1.0.0');
  assert.equal((await w.client.waitForOrchestration('v-pinned', 5000)).output, 'v1');
  await w.stop();
});

test('custom status is visible to clients and waitForStatusChange sees it move', async () => {
  const w = await live((rt) => {
    rt.registerOrchestration('Progress', function* (ctx) {
      ctx.setCustomStatus('step 1');
      yield ctx.waitForEvent('next');
      ctx.setCustomStatus(JSON.stringify({ step: 2 }));
      yield ctx.waitForEvent('next');
      return ctx.getCustomStatus();
    });
  });
  await w.client.startOrchestration('cs1', 'Progress');
  const first = await w.client.waitForStatusChange('cs1', 0, 10, 5000);
  assert.equal(first.customStatus, 'step 1');
  await w.client.raiseEvent('cs1', 'next', null);
  const second = await w.client.waitForStatusChange('cs1', first.customStatusVersion, 10, 5000);
  assert.equal(second.customStatus, '{"step":2}');
  await w.client.raiseEvent('cs1', 'next', null);
  assert.equal((await w.client.waitForOrchestration('cs1', 5000)).output, '{"step":2}');
  await w.stop();
});

test('resetCustomStatus clears it; getCustomStatus reads it back within the code', async () => {
  const w = await live((rt) => {
    rt.registerOrchestration('Reset', function* (ctx) {
      ctx.setCustomStatus('busy');
      const during = ctx.getCustomStatus();
      yield ctx.scheduleTimer(1);
      ctx.resetCustomStatus();
      return [during, ctx.getCustomStatus()];
    });
  });
  const status = await w.run('cs2', 'Reset');
  assert.deepEqual(status.output, ['busy', null]);
  assert.equal(status.customStatus, undefined);
  await w.stop();
});

test('startOrchestration from a generator starts a detached instance', async () => {
  const w = await live((rt) => {
    rt.registerOrchestration('Worker', function* (ctx, job) { return `did ${job}`; });
    rt.registerOrchestration('Dispatcher', function* (ctx) {
      yield ctx.startOrchestration('Worker', 'job-7', 'job 7');
      return 'dispatched';
    });
  });
  assert.equal((await w.run('disp', 'Dispatcher')).output, 'dispatched');
  assert.equal((await w.client.waitForOrchestration('job-7', 5000)).output, 'did job 7');
  const info = await w.client.getInstanceInfo('job-7');
  assert.equal(info.parentInstanceId, undefined);
  // The SDK's name for the event that records a detached start.
  const kinds = (await w.client.readExecutionHistory('disp', 1)).map((e) => e.kind);
  assert.ok(kinds.includes('OrchestrationChained'), kinds.join());
  await w.stop();
});

test('newGuid and utcNow are stable across replays', async () => {
  const w = await live((rt) => {
    rt.registerOrchestration('Stable', function* (ctx) {
      const guid = yield ctx.newGuid();
      const now = yield ctx.utcNow();
      yield ctx.scheduleTimer(5);
      const again = yield ctx.waitForEvent('check');
      return { guid, now, again };
    });
  });
  await w.client.startOrchestration('g1', 'Stable');
  await new Promise((resolve) => setTimeout(resolve, 50));
  const before = await w.client.readExecutionHistory('g1', 1);
  await w.client.raiseEvent('g1', 'check', 1);
  const status = await w.client.waitForOrchestration('g1', 5000);
  assert.equal(typeof status.output.guid, 'string');
  assert.ok(status.output.guid.length >= 16);
  assert.equal(typeof status.output.now, 'number');
  const after = await w.client.readExecutionHistory('g1', 1);
  assert.ok(after.length > before.length);
  await w.stop();
});

test('isReplaying is false the first time code runs and true on replay', async () => {
  const seen = [];
  const s = await stepped((rt) => {
    rt.registerOrchestration('Replay', function* (ctx) {
      seen.push(ctx.isReplaying);
      yield ctx.waitForEvent('go');
      seen.push(ctx.isReplaying);
      return 'done';
    });
  });
  await s.client.startOrchestration('ir', 'Replay');
  await s.runtime.runUntilIdle();
  await s.client.raiseEvent('ir', 'go', null);
  await s.runtime.runUntilIdle();
  assert.deepEqual(seen, [false, true, false]);
});

test('trace calls reach the runtime logger once per real execution', async () => {
  const lines = [];
  const s = await stepped((rt) => {
    rt.registerActivity('Note', async (ctx) => { ctx.traceInfo('from activity'); return 1; });
    rt.registerOrchestration('Traced', function* (ctx) {
      ctx.traceInfo('start');
      yield ctx.scheduleActivity('Note', null);
      ctx.traceWarn('after');
      return 1;
    });
  }, { logger: (entry) => lines.push(entry.message) });
  await s.client.startOrchestration('tr', 'Traced');
  await s.runtime.runUntilIdle();
  assert.deepEqual(lines.filter((l) => l === 'start'), ['start']);
  assert.ok(lines.includes('after'));
  assert.ok(lines.includes('from activity'));
});

test('the logger gets each trace at its own level, and a logger that throws stops nothing', async () => {
  const entries = [];
  const s = await stepped((rt) => {
    rt.registerOrchestration('Levels', function* (ctx) {
      ctx.traceInfo('i');
      ctx.traceWarn('w');
      ctx.traceError('e');
      ctx.traceDebug('d');
      return 1;
    });
  }, { logger: (entry) => entries.push(entry) });
  await s.client.startOrchestration('lv', 'Levels');
  await s.runtime.runUntilIdle();
  const levels = Object.fromEntries(entries.filter((e) => e.kind === 'log').map((e) => [e.message, e.level]));
  assert.deepEqual(levels, { i: 'info', w: 'warn', e: 'error', d: 'debug' });

  let calls = 0;
  const w = await live((rt) => {
    greet(rt);
    rt.registerOrchestration('Hello', function* (ctx, name) {
      ctx.traceInfo('tracing');
      return yield ctx.scheduleActivity('Greet', name);
    });
  }, { logger: () => { calls += 1; throw new Error('logger broke'); } });
  assert.equal((await w.run('lb', 'Hello', 'Ada')).output, 'Hello, Ada!');
  assert.ok(calls >= 1);
  await w.stop();
});

test('runUntilIdle settles when a turn cancels an activity that waits for isCancelled()', async () => {
  let sawCancel = false;
  const s = await stepped((rt) => {
    rt.registerActivity('Long', async (ctx) => {
      for (let i = 0; i < 500 && !ctx.isCancelled(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
      sawCancel = ctx.isCancelled();
      return 'long done';
    });
    rt.registerOrchestration('Stoppable', function* (ctx) {
      const winner = yield ctx.race(ctx.scheduleActivity('Long', null), ctx.waitForEvent('stop'));
      return winner.index;
    });
  });
  await s.client.startOrchestration('st', 'Stoppable');
  const raised = new Promise((resolve) => setTimeout(() => resolve(s.client.raiseEvent('st', 'stop', null)), 30));
  const idle = s.runtime.runUntilIdle();
  await raised;
  const settled = await Promise.race([idle.then(() => true), new Promise((resolve) => setTimeout(() => resolve(false), 2000))]);
  assert.equal(settled, true);
  assert.equal(sawCancel, true);
  assert.equal((await s.client.getStatus('st')).output, 1);
});

test('KV: set, get, list, count, clear within the orchestration, stable on replay', async () => {
  const s = await stepped((rt) => {
    rt.registerOrchestration('Kv', function* (ctx) {
      ctx.setValue('b', 'two');
      ctx.setValue('a', 'one');
      const first = { a: ctx.getValue('a'), keys: ctx.getKvAllKeys(), length: ctx.getKvLength() };
      yield ctx.waitForEvent('next');  // the next turn replays the sets from history
      const replayed = ctx.getKvAllValues();
      ctx.clearValue('a');
      const afterClear = { a: ctx.getValue('a'), length: ctx.getKvLength() };
      ctx.clearAllValues();
      return { first, replayed, afterClear, empty: ctx.getKvLength(), missing: ctx.getValue('nope') };
    });
  });
  await s.client.startOrchestration('kv1', 'Kv');
  await s.runtime.runUntilIdle();
  await s.client.raiseEvent('kv1', 'next', null);
  await s.runtime.runUntilIdle();
  assert.deepEqual((await s.client.getStatus('kv1')).output, {
    first: { a: 'one', keys: ['a', 'b'], length: 2 },
    replayed: { a: 'one', b: 'two' },
    afterClear: { a: null, length: 1 },
    empty: 0,
    missing: null,
  });
});

test('KV: values survive continue-as-new', async () => {
  const s = await stepped((rt) => {
    rt.registerOrchestration('KvCounter', function* (ctx, n) {
      const seen = Number(ctx.getValue('count') ?? '0');
      ctx.setValue('count', String(seen + 1));
      if (n < 3) return yield ctx.continueAsNew(n + 1);
      return ctx.getKvAllValues();
    });
  });
  await s.client.startOrchestration('kv2', 'KvCounter', 0);
  await s.runtime.runUntilIdle();
  assert.deepEqual((await s.client.getStatus('kv2')).output, { count: '4' });
});

test('KV: a value over the limit fails the instance with a message naming it', async () => {
  const s = await stepped((rt) => {
    rt.registerOrchestration('KvTooBig', function* (ctx) { ctx.setValue('big', 'x'.repeat(70000)); return 1; });
  });
  await s.client.startOrchestration('kv3', 'KvTooBig');
  await s.runtime.runUntilIdle();
  const status = await s.client.getStatus('kv3');
  assert.equal(status.status, 'Failed');
  assert.match(status.error, /big|bytes|limit/i);
});

// Client reads and getValueFromInstance need the store's key-value table.
async function storeHasKv() {
  const provider = await SqliteProvider.open('sqlite::memory:');
  try {
    await new Client(provider).getValue('nobody', 'k');
    return true;
  } catch (error) {
    if (/no key-value store/.test(error.message)) return false;
    throw error;
  } finally {
    provider.close();
  }
}
const kvStoreTodo = (await storeHasKv()) ? false : 'the SQLite store has no key-value table in this build';

test('KV: clients read committed values (getValue, getKvAllValues, waitForValue)', { todo: kvStoreTodo }, async () => {
  const s = await stepped((rt) => {
    rt.registerOrchestration('KvPublish', function* (ctx) {
      ctx.setValue('stage', 'started');
      yield ctx.waitForEvent('go');
      ctx.setValue('stage', 'done');
      ctx.setValue('extra', 'x');
      return 1;
    });
  });
  await s.client.startOrchestration('kv4', 'KvPublish');
  await s.runtime.runUntilIdle();
  assert.equal(await s.client.getValue('kv4', 'stage'), 'started');
  assert.equal(await s.client.getValue('kv4', 'nope'), null);
  await s.client.raiseEvent('kv4', 'go', null);
  await s.runtime.runUntilIdle();
  assert.deepEqual(await s.client.getKvAllValues('kv4'), { extra: 'x', stage: 'done' });
  assert.equal(await s.client.waitForValue('kv4', 'extra', 1000), 'x');
  const stats = await s.client.getOrchestrationStats('kv4');
  assert.equal(stats.kvUserKeyCount, 2);
  assert.equal(stats.kvTotalValueBytes, 'done'.length + 'x'.length);
});

test('KV: getValueFromInstance reads another instance durably', { todo: kvStoreTodo }, async () => {
  const s = await stepped((rt) => {
    rt.registerOrchestration('Holder', function* (ctx) {
      ctx.setValue('color', 'blue');
      ctx.setValue('wide', '\u0001'.repeat(65536));  // at the value limit, six times that as JSON
      yield ctx.waitForEvent('end');
    });
    rt.registerOrchestration('Reader', function* (ctx) {
      const color = yield ctx.getValueFromInstance('holder', 'color');
      const none = yield ctx.getValueFromInstance('holder', 'size');
      const wide = yield ctx.getValueFromInstance('holder', 'wide');
      return [color, none, wide === '\u0001'.repeat(65536)];
    });
  });
  await s.client.startOrchestration('holder', 'Holder');
  await s.runtime.runUntilIdle();
  await s.client.startOrchestration('reader', 'Reader');
  await s.runtime.runUntilIdle();
  const status = await s.client.getStatus('reader');
  assert.equal(status.status, 'Completed', status.error);
  assert.deepEqual(status.output, ['blue', null, true]);
});

test('an activity starts an orchestration through getClient()', async () => {
  const w = await live((rt) => {
    rt.registerOrchestration('Spawned', function* (ctx, n) { return n * 2; });
    rt.registerActivity('Spawn', async (ctx, id) => {
      await ctx.getClient().startOrchestration(id, 'Spawned', 21);
      return ctx.instanceId;
    });
    rt.registerOrchestration('Spawner', function* (ctx) {
      return yield ctx.scheduleActivity('Spawn', 'spawned-1');
    });
  });
  assert.equal((await w.run('spawner', 'Spawner')).output, 'spawner');
  assert.equal((await w.client.waitForOrchestration('spawned-1', 5000)).output, 42);
  await w.stop();
});

test('a code change that reorders durable calls is reported as nondeterminism', async () => {
  const provider = await SqliteProvider.open('sqlite::memory:', { clock: 'virtual' });
  const client = new Client(provider);
  const v1 = new Runtime(provider);
  v1.registerActivity('A', async () => 'a');
  v1.registerActivity('B', async () => 'b');
  v1.registerOrchestration('Flow', function* (ctx) {
    yield ctx.scheduleActivity('A', 1);
    yield ctx.waitForEvent('go');
    return 'v1';
  });
  await client.startOrchestration('nd', 'Flow');
  await v1.runUntilIdle();
  const v2 = new Runtime(provider);
  v2.registerActivity('A', async () => 'a');
  v2.registerActivity('B', async () => 'b');
  v2.registerOrchestration('Flow', function* (ctx) {
    yield ctx.scheduleActivity('B', 1);
    yield ctx.waitForEvent('go');
    return 'v2';
  });
  await client.raiseEvent('nd', 'go', null);
  await v2.runUntilIdle();
  const status = await client.getStatus('nd');
  assert.equal(status.status, 'Failed');
  assert.match(status.error, /nondeterministic/);
  assert.match(status.error, /A/);
  assert.match(status.error, /B/);
});

test('yielding something that is not a task fails the instance clearly', async () => {
  const w = await live((rt) => {
    rt.registerOrchestration('BadYield', function* () { yield Promise.resolve(1); });
  });
  const status = await w.run('by', 'BadYield');
  assert.equal(status.status, 'Failed');
  assert.match(status.error, /may only yield ctx task descriptors.*Promise/);
  await w.stop();
});

test('activity tags: withTag routes to the runtime whose workerTagFilter takes it; ctx.tag() tells', async () => {
  const registerBoth = (rt) => {
    rt.registerActivity('Render', async (ctx, frame) => `${frame} on ${ctx.tag()}`);
    rt.registerActivity('Plain', async (ctx) => ctx.tag());
    rt.registerOrchestration('Frames', function* (ctx, frame) {
      const plain = yield ctx.scheduleActivity('Plain', null);
      const retried = yield ctx.scheduleActivityWithRetry('Render', `${frame}-r`, { maxAttempts: 2 }).withTag('gpu');
      const rendered = yield ctx.scheduleActivity('Render', frame).withTag('gpu');
      return { plain, retried, rendered };
    });
  };
  const s = await stepped(registerBoth);
  await s.client.startOrchestration('f1', 'Frames', 'frame-1');
  await s.runtime.runUntilIdle();
  // The default runtime ran the untagged activity; the tagged one waits, visibly.
  assert.equal((await s.client.getStatus('f1')).status, 'Running');
  assert.equal((await s.client.getQueueDepths()).workerQueue, 1);
  const gpu = new Runtime(s.provider, { workerTagFilter: { tags: ['gpu'] } });
  registerBoth(gpu);
  await gpu.runUntilIdle();
  await s.runtime.runUntilIdle();
  const status = await s.client.getStatus('f1');
  assert.equal(status.status, 'Completed');
  assert.deepEqual(status.output, { plain: null, retried: 'frame-1-r on gpu', rendered: 'frame-1 on gpu' });

  assert.throws(() => new Runtime(s.provider, { workerTagFilter: { tags: ['a', 'b', 'c', 'd', 'e', 'f'] } }),
    /workerTagFilter: a tag filter names 6 tags, over the limit of 5/);
  assert.throws(() => new Runtime(s.provider, { workerTagFilter: 'gpu' }), /workerTagFilter must be/);
  const ctx = new OrchestrationContext({ instanceId: 'x', executionId: 1, orchestrationName: 'X' });
  assert.throws(() => ctx.scheduleActivity('Render', 1).withTag(''), TypeError);
  s.provider.close();
});

test('activity sessions: each activity sees its ctx.sessionId; a retry keeps it on every attempt; others see null', async () => {
  const seen = [];
  const w = await live((rt) => {
    rt.registerActivity('Where', async (ctx, step) => ({ step, session: ctx.sessionId }));
    rt.registerActivity('Flaky', async (ctx) => {
      seen.push({ attempt: seen.length + 1, session: ctx.sessionId });
      if (seen.length < 2) throw new Error('first attempt fails');
      return ctx.sessionId;
    });
    rt.registerOrchestration('Cart', function* (ctx) {
      const onSession = yield ctx.scheduleActivityOnSession('Where', 1, 'cart-7');
      const typed = yield ctx.scheduleActivityOnSessionTyped('Where', 2, 'cart-7');
      const viaOption = yield ctx.scheduleActivity('Where', 3, { sessionId: 'cart-7' });
      const fanned = yield ctx.all([
        ctx.scheduleActivityOnSession('Where', 4, 'cart-7'),
        ctx.scheduleActivityOnSession('Where', 5, 'cart-8'),
        ctx.scheduleActivity('Where', 6),
      ]);
      const retried = yield ctx.scheduleActivityWithRetryOnSession('Flaky', null, { maxAttempts: 3, backoff: 'none' }, 'cart-7');
      const plain = yield ctx.scheduleActivity('Where', 7);
      const emptyOption = yield ctx.scheduleActivity('Where', 8, { sessionId: '' });
      return { onSession, typed, viaOption, fanned: fanned.map((r) => r.ok), retried, plain, emptyOption };
    });
  });
  const status = await w.run('cart', 'Cart');
  assert.equal(status.status, 'Completed', status.error);
  assert.deepEqual(status.output, {
    onSession: { step: 1, session: 'cart-7' },
    typed: { step: 2, session: 'cart-7' },
    viaOption: { step: 3, session: 'cart-7' },
    fanned: [{ step: 4, session: 'cart-7' }, { step: 5, session: 'cart-8' }, { step: 6, session: null }],
    retried: 'cart-7',
    plain: { step: 7, session: null },
    emptyOption: { step: 8, session: null },
  });
  assert.deepEqual(seen, [{ attempt: 1, session: 'cart-7' }, { attempt: 2, session: 'cart-7' }]);
  // The session is part of the scheduling event: the history shows it.
  const scheduled = (await w.client.readExecutionHistory('cart', 1)).filter((event) => event.kind === 'ActivityScheduled');
  assert.equal(scheduled.find((event) => event.input === '5').session_id, 'cart-8');
  assert.equal(scheduled.find((event) => event.input === '6').session_id, undefined);
  await w.stop();
});

test('activity sessions: the owner runs its session\'s activities while it renews; another runtime takes over once the lock passes', async () => {
  const register = (label) => (rt) => {
    rt.registerActivity('Where', async (ctx) => `${label}:${ctx.sessionId}`);
    rt.registerOrchestration('Affine', function* (ctx) {
      const ran = [];
      for (let i = 0; i < 3; i++) {
        ran.push(yield ctx.scheduleActivityOnSession('Where', i, 'sticky'));
        if (i < 2) yield ctx.waitForEvent('go');
      }
      return ran;
    });
  };
  const s = await stepped(register('A'), { workerNodeId: 'pod-a' });
  const b = new Runtime(s.provider, { workerNodeId: 'pod-b' });
  register('B')(b);
  await s.client.startOrchestration('af', 'Affine');
  await s.runtime.runUntilIdle();                 // pod-a claims "sticky" and runs activity 0
  await s.provider.advanceTime(26_000);
  await s.runtime.runUntilIdle();                 // pod-a renews the session's lock (30 s, every 25 s)
  await s.provider.advanceTime(10_000);           // past the first lock; the renewed one holds
  await s.client.raiseEvent('af', 'go', null);
  await b.runUntilIdle();                         // pod-b runs the turn but not the session's activity
  assert.equal((await s.client.getStatus('af')).status, 'Running');
  assert.equal((await s.client.getQueueDepths()).workerQueue, 1);
  await s.runtime.runUntilIdle();                 // pod-a runs activity 1
  await s.provider.advanceTime(31_000);           // pod-a stops renewing: its lock passes
  await s.client.raiseEvent('af', 'go', null);
  await b.runUntilIdle();                         // pod-b claims the session and runs activity 2
  const status = await s.client.getStatus('af');
  assert.equal(status.status, 'Completed', status.error);
  assert.deepEqual(status.output, ['A:sticky', 'A:sticky', 'B:sticky']);
  s.provider.close();
});

test('activity sessions: maxSessionsPerRuntime bounds the sessions running at once, not other activities', async () => {
  const run = async (options) => {
    let sessions = 0;
    let most = 0;
    let plainAlongside = false;
    const s = await stepped((rt) => {
      rt.registerActivity('Hold', async (ctx, n) => {
        if (ctx.sessionId === null) {
          plainAlongside = sessions > 0;
          return n;
        }
        sessions += 1;
        most = Math.max(most, sessions);
        await new Promise((resolve) => setTimeout(resolve, 5));
        sessions -= 1;
        return n;
      });
      rt.registerOrchestration('Two', function* (ctx) {
        const results = yield ctx.all([
          ctx.scheduleActivityOnSession('Hold', 1, 's1'),
          ctx.scheduleActivityOnSession('Hold', 2, 's2'),
          ctx.scheduleActivity('Hold', 3),
        ]);
        return results.map((r) => r.ok);
      });
    }, options);
    await s.client.startOrchestration('two', 'Two');
    await s.runtime.runUntilIdle();
    const status = await s.client.getStatus('two');
    s.provider.close();
    assert.equal(status.status, 'Completed', status.error);
    assert.deepEqual(status.output, [1, 2, 3]);
    return { most, plainAlongside };
  };
  assert.deepEqual(await run({ maxSessionsPerRuntime: 1 }), { most: 1, plainAlongside: true });
  assert.deepEqual(await run({}), { most: 2, plainAlongside: true });
});

test('activity sessions: an invalid session id fails the orchestration naming the limit; bad ids and options are refused', async () => {
  const s = await stepped((rt) => {
    rt.registerActivity('Work', async () => 1);
    rt.registerOrchestration('LongId', function* (ctx) {
      return yield ctx.scheduleActivityOnSession('Work', null, 's'.repeat(300));
    });
  });
  await s.client.startOrchestration('long', 'LongId');
  await s.runtime.runUntilIdle();
  const status = await s.client.getStatus('long');
  assert.equal(status.status, 'Failed');
  assert.match(status.error, /session id is 300 bytes, over the limit of 256/);

  const ctx = new OrchestrationContext({ instanceId: 'x', executionId: 1, orchestrationName: 'X' });
  assert.throws(() => ctx.scheduleActivityOnSession('Work', 1, ''), TypeError);
  assert.throws(() => ctx.scheduleActivityWithRetryOnSession('Work', 1, { maxAttempts: 2 }, 7), TypeError);
  assert.throws(() => ctx.scheduleActivity('Work', 1, { sessionId: 7 }), TypeError);

  const refused = (options, pattern) => assert.throws(() => new Runtime(s.provider, options),
    (error) => error.kind === 'InvalidInput' && pattern.test(error.message));
  refused({ maxSessionsPerRuntime: 0 }, /RuntimeOptions::max_sessions_per_runtime must be 1 to 10000/);
  refused({ maxSessionsPerRuntime: 10_001 }, /RuntimeOptions::max_sessions_per_runtime must be 1 to 10000/);
  refused({ maxSessionsPerRuntime: 2 ** 32 + 1 }, /RuntimeOptions::max_sessions_per_runtime must be 1 to 10000/);
  refused({ maxSessionsPerRuntime: 2.5 }, /maxSessionsPerRuntime must be an integer/);
  refused({ sessionIdleTimeoutMs: 0 }, /RuntimeOptions::session_idle_timeout_ms must be 1 to/);
  refused({ workerNodeId: 'n'.repeat(257) }, /RuntimeOptions::worker_node_id: it is 257 bytes, over the limit of 256/);
  refused({ workerNodeId: 7 }, /workerNodeId must be a string/);
  const accepted = new Runtime(s.provider, { maxSessionsPerRuntime: 5, sessionIdleTimeoutMs: 60_000, workerNodeId: 'pod-1' });
  assert.ok(accepted instanceof Runtime);
  s.provider.close();
});

test('activity sessions in runSimulation: a simulated activity sees its session, or null', async () => {
  const result = await runSimulation({
    seed: 3,
    faults: [],
    setup(rt) {
      rt.registerActivity('Where', (ctx, n) => `${ctx.sessionId}:${n}`);
      rt.registerOrchestration('Both', function* (ctx, n) {
        const inSession = yield ctx.scheduleActivityOnSession('Where', n, 'sess');
        const outside = yield ctx.scheduleActivity('Where', n);
        return `${inSession}|${outside}`;
      });
    },
    workload(client, sim) {
      sim.at(1);
      client.startOrchestration('b1', 'Both', 5);
    },
    check: (end) => (end.output === 'sess:5|null:5' ? [] : [`got ${end.output}`]),
  });
  assert.equal(result.ok, true, JSON.stringify(result.violations));
  assert.equal(result.completed, 1);
});

test('runSimulation: a simulated activity context names the orchestration and version that scheduled it', async () => {
  const result = await runSimulation({
    seed: 5,
    faults: [],
    setup(rt) {
      rt.registerActivity('Who', (ctx) => `${ctx.orchestrationName} ${ctx.orchestrationVersion} ${ctx.instanceId}`);
      rt.registerOrchestrationVersioned('Asker', '1.2.0', function* (ctx) { return yield ctx.scheduleActivity('Who', null); });
    },
    workload(client, sim) {
      sim.at(1);
      client.startOrchestration('w1', 'Asker', null);
    },
    check: (end) => (end.output === 'Asker 1.2.0 w1' ? [] : [`got ${JSON.stringify(end.output)}`]),
  });
  assert.equal(result.ok, true, JSON.stringify(result.violations));
  assert.equal(result.completed, 1);
});

test('an activity context names the orchestration and version that scheduled it', async () => {
  const w = await live((rt) => {
    rt.registerActivity('Who', (ctx) => `${ctx.orchestrationName} ${ctx.orchestrationVersion} ${ctx.instanceId}`);
    rt.registerOrchestrationVersioned('Asker', '1.2.0', function* (ctx) { return yield ctx.scheduleActivity('Who', null); });
  });
  assert.equal((await w.run('who', 'Asker')).output, 'Asker 1.2.0 who');
  await w.stop();
});

test('async activities: a promise that waits on real I/O-like delays', async () => {
  const w = await live((rt) => {
    rt.registerActivity('Fetchish', async (ctx, ms) => {
      await new Promise((resolve) => setTimeout(resolve, ms));
      return { waited: ms, instance: ctx.instanceId, name: ctx.activityName };
    });
    rt.registerOrchestration('UsesFetch', function* (ctx) { return yield ctx.scheduleActivity('Fetchish', 25); });
  });
  assert.deepEqual((await w.run('af', 'UsesFetch')).output, { waited: 25, instance: 'af', name: 'Fetchish' });
  await w.stop();
});

test('async activities run concurrently up to workerConcurrency', async () => {
  let running = 0;
  let peak = 0;
  const w = await live((rt) => {
    rt.registerActivity('Wait', async () => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 60));
      running -= 1;
      return 1;
    });
    rt.registerOrchestration('Parallel', function* (ctx) {
      const results = yield ctx.all([1, 2, 3, 4].map((n) => ctx.scheduleActivity('Wait', n)));
      return results.length;
    });
  }, { workerConcurrency: 3 });
  assert.equal((await w.run('par', 'Parallel')).output, 4);
  assert.equal(peak, 3);
  await w.stop();
});

test('shutdown and restart on a file database resume the instance', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'duroxide-wasm-'));
  const url = `sqlite:${path.join(dir, 'app.db')}`;
  const register = (rt) => {
    greet(rt);
    rt.registerOrchestration('Durable', function* (ctx, name) {
      const greeting = yield ctx.scheduleActivity('Greet', name);
      const reply = yield ctx.waitForEvent('reply');
      return `${greeting} ${reply}`;
    });
  };
  let provider = await SqliteProvider.open(url);
  let runtime = new Runtime(provider, { dispatcherPollIntervalMs: 5 });
  register(runtime);
  await runtime.start();
  let client = new Client(provider);
  await client.startOrchestration('dur-1', 'Durable', 'Ada');
  for (let i = 0; i < 200 && (await client.readExecutionHistory('dur-1', 1)).length < 4; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await runtime.shutdown();
  provider.close();
  assert.ok(existsSync(path.join(dir, 'app.db')));

  provider = await SqliteProvider.open(url);
  runtime = new Runtime(provider, { dispatcherPollIntervalMs: 5 });
  register(runtime);
  await runtime.start();
  client = new Client(provider);
  assert.equal((await client.getStatus('dur-1')).status, 'Running');
  await client.raiseEvent('dur-1', 'reply', 'welcome back');
  assert.equal((await client.waitForOrchestration('dur-1', 5000)).output, 'Hello, Ada! welcome back');
  await runtime.shutdown();
  provider.close();
  rmSync(dir, { recursive: true, force: true });
});

test('an in-memory database saved as bytes continues in a new provider', async () => {
  const s = await stepped((rt) => {
    rt.registerOrchestration('Pause', function* (ctx) { return yield ctx.waitForEvent('resume'); });
  });
  await s.client.startOrchestration('bytes-1', 'Pause');
  await s.runtime.runUntilIdle();
  const bytes = s.provider.toBytes();
  assert.ok(bytes.length > 0);
  const provider = await SqliteProvider.fromBytes(bytes, { clock: 'virtual' });
  const runtime = new Runtime(provider);
  runtime.registerOrchestration('Pause', function* (ctx) { return yield ctx.waitForEvent('resume'); });
  const client = new Client(provider);
  await client.raiseEvent('bytes-1', 'resume', 'restored');
  await runtime.runUntilIdle();
  assert.equal((await client.getStatus('bytes-1')).output, 'restored');
});

test('management reads: instance info, executions, history, stats, metrics, queues', async () => {
  const w = await live((rt) => {
    greet(rt);
    rt.registerOrchestration('Hello', function* (ctx, name) { return yield ctx.scheduleActivity('Greet', name); });
    rt.registerOrchestration('Fails', function* () { throw new Error('no'); });
  });
  await w.run('m1', 'Hello', 'a');
  await w.run('m2', 'Fails');
  const info = await w.client.getInstanceInfo('m1');
  assert.equal(info.orchestrationName, 'Hello');
  assert.equal(info.orchestrationVersion, '1.0.0');
  assert.equal(info.status, 'Completed');
  assert.equal(info.output, 'Hello, a!');
  assert.deepEqual(await w.client.listExecutions('m1'), [1]);
  const history = await w.client.readExecutionHistory('m1', 1);
  assert.ok(history.length >= 4);
  const stats = await w.client.getOrchestrationStats('m1');
  assert.equal(stats.historyEventCount, history.length);
  assert.equal(await w.client.getOrchestrationStats('nope'), null);
  const metrics = await w.client.getSystemMetrics();
  assert.equal(metrics.totalInstances, 2);
  assert.equal(metrics.completedInstances, 1);
  assert.equal(metrics.failedInstances, 1);
  const depths = await w.client.getQueueDepths();
  assert.deepEqual(Object.keys(depths).sort(), ['orchestratorQueue', 'timerQueue', 'workerQueue']);
  assert.deepEqual((await w.client.listAllInstances()).sort(), ['m1', 'm2']);
  assert.deepEqual(await w.client.listInstancesByStatus('Failed'), ['m2']);
  const snapshot = w.runtime.metricsSnapshot();
  assert.equal(snapshot.orchCompletions, 1);
  assert.equal(snapshot.orchFailures, 1);
  assert.equal(snapshot.activitySuccess, 1);
  // The SDK's fields, every one a count.
  for (const key of ['orchStarts', 'orchCompletions', 'orchFailures', 'orchApplicationErrors', 'orchInfrastructureErrors',
    'orchConfigurationErrors', 'orchPoison', 'activitySuccess', 'activityAppErrors', 'activityInfraErrors',
    'activityConfigErrors', 'activityPoison', 'orchDispatcherItemsFetched', 'workerDispatcherItemsFetched',
    'orchContinueAsNew', 'suborchestrationCalls', 'providerErrors']) {
    assert.equal(typeof snapshot[key], 'number', key);
  }
  assert.equal(snapshot.orchApplicationErrors, 1);
  assert.ok(snapshot.orchDispatcherItemsFetched >= 3);  // two starts and a completion at least
  assert.equal(snapshot.workerDispatcherItemsFetched, snapshot.activitySuccess + snapshot.activityAppErrors);
  await w.stop();
});

test('getOrchestrationStats counts messages no wait has taken, across continue-as-new, until consumed', async () => {
  const s = await stepped((rt) => {
    rt.registerOrchestration('Backlog', function* (ctx, phase) {
      if (phase === 'first') {
        yield ctx.waitForEvent('start');
        return yield ctx.continueAsNew('second');
      }
      yield ctx.waitForEvent('take');
      const message = yield ctx.dequeueEvent('inbox');
      yield ctx.waitForEvent('more');
      const note = yield ctx.waitForEvent('note');
      yield ctx.waitForEvent('end');
      return [message, note];
    });
  });
  const stats = () => s.client.getOrchestrationStats('bl');
  const step = async (event) => { await s.client.raiseEvent('bl', event, null); await s.runtime.runUntilIdle(); };
  await s.client.startOrchestration('bl', 'Backlog', 'first');
  await s.runtime.runUntilIdle();
  await s.client.enqueueEvent('bl', 'inbox', 'm1');
  await s.client.raiseEvent('bl', 'note', 'n');
  assert.deepEqual([(await stats()).queuePendingCount, (await stats()).carryForwardCount], [2, 0]);
  await s.runtime.runUntilIdle();
  assert.deepEqual([(await stats()).queuePendingCount, (await stats()).carryForwardCount], [0, 2]);
  await step('start');
  assert.equal((await s.client.getInstanceInfo('bl')).currentExecutionId, 2);
  assert.equal((await stats()).carryForwardCount, 2, 'carried into the new execution');
  await step('take');
  assert.equal((await stats()).carryForwardCount, 1, 'the queue message is taken');
  await step('more');
  assert.equal((await stats()).carryForwardCount, 0, 'the note is taken');
  await step('end');
  assert.deepEqual((await s.client.getStatus('bl')).output, ['m1', 'n']);
  assert.equal((await stats()).carryForwardCount, 0);
  assert.equal(await s.client.getOrchestrationStats('nobody'), null);
});

// How many history events these executions of `id` hold, read back one by one.
async function eventsOf(client, id, executions) {
  let total = 0;
  for (const execution of executions) total += (await client.readExecutionHistory(id, execution)).length;
  return total;
}

test('deleteInstance and pruneExecutions remove what they say', async () => {
  const w = await live((rt) => {
    rt.registerOrchestration('Counter', function* (ctx, n) {
      if (n < 3) return yield ctx.continueAsNew(n + 1);
      return n;
    });
  });
  await w.run('pr', 'Counter', 0);
  assert.equal((await w.client.listExecutions('pr')).length, 4);
  const prEvents = await eventsOf(w.client, 'pr', [1, 2, 3]);
  assert.ok(prEvents >= 6, 'each execution has its start and its end');
  const pruned = await w.client.pruneExecutions('pr', { keepLast: 1 });
  assert.deepEqual(pruned, { instancesProcessed: 1, executionsDeleted: 3, eventsDeleted: prEvents });
  assert.deepEqual(await w.client.listExecutions('pr'), [4]);
  await w.run('pr2', 'Counter', 1);
  await w.run('pr3', 'Counter', 2);
  const bulkEvents = await eventsOf(w.client, 'pr2', [1, 2]) + await eventsOf(w.client, 'pr3', [1]);
  const bulk = await w.client.pruneExecutionsBulk({}, { keepLast: 1 });
  assert.deepEqual(bulk, { instancesProcessed: 3, executionsDeleted: 3, eventsDeleted: bulkEvents }, '2 of pr2, 1 of pr3');
  const named = await w.client.pruneExecutionsBulk({ instanceIds: ['pr2', 'ghost'] }, { keepLast: 1 });
  assert.deepEqual(named, { instancesProcessed: 1, executionsDeleted: 0, eventsDeleted: 0 });
  const deleted = await w.client.deleteInstance('pr');
  assert.equal(deleted.instancesDeleted, 1);
  assert.equal((await w.client.getStatus('pr')).status, 'NotFound');
  await w.stop();
});

test('pruneExecutions with completedBefore removes only executions finished before it', async () => {
  const s = await stepped((rt) => {
    rt.registerOrchestration('Hourly', function* (ctx, n) {
      if (n === 2) return n;
      yield ctx.scheduleTimer(HOUR);
      return yield ctx.continueAsNew(n + 1);
    });
  });
  const start = s.provider.nowMs();
  await s.client.startOrchestration('pt', 'Hourly', 0);
  await s.runtime.runUntilIdle();
  await s.runtime.advanceTime(HOUR);  // execution 1 ends
  await s.runtime.advanceTime(HOUR);  // execution 2 ends, 3 completes at once
  assert.equal((await s.client.getStatus('pt')).status, 'Completed');
  assert.deepEqual(await s.client.listExecutions('pt'), [1, 2, 3]);
  // The SDK's 0 is the epoch: nothing finished before it, on every path, and the
  // instance is still looked up.
  const epoch = await s.client.pruneExecutions('pt', { completedBefore: 0 });
  assert.equal(epoch.executionsDeleted, 0, 'nothing finished before the epoch');
  const epochBulk = await s.client.pruneExecutionsBulk({}, { completedBefore: 0 });
  assert.deepEqual(epochBulk, { instancesProcessed: 1, executionsDeleted: 0, eventsDeleted: 0 });
  assert.equal((await s.client.deleteInstanceBulk({ completedBefore: 0 })).instancesDeleted, 0);
  await assert.rejects(s.client.pruneExecutions('missing', { completedBefore: 0 }), /does not exist/);
  const firstEvents = await eventsOf(s.client, 'pt', [1]);
  const first = await s.client.pruneExecutions('pt', { keepLast: 1, completedBefore: start + 1.5 * HOUR });
  assert.deepEqual(first, { instancesProcessed: 1, executionsDeleted: 1, eventsDeleted: firstEvents });
  assert.deepEqual(await s.client.listExecutions('pt'), [2, 3]);
  const restEvents = await eventsOf(s.client, 'pt', [2]);
  const rest = await s.client.pruneExecutionsBulk({ instanceIds: ['pt'] }, { completedBefore: s.provider.nowMs() + 1 });
  assert.deepEqual(rest, { instancesProcessed: 1, executionsDeleted: 1, eventsDeleted: restEvents });
  assert.deepEqual(await s.client.listExecutions('pt'), [3]);
});

test('pruneExecutionsBulk with the filter\'s completedBefore prunes only instances that finished before it', async () => {
  const s = await stepped((rt) => {
    rt.registerOrchestration('Hourly', function* (ctx, n) {
      if (n === 2) return n;
      yield ctx.scheduleTimer(HOUR);
      return yield ctx.continueAsNew(n + 1);
    });
    rt.registerOrchestration('Forever', function* (ctx, n) {
      yield ctx.scheduleTimer(HOUR);
      return yield ctx.continueAsNew(n + 1);
    });
  });
  await s.client.startOrchestration('done', 'Hourly', 0);
  await s.client.startOrchestration('loop', 'Forever', 0);
  await s.runtime.runUntilIdle();
  await s.runtime.advanceTime(HOUR);
  await s.runtime.advanceTime(HOUR);  // 'done' completes in its third execution; 'loop' runs its third
  const finishedAt = s.provider.nowMs();
  await s.runtime.advanceTime(HOUR);  // 'loop' in its fourth
  assert.equal((await s.client.getStatus('done')).status, 'Completed');
  assert.equal((await s.client.getStatus('loop')).status, 'Running');
  // Before 'done' finished: nothing, whether named or walked.
  const early = { completedBefore: finishedAt - 1 };
  assert.deepEqual(await s.client.pruneExecutionsBulk(early, { keepLast: 1 }), { instancesProcessed: 0, executionsDeleted: 0, eventsDeleted: 0 });
  assert.deepEqual(await s.client.pruneExecutionsBulk({ ...early, instanceIds: ['done', 'loop', 'ghost'] }, { keepLast: 1 }),
    { instancesProcessed: 0, executionsDeleted: 0, eventsDeleted: 0 });
  assert.deepEqual(await s.client.listExecutions('done'), [1, 2, 3]);
  // After it: only the finished instance, never the running loop.
  const namedEvents = await eventsOf(s.client, 'done', [1]);
  const named = await s.client.pruneExecutionsBulk({ instanceIds: ['loop', 'done'], completedBefore: finishedAt + 1 }, { keepLast: 2 });
  assert.deepEqual(named, { instancesProcessed: 1, executionsDeleted: 1, eventsDeleted: namedEvents });
  const walkedEvents = await eventsOf(s.client, 'done', [2]);
  const walked = await s.client.pruneExecutionsBulk({ completedBefore: s.provider.nowMs() }, { keepLast: 1 });
  assert.deepEqual(walked, { instancesProcessed: 1, executionsDeleted: 1, eventsDeleted: walkedEvents });
  assert.deepEqual(await s.client.listExecutions('done'), [3]);
  assert.deepEqual(await s.client.listExecutions('loop'), [1, 2, 3, 4]);
});

test('getQueueDepths counts each queued item once: a timer is in timerQueue until due, then in orchestratorQueue', async () => {
  const s = await stepped((rt) => rt.registerOrchestration('Sleeps', function* (ctx) {
    yield ctx.scheduleTimer(HOUR);
    return 'woke';
  }));
  await s.client.startOrchestration('sleeper', 'Sleeps');
  await s.runtime.runUntilIdle();
  assert.deepEqual(await s.client.getQueueDepths(), { orchestratorQueue: 0, workerQueue: 0, timerQueue: 1 });
  s.provider.advanceTime(HOUR);
  assert.deepEqual(await s.client.getQueueDepths(), { orchestratorQueue: 1, workerQueue: 0, timerQueue: 0 });
  await s.runtime.runUntilIdle();
  assert.equal((await s.client.getStatus('sleeper')).output, 'woke');
  assert.deepEqual(await s.client.getQueueDepths(), { orchestratorQueue: 0, workerQueue: 0, timerQueue: 0 });
});

test('deleteInstanceBulk deletes finished roots (by id, age and limit) and never a running one', async () => {
  const s = await stepped((rt) => {
    rt.registerOrchestration('Done', function* () { return 1; });
    rt.registerOrchestration('Waits', function* (ctx) { yield ctx.waitForEvent('go'); });
  });
  for (const id of ['d1', 'd2', 'd3']) await s.client.startOrchestration(id, 'Done');
  await s.client.startOrchestration('w1', 'Waits');
  await s.runtime.runUntilIdle();
  const none = await s.client.deleteInstanceBulk({ instanceIds: [] });
  assert.equal(none.instancesDeleted, 0);
  // Named and aged: both conditions hold, or nothing goes.
  const namedButRecent = await s.client.deleteInstanceBulk({ instanceIds: ['d1', 'd2'], completedBefore: s.provider.nowMs() - HOUR });
  assert.equal(namedButRecent.instancesDeleted, 0, 'd1 and d2 finished less than an hour ago');
  assert.equal((await s.client.deleteInstanceBulk({ instanceIds: ['d1'], completedBefore: 0 })).instancesDeleted, 0);
  assert.equal((await s.client.getStatus('d1')).status, 'Completed');
  const byId = await s.client.deleteInstanceBulk({ instanceIds: ['d1', 'w1'] });
  assert.equal(byId.instancesDeleted, 1);
  assert.equal((await s.client.getStatus('w1')).status, 'Running');
  const old = await s.client.deleteInstanceBulk({ completedBefore: s.provider.nowMs() - HOUR });
  assert.equal(old.instancesDeleted, 0, 'nothing finished an hour ago');
  const one = await s.client.deleteInstanceBulk({ limit: 1 });
  assert.equal(one.instancesDeleted, 1);
  const rest = await s.client.deleteInstanceBulk({ limit: 200000 });  // over one call's most: sent as calls of it
  assert.equal(rest.instancesDeleted, 1);
  assert.deepEqual(await s.client.listAllInstances(), ['w1']);
  // Without a limit every match goes, past one call's batch of 1,000.
  for (let i = 0; i < 1001; i++) await s.client.startOrchestration(`many-${i}`, 'Done');
  await s.runtime.runUntilIdle();
  assert.equal((await s.client.deleteInstanceBulk()).instancesDeleted, 1001);
  assert.deepEqual(await s.client.listAllInstances(), ['w1']);
  // Listed ids: any number (1,000 a call), every listed one, past one call's limit of instances;
  // with a limit, no more than it.
  const listed = [];
  for (let i = 0; i < 1001; i++) {
    listed.push(`named-${i}`);
    await s.client.startOrchestration(`named-${i}`, 'Done');
  }
  await s.runtime.runUntilIdle();
  assert.equal((await s.client.deleteInstanceBulk({ instanceIds: [...listed.slice(0, 10), 'w1'], limit: 4 })).instancesDeleted, 4);
  assert.equal((await s.client.deleteInstanceBulk({ instanceIds: ['w1', ...listed] })).instancesDeleted, 997);
  assert.deepEqual(await s.client.listAllInstances(), ['w1']);
});

test('client errors carry the engine message and kind', async () => {
  const w = await live((rt) => {
    rt.registerOrchestration('Once', function* () { return 1; });
  });
  await w.run('dup', 'Once');
  await assert.rejects(w.client.startOrchestration('dup', 'Once'), (error) => error.kind === 'AlreadyExists');
  await assert.rejects(w.client.raiseEvent('missing', 'e', 1), (error) => error.kind === 'NotFound');
  await assert.rejects(w.client.getInstanceInfo('missing'), (error) => error.kind === 'NotFound');
  await w.stop();
});

test('waitForOrchestration gives up after its timeout with kind Timeout', async () => {
  const w = await live((rt) => {
    rt.registerOrchestration('Forever', function* (ctx) { yield ctx.waitForEvent('never'); });
  });
  await w.client.startOrchestration('to', 'Forever');
  await assert.rejects(w.client.waitForOrchestration('to', 50), (error) => error.kind === 'Timeout');
  await w.stop();
});

test('after shutdown nothing runs until a runtime starts again', async () => {
  const provider = await SqliteProvider.open('sqlite::memory:');
  const register = (rt) => rt.registerOrchestration('Quick', function* () { return 'ran'; });
  const runtime = new Runtime(provider, { dispatcherPollIntervalMs: 5 });
  register(runtime);
  await runtime.start();
  await runtime.shutdown();
  const client = new Client(provider);
  await client.startOrchestration('after', 'Quick');
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal((await client.getStatus('after')).status, 'NotFound');  // queued, never run
  assert.equal((await client.getQueueDepths()).orchestratorQueue, 1);
  const again = new Runtime(provider, { dispatcherPollIntervalMs: 5 });
  register(again);
  await again.start();
  assert.equal((await client.waitForOrchestration('after', 5000)).output, 'ran');
  await again.shutdown();
});

test('close() refuses while any runtime on the provider runs, not only the last one started', async () => {
  const provider = await SqliteProvider.open('sqlite::memory:');
  const first = new Runtime(provider, { dispatcherPollIntervalMs: 5, workerNodeId: 'first' });
  const second = new Runtime(provider, { dispatcherPollIntervalMs: 5, workerNodeId: 'second' });
  await first.start();
  await second.start();
  await second.shutdown();
  assert.throws(() => provider.close(), (error) => error.kind === 'InvalidInput');
  const stopping = first.shutdown();  // not awaited yet: still stopping
  assert.throws(() => provider.close(), (error) => error.kind === 'InvalidInput');
  await stopping;
  provider.close();
  assert.throws(() => new Client(provider), (error) => error.kind === 'InvalidInput');
});

test('shutdown leaves no timer behind once its running activities settle', async () => {
  let started;
  const running = new Promise((resolve) => { started = resolve; });
  const provider = await SqliteProvider.open('sqlite::memory:');
  const runtime = new Runtime(provider, { dispatcherPollIntervalMs: 5 });
  runtime.registerActivity('Brief', async () => { started(); await new Promise((resolve) => setTimeout(resolve, 20)); return 'done'; });
  runtime.registerOrchestration('OneBrief', function* (ctx) { return yield ctx.scheduleActivity('Brief', null); });
  await runtime.start();
  await new Client(provider).startOrchestration('brief', 'OneBrief');
  await running;
  // The timers of 10 s the shutdown sets (its wait for 'Brief', which takes 20 ms) that are
  // still set when it returns.
  const waits = new Set();
  let waited = 0;
  const { setTimeout: set, clearTimeout: clear } = globalThis;
  globalThis.setTimeout = (fn, ms, ...rest) => {
    const t = set(fn, ms, ...rest);
    if (ms === 10_000) { waits.add(t); waited += 1; }
    return t;
  };
  globalThis.clearTimeout = (t) => { waits.delete(t); return clear(t); };
  try {
    await runtime.shutdown(10_000);
  } finally {
    Object.assign(globalThis, { setTimeout: set, clearTimeout: clear });
  }
  assert.equal(waited, 1);  // it did wait for 'Brief'
  assert.equal(waits.size, 0);
  provider.close();
});

test("clients: an activity's getClient() is one client; a client no longer reachable frees its engine object", async () => {
  const seen = [];
  const w = await live((rt) => {
    rt.registerActivity('Remember', async (ctx) => { seen.push(ctx.getClient()); return seen.length; });
    rt.registerOrchestration('Twice', function* (ctx) {
      yield ctx.scheduleActivity('Remember', null);
      return yield ctx.scheduleActivity('Remember', null);
    });
  });
  assert.equal((await w.run('twice', 'Twice')).output, 2);
  assert.equal(seen.length, 2);
  assert.equal(seen[0], seen[1]);
  assert.equal((await seen[0].getStatus('twice')).status, 'Completed');
  const kept = w.provider._clients.size;  // the world's client and the activities' one
  // A client per request, dropped after use: once collected, its engine object is deleted.
  for (let i = 0; i < 200; i += 1) await new Client(w.provider).getStatus('twice');
  assert.equal(w.provider._clients.size, kept + 200);
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const collect = runInNewContext('gc');
  for (let round = 0; round < 50 && w.provider._clients.size > kept; round += 1) {
    collect();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(w.provider._clients.size, kept);
  assert.equal((await w.client.getStatus('twice')).status, 'Completed');
  await w.stop();
});

// A live runtime whose 'LongJob' runs one activity of `steps` x 50 ms; `seen` counts its
// runs and whether it ever saw itself cancelled.
async function longJob(steps, workerLockTimeoutMs, seen) {
  return live((rt) => {
    rt.registerActivity('Long', async (ctx) => {
      seen.runs += 1;
      for (let i = 0; i < steps; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        seen.cancelled ||= ctx.isCancelled();
      }
      return 'finished';
    });
    rt.registerOrchestration('LongJob', function* (ctx) { return yield ctx.scheduleActivity('Long', null); });
  }, { workerLockTimeoutMs });
}

test('a long async activity keeps its lock past the lock timeout (lease renewal)', async () => {
  const seen = { runs: 0, cancelled: false };
  const w = await longJob(12, 200, seen);
  assert.equal((await w.run('long', 'LongJob')).output, 'finished');
  assert.equal(seen.runs, 1);
  assert.equal(seen.cancelled, false);
  await w.stop();
});

test('a refused lease renewal is tried again soon, before the lock runs out', async () => {
  const seen = { runs: 0, cancelled: false };
  const w = await longJob(16, 400, seen);
  // The store refuses two renewals in a row (busy): waiting a whole renewal period after
  // each would outlast the 400 ms lock.
  const native = w.runtime._native;
  const renew = native.renewActivity.bind(native);
  let refused = 0;
  native.renewActivity = (token) => {
    if (refused < 2) {
      refused += 1;
      throw new Error('database is busy');
    }
    return renew(token);
  };
  assert.equal((await w.run('refused', 'LongJob')).output, 'finished');
  assert.equal(refused, 2);
  assert.equal(seen.runs, 1);
  assert.equal(seen.cancelled, false);
  await w.stop();
});

test('shutdown gives a running activity back; the next runtime runs it and nothing is doubled', async () => {
  const provider = await SqliteProvider.open('sqlite::memory:');
  const runs = [];
  const register = (rt, delayMs) => {
    rt.registerActivity('Work', async (ctx) => {
      runs.push(ctx.attempt);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      return `done after ${delayMs}`;
    });
    rt.registerOrchestration('Job', function* (ctx) { return yield ctx.scheduleActivity('Work', null); });
  };
  const first = new Runtime(provider, { dispatcherPollIntervalMs: 5 });
  register(first, 400);
  await first.start();
  const client = new Client(provider);
  await client.startOrchestration('job', 'Job');
  for (let i = 0; i < 400 && runs.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  await first.shutdown(20);  // the activity is still running: its item goes back to the queue
  const second = new Runtime(provider, { dispatcherPollIntervalMs: 5 });
  register(second, 1);
  await second.start();
  assert.equal((await client.waitForOrchestration('job', 5000)).output, 'done after 1');
  await new Promise((resolve) => setTimeout(resolve, 450));  // the first run settles: its result is dropped
  assert.equal(runs.length, 2);
  const history = await client.readExecutionHistory('job', 1);
  assert.equal(history.filter((event) => /ActivityCompleted/.test(event.kind)).length, 1);
  await second.shutdown();
});

test('an activity that throws synchronously fails like a rejected promise', async () => {
  const w = await live((rt) => {
    rt.registerActivity('SyncThrow', () => { throw new RangeError('sync boom'); });
    rt.registerActivity('Plain', (ctx, n) => n + 1);
    rt.registerOrchestration('Sync', function* (ctx) {
      const plain = yield ctx.scheduleActivity('Plain', 1);
      try {
        yield ctx.scheduleActivity('SyncThrow', null);
      } catch (error) {
        return [plain, error.message];
      }
    });
  });
  assert.deepEqual((await w.run('sy', 'Sync')).output, [2, 'sync boom']);
  await w.stop();
});

test('closing a provider stops its clients and runtimes with a clear error', async () => {
  const provider = await SqliteProvider.open('sqlite::memory:', { clock: 'virtual' });
  const client = new Client(provider);
  const runtime = new Runtime(provider);
  runtime.registerOrchestration('Once', function* () { return 1; });
  await client.startOrchestration('c1', 'Once');
  await runtime.runUntilIdle();
  provider.close();
  await assert.rejects(client.getStatus('c1'), /the provider is closed/);
  await assert.rejects(runtime.runUntilIdle(), /the runtime is closed/);
  assert.throws(() => provider.toBytes(), /the provider is closed/);
});

test('runUntilIdle refuses a started runtime; registration checks its arguments', async () => {
  const provider = await SqliteProvider.open('sqlite::memory:');
  const runtime = new Runtime(provider);
  assert.throws(() => runtime.registerOrchestration('NotAFunction', 42), TypeError);
  assert.throws(() => runtime.registerOrchestrationVersioned('V', 'one', function* () {}), /MAJOR.MINOR.PATCH/);
  assert.throws(() => runtime.registerActivity('', async () => 1), /activity name/);
  await runtime.start();
  await assert.rejects(runtime.runUntilIdle(), /not started/);
  await runtime.shutdown();
});

// A workload of JS orchestrations for the simulator: greetings, approvals (event or timeout), a mailbox.
function simulationSetup(runtime) {
  runtime.registerActivity('Greet', (ctx, name) => `Hello, ${name}!`);
  runtime.registerOrchestration('Hello', function* (ctx, name) {
    return yield ctx.scheduleActivity('Greet', name);
  });
  runtime.registerOrchestration('Approval', function* (ctx) {
    const winner = yield ctx.race(ctx.waitForEvent('approve'), ctx.scheduleTimer(60_000));
    return winner.index === 0 ? 'approved' : 'timed out';
  });
  runtime.registerOrchestration('Mailbox', function* (ctx, count) {
    const got = [];
    for (let i = 0; i < count; i++) got.push(yield ctx.dequeueEvent('inbox'));
    if (got.length < 3) return yield ctx.continueAsNew(count + 1);
    return got;
  });
}

function simulationWorkload(client, sim) {
  for (let i = 0; i < 4; i++) {
    sim.at(sim.randomInt(sim.steps / 2));
    client.startOrchestration(`hello-${i}`, 'Hello', `n${i}`);
  }
  sim.at(10);
  client.startOrchestration('approval', 'Approval', null);
  sim.at(200);
  client.raiseEvent('approval', 'approve', true);
  sim.at(20);
  client.startOrchestration('mailbox', 'Mailbox', 1);
  for (let i = 0; i < 6; i++) {
    sim.at(30 + 50 * i);
    client.enqueueEvent('mailbox', 'inbox', i);
  }
}

function simulationCheck(end) {
  if (end.status !== 'Completed') return [`${end.instanceId} ended ${end.status}: ${end.error}`];
  if (end.orchestration === 'Hello' && end.output !== `Hello, ${end.input}!`) return [`wrong greeting ${end.output}`];
  if (end.orchestration === 'Approval' && !['approved', 'timed out'].includes(end.output)) return ['bad approval'];
  if (end.orchestration === 'Mailbox' && end.output.length !== 3) return ['bad mailbox'];
  return [];
}

test('runSimulation: JS orchestrations under every fault kind keep every invariant, seed after seed', async () => {
  const kinds = faultKinds();
  assert.ok(kinds.includes('node-crash'), kinds.join(','));
  for (let seed = 1; seed <= 4; seed++) {
    const result = await runSimulation({ seed, steps: 800, faults: kinds, setup: simulationSetup, workload: simulationWorkload, check: simulationCheck });
    assert.equal(result.ok, true, JSON.stringify(result.violations));
    // Every instance ended. One whose rows the corruption fault hit may end Failed (the
    // simulator exempts a corrupted tree from the outcome check); the check holds the rest
    // to Completed with the right output.
    assert.equal(result.completed + result.failed, 6);
    assert.ok(result.trace.length > 0);
  }
});

test('runSimulation: the same seed gives the same trace hash; another seed another', async () => {
  const run = (seed) => runSimulation({ seed, steps: 600, setup: simulationSetup, workload: simulationWorkload, check: simulationCheck });
  const [a, b, c] = [await run(7), await run(7), await run(8)];
  assert.equal(a.hash, b.hash);
  assert.deepEqual(a.trace, b.trace);
  assert.notEqual(a.hash, c.hash);
});

test('runSimulation: a check that finds a problem is reported as a violation', async () => {
  const result = await runSimulation({
    seed: 3, steps: 400, setup: simulationSetup, workload: simulationWorkload,
    check: (end) => (end.instanceId === 'hello-0' ? ['hello-0 is never good enough'] : []),
  });
  assert.equal(result.ok, false);
  assert.ok(result.violations.some((v) => v.instance === 'hello-0' && /never good enough/.test(v.detail)));
});

test('runSimulation: an async activity is refused with a clear error', async () => {
  await assert.rejects(runSimulation({
    seed: 1, steps: 200,
    setup: (rt) => {
      rt.registerActivity('Later', async () => 1);
      rt.registerOrchestration('UsesLater', function* (ctx) { return yield ctx.scheduleActivity('Later', null); });
    },
    workload: (client) => { client.startOrchestration('later', 'UsesLater', null); },
  }), /returned a Promise: in runSimulation activities must return their result synchronously/);
});

// ---------------------------------------------------------------- the engine API's JS orchestrations

test('engine API: a generator orchestration beside the catalog, values as text', async () => {
  const dx = await createDuroxide();
  const runtime = new dx.Runtime({ startMs: 0 });
  const client = new dx.RuntimeClient(runtime);
  runtime.registerActivity('Shout', (input) => dx.encodeText(String(dx.decodeText(input)).toUpperCase()));
  runtime.registerOrchestration('Greeting', function* (ctx, input) {
    const shouted = yield ctx.scheduleActivity('Shout', input.name);
    const hello = yield ctx.scheduleSubOrchestration('HelloWorld', shouted);  // the catalog's
    return { hello, count: input.count + 1 };
  });
  client.startOrchestration('g', 'Greeting', '{"name":"ada","count":1}');
  runtime.runUntilIdle();
  const status = client.getStatus('g');
  assert.equal(status.status, 'Completed', status.error);
  // An object result is JSON; the strings inside went to the catalog as plain text.
  assert.deepEqual(JSON.parse(status.output), { hello: 'Hi, ADA!', count: 2 });
  runtime.close();
});

test('engine API: replacing a version\'s code reaches its running instances; a new version leaves them on the old', async () => {
  const dx = await createDuroxide();
  const runtime = new dx.Runtime({ startMs: 0 });
  const client = new dx.RuntimeClient(runtime);
  const waitThen = (suffix) => function* (ctx) { return `${yield ctx.waitForEvent('Go')}${suffix}`; };
  runtime.registerOrchestration('Waiter', waitThen(' v1'));
  client.startOrchestration('old', 'Waiter', '');
  runtime.runUntilIdle();
  runtime.registerOrchestrationVersioned('Waiter', '1.1.0', waitThen(' v1.1'));
  client.startOrchestration('new', 'Waiter', '');
  runtime.runUntilIdle();
  client.raiseEvent('old', 'Go', 'a');
  client.raiseEvent('new', 'Go', 'b');
  runtime.runUntilIdle();
  assert.equal(client.getStatus('old').output, 'a v1');
  assert.equal(client.getStatus('new').output, 'b v1.1');

  // Replacing 1.0.0 in place with code that waits for another event: its next turn
  // replays the old history and ends in a nondeterminism error naming both commands.
  client.startOrchestration('edited', 'Waiter', '', { version: '1.0.0' });
  runtime.runUntilIdle();
  runtime.registerOrchestration('Waiter', function* (ctx) { return yield ctx.waitForEvent('Stop'); });
  client.raiseEvent('edited', 'Go', 'c');
  runtime.runUntilIdle();
  const edited = client.getStatus('edited');
  assert.equal(edited.status, 'Failed');
  assert.equal(edited.error.kind, 'nondeterminism');
  assert.match(edited.error.message, /history has ExternalSubscribed\(name="Go"\); the orchestration issued ExternalSubscribed\(name="Stop"\)/);
  runtime.close();
});

test('engine API: a failure the generator does not catch ends the instance with that failure, as in C++', async () => {
  const dx = await createDuroxide();
  const runtime = new dx.Runtime({ startMs: 0 });
  const client = new dx.RuntimeClient(runtime);
  runtime.registerOrchestration('Uncaught', function* (ctx, error) { return yield ctx.scheduleActivity('Fail', error); });
  runtime.registerOrchestration('Rethrown', function* (ctx, error) {
    try {
      return yield ctx.scheduleActivity('Fail', error);
    } catch (failure) {
      throw new Error(`wrapped: ${failure.message}`);
    }
  });
  client.startOrchestration('u', 'Uncaught', 'disk full');
  client.startOrchestration('r', 'Rethrown', 'disk full');
  client.startOrchestration('c', 'Fails', 'disk full');  // the catalog's C++ twin of Uncaught
  runtime.runUntilIdle();
  assert.deepEqual(client.getStatus('u').error, client.getStatus('c').error);
  assert.equal(client.getStatus('u').error.kind, 'activity_failed');
  assert.equal(client.getStatus('r').error.kind, 'orchestration_failed');
  assert.equal(client.getStatus('r').error.message, 'wrapped: disk full');
  runtime.close();
});

// The engine API with the catalog's Chain run to its end: {dx, runtime, history}.
async function chainHistory() {
  const dx = await createDuroxide();
  const runtime = new dx.Runtime({ startMs: 0 });
  const client = new dx.RuntimeClient(runtime);
  client.startOrchestration('chain', 'Chain', '{"steps":3,"value":10}');
  runtime.runUntilIdle();
  assert.equal(client.getStatus('chain').output, '13');
  return { dx, runtime, history: new dx.ManagementClient(runtime).readExecution('chain') };
}

test('engine API: replayHistory against edited code reports deterministic or the first divergence', async () => {
  const { dx, runtime, history } = await chainHistory();

  // A port of the catalog's Chain (C++) that issues the same commands replays its history.
  function* chain(ctx, input) {
    let current = input.value;
    for (let i = 0; i < input.steps; i++) current = yield ctx.scheduleActivity('AddOne', current);
    return current;
  }
  const same = dx.replayHistory(history, { orchestrations: [{ name: 'Chain', fn: chain }] });
  assert.equal(same.deterministic, true, JSON.stringify(same.mismatch));

  // An edit that adds one to the input first diverges at the first activity.
  function* edited(ctx, input) { return yield* chain(ctx, { ...input, value: input.value + 1 }); }
  const changed = dx.replayHistory(history, { orchestrations: [{ name: 'Chain', fn: edited }] });
  assert.equal(changed.deterministic, false);
  assert.equal(changed.mismatch.event_index, 1);
  assert.equal(changed.mismatch.expected, 'ActivityScheduled(name="AddOne", input="10")');
  assert.equal(changed.mismatch.actual, 'ActivityScheduled(name="AddOne", input="11")');

  // The registered catalog code is untouched by either replay.
  assert.equal(dx.replayHistory(history).deterministic, true);
  assert.throws(() => dx.replayHistory(history, { orchestrations: [{ name: 'Chain' }] }), /needs a generator function/);
  assert.throws(() => dx.replayHistory(history, { orchestrations: [{ name: 'Chain', version: 'one', fn: chain }] }),
    (error) => error.kind === 'InvalidInput' && /version/.test(error.message));
  runtime.close();
});

test('engine API: a replay step lists the lines the code wrote up to its event', async () => {
  const { dx, runtime, history } = await chainHistory();
  function* chain(ctx, input) {
    let current = input.value;
    for (let i = 0; i < input.steps; i++) {
      ctx.traceInfo(`step ${i} from ${current}`);
      current = yield ctx.scheduleActivity('AddOne', current);
    }
    return current;
  }
  const report = dx.replayHistory(history, { orchestrations: [{ name: 'Chain', fn: chain }] });
  assert.equal(report.deterministic, true, JSON.stringify(report.mismatch));
  assert.equal(report.logs.length, 3);
  const lines = report.steps.map((step) => step.logs.map((line) => line.message));
  // Started, then each activity scheduled and completed, then the end: each line is listed from
  // the event the code had read when it wrote it.
  assert.deepEqual(lines, [
    ['step 0 from 10'],
    ['step 0 from 10'],
    ['step 0 from 10', 'step 1 from 11'],
    ['step 0 from 10', 'step 1 from 11'],
    ['step 0 from 10', 'step 1 from 11', 'step 2 from 12'],
    ['step 0 from 10', 'step 1 from 11', 'step 2 from 12'],
    ['step 0 from 10', 'step 1 from 11', 'step 2 from 12'],
    ['step 0 from 10', 'step 1 from 11', 'step 2 from 12'],
  ]);
  runtime.close();
});

test('engine API: simulateCode finds a planted bug, shrinkSimulation keeps what it needs, the final database opens', async () => {
  const dx = await createDuroxide();
  // The planted bug: the code assumes the approval always beats the timer.
  const orchestrations = [{ name: 'Expense', fn: function* (ctx, input) {
    const winner = yield ctx.race(ctx.waitForEvent('Approve'), ctx.scheduleTimer(60000));
    return winner.index === 0 ? `approved ${input.who}` : 'expired';
  } }];
  const workload = (client, sim) => {
    for (let i = 0; i < 3; i++) {
      sim.at(i * 20);
      client.startOrchestration(`e-${i}`, 'Expense', { who: `u${i}` });
      sim.at(i * 20 + 100);
      client.raiseEvent(`e-${i}`, 'Approve', 'ok');
    }
  };
  const check = (end) => (end.output === `approved u${end.instanceId.slice(-1)}` ? [] : [`${end.instanceId}: ${end.output}`]);
  const options = { orchestrations, workload, check, seed: 1, steps: 1000 };
  const { result, ops } = await dx.simulateCode(options);
  assert.equal(result.ok, false);
  assert.equal(result.violations[0].invariant, 'outcome');
  assert.equal(ops.length, 6);
  assert.deepEqual(ops[0], { kind: 'start', step: 0, instanceId: 'e-0', name: 'Expense', data: '{"who":"u0"}' });

  const shrunk = await dx.shrinkSimulation(options);
  assert.equal(shrunk.result.ok, false);
  assert.equal(shrunk.ops.filter((op) => op.kind === 'start').length, 1);
  assert.ok(shrunk.runs > 1 && shrunk.runs <= 200);
  // The shrunk case reruns alike from its options, operations included.
  const again = await dx.simulateCode({ ...shrunk.options, keepDatabase: true });
  assert.equal(again.result.hash, shrunk.result.hash);
  const world = new dx.Runtime({ database: again.result.database });
  const management = new dx.ManagementClient(world);
  assert.deepEqual(management.countByStatus(), { Completed: 1, Failed: 0, Running: 0 });
  world.close();

  const passing = await dx.shrinkSimulation({ ...options, check: () => [] });
  assert.equal(passing.result.ok, true);
  assert.equal(passing.runs, 1);
});

test('engine API: a runtime takes the tags its workerTagFilter names; an activity sees its tag', async () => {
  const dx = await createDuroxide();
  const register = (runtime) => {
    runtime.registerActivity('Where', (input, context) => dx.encodeText(context.tag || 'untagged'));
    runtime.registerOrchestration('Tagged', function* (ctx) {
      return yield ctx.scheduleActivity('Where', null).withTag('gpu');
    });
  };
  const byDefault = new dx.Runtime({ startMs: 0 });
  register(byDefault);
  new dx.RuntimeClient(byDefault).startOrchestration('t', 'Tagged', '');
  byDefault.runUntilIdle();
  assert.equal(new dx.RuntimeClient(byDefault).getStatus('t').status, 'Running');  // no worker takes "gpu"
  byDefault.close();

  const anyTag = new dx.Runtime({ startMs: 0, workerTagFilter: 'any' });
  register(anyTag);
  const client = new dx.RuntimeClient(anyTag);
  client.startOrchestration('t', 'Tagged', '');
  anyTag.runUntilIdle();
  const status = client.getStatus('t');
  assert.equal(status.status, 'Completed', status.error);
  assert.equal(dx.decodeText(status.output), 'gpu');
  anyTag.close();
  assert.throws(() => new dx.Runtime({ workerTagFilter: { tags: [] } }), /workerTagFilter: a tag filter of mode tags\(\) names at least one tag/);
});

test('engine API: pending work names an activity\'s session; an activity sees it; session options are checked', async () => {
  const dx = await createDuroxide();
  const register = (runtime) => {
    runtime.registerActivity('Where', (input, context) => dx.encodeText(context.sessionId || 'none'));
    runtime.registerOrchestration('OnSession', function* (ctx) {
      const inSession = yield ctx.scheduleActivityOnSession('Where', null, 'cart-7');
      const outside = yield ctx.scheduleActivity('Where', null);
      return `${inSession}/${outside}`;
    });
  };
  const idle = new dx.Runtime({ startMs: 0, workerTagFilter: 'none' });   // no worker: the activity stays pending
  register(idle);
  new dx.RuntimeClient(idle).startOrchestration('p', 'OnSession', '');
  idle.runUntilIdle();
  const pending = new dx.ManagementClient(idle).getInstanceDetails('p').pending;
  assert.deepEqual(pending.map((work) => [work.kind, work.name, work.session_id, work.tag]), [['activity', 'Where', 'cart-7', '']]);
  idle.close();

  const runtime = new dx.Runtime({ startMs: 0, workerNodeId: 'pod-1', maxSessionsPerRuntime: 2, sessionIdleTimeoutMs: 60_000 });
  register(runtime);
  const client = new dx.RuntimeClient(runtime);
  client.startOrchestration('r', 'OnSession', '');
  runtime.runUntilIdle();
  const status = client.getStatus('r');
  assert.equal(status.status, 'Completed', status.error);
  assert.equal(dx.decodeText(status.output), 'cart-7/none');
  runtime.close();
  assert.throws(() => new dx.Runtime({ maxSessionsPerRuntime: 0 }), /RuntimeOptions::max_sessions_per_runtime must be 1 to 10000/);
  assert.throws(() => new dx.Runtime({ workerNodeId: 'n'.repeat(257) }), /worker_node_id: it is 257 bytes, over the limit of 256/);
});
