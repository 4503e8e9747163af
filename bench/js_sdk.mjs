// The JavaScript SDK against the native step driver, in one node process:
//   node bench/js_sdk.mjs [build/wasm/package] [instances]
// Both run HelloWorld with one activity on an in-memory SQLite database in the same
// wasm module: the catalog's C++ HelloWorld 1.0.0 through the step driver
// (createDuroxide().Runtime, runUntilIdle), and a JS generator with one async JS
// activity through the SDK (Runtime.runUntilIdle on a virtual clock; and start(),
// the background loop on the real clock). Each side starts N instances and runs
// them to completion; the best of three rounds counts. Prints a JSON summary with
// the ratios (JS / native; the target is >= 0.5).
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = path.resolve(process.argv[2] ?? 'build/wasm/package');
const instances = Number(process.argv[3] ?? 500);
const sdk = await import(pathToFileURL(path.join(dir, 'index.mjs')).href);
const engine = await sdk.createDuroxide();

async function nativeRound() {
  const runtime = new engine.Runtime({ startMs: 1_700_000_000_000 });
  const client = new engine.RuntimeClient(runtime);
  const started = performance.now();
  for (let i = 0; i < instances; i++) client.startOrchestration(`n-${i}`, 'HelloWorld', 'Ada', { version: '1.0.0' });
  runtime.runUntilIdle();
  const elapsed = performance.now() - started;
  if (client.getStatus(`n-${instances - 1}`).status !== 'Completed') throw new Error('native run did not finish');
  runtime.close();
  return elapsed;
}

function register(runtime) {
  runtime.registerActivity('Hello', async (ctx, name) => `Hello, ${name}!`);
  runtime.registerOrchestration('HelloWorld', function* (ctx, name) {
    return yield ctx.scheduleActivity('Hello', name);
  });
}

async function jsSteppedRound() {
  const provider = await sdk.SqliteProvider.open('sqlite::memory:', { clock: 'virtual' });
  const runtime = new sdk.Runtime(provider);
  register(runtime);
  const client = new sdk.Client(provider);
  const started = performance.now();
  for (let i = 0; i < instances; i++) await client.startOrchestration(`j-${i}`, 'HelloWorld', 'Ada');
  await runtime.runUntilIdle();
  const elapsed = performance.now() - started;
  if ((await client.getStatus(`j-${instances - 1}`)).output !== 'Hello, Ada!') throw new Error('JS run did not finish');
  provider.close();
  return elapsed;
}

async function jsBackgroundRound() {
  const provider = await sdk.SqliteProvider.open('sqlite::memory:');
  const runtime = new sdk.Runtime(provider, { dispatcherPollIntervalMs: 1 });
  register(runtime);
  await runtime.start();
  const client = new sdk.Client(provider);
  const started = performance.now();
  for (let i = 0; i < instances; i++) await client.startOrchestration(`b-${i}`, 'HelloWorld', 'Ada');
  for (let i = 0; i < instances; i++) await client.waitForOrchestration(`b-${i}`, 60000);
  const elapsed = performance.now() - started;
  await runtime.shutdown();
  provider.close();
  return elapsed;
}

const best = { native: Infinity, jsStepped: Infinity, jsBackground: Infinity };
await nativeRound();  // warm-up: compile the hot paths of both sides first
await jsSteppedRound();
for (let round = 0; round < 3; round++) {
  best.native = Math.min(best.native, await nativeRound());
  best.jsStepped = Math.min(best.jsStepped, await jsSteppedRound());
  best.jsBackground = Math.min(best.jsBackground, await jsBackgroundRound());
}
const rate = (ms) => Math.round((instances / ms) * 1000);
const summary = {
  instances,
  native_step_driver_per_s: rate(best.native),
  js_sdk_run_until_idle_per_s: rate(best.jsStepped),
  js_sdk_background_per_s: rate(best.jsBackground),
  ratio_run_until_idle: Number((best.native / best.jsStepped).toFixed(2)),
  ratio_background: Number((best.native / best.jsBackground).toFixed(2)),
  target: 0.5,
};
console.log(JSON.stringify(summary, null, 2));
