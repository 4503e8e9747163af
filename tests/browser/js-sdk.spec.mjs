// The duroxide-wasm package in Chromium: a JS orchestration with an async activity
// (it fetches), a timer and a fan-out, run by the background runtime in the page
// and in a module Web Worker, from the same files node runs (served at /package/).
import { test, expect } from '@playwright/test';

// Runs in the browser (page or worker): returns what the orchestration returned.
async function scenario() {
  const { SqliteProvider, Client, Runtime } = await import(`${location.origin}/package/index.mjs`);
  const provider = await SqliteProvider.open('sqlite::memory:');
  const runtime = new Runtime(provider, { dispatcherPollIntervalMs: 5 });
  runtime.registerActivity('PackageName', async () => {
    const response = await fetch(`${location.origin}/package/package.json`);
    return (await response.json()).name;
  });
  runtime.registerActivity('Double', async (ctx, n) => n * 2);
  runtime.registerOrchestration('BrowserFlow', function* (ctx, input) {
    const name = yield ctx.scheduleActivity('PackageName', null);
    yield ctx.scheduleTimer(20);
    const doubled = yield ctx.all(input.map((n) => ctx.scheduleActivity('Double', n)));
    ctx.setCustomStatus('done');
    return { name, doubled: doubled.map((r) => r.ok) };
  });
  await runtime.start();
  const client = new Client(provider);
  await client.startOrchestration('browser-1', 'BrowserFlow', [1, 2, 3]);
  const status = await client.waitForOrchestration('browser-1', 20000);
  await runtime.shutdown();
  const bytes = provider.toBytes().length;
  provider.close();
  return { status: status.status, output: status.output, customStatus: status.customStatus, bytes };
}

const expected = { status: 'Completed', output: { name: 'duroxide-wasm', doubled: [2, 4, 6] }, customStatus: 'done' };

test('a JS orchestration runs in the page', async ({ page }) => {
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto('/package/package.json');
  const result = await page.evaluate(scenario);
  expect({ ...result, bytes: undefined }).toEqual({ ...expected, bytes: undefined });
  expect(result.bytes).toBeGreaterThan(0);
  expect(errors).toEqual([]);
});

test('a JS orchestration runs in a module Web Worker', async ({ page }) => {
  await page.goto('/package/package.json');
  const result = await page.evaluate(async (source) => {
    const code = `const scenario = ${source};\nscenario().then((r) => postMessage({ ok: true, r }), (e) => postMessage({ ok: false, e: String(e && e.stack || e) }));`;
    const worker = new Worker(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })), { type: 'module' });
    return new Promise((resolve) => { worker.onmessage = (event) => resolve(event.data); });
  }, scenario.toString());
  expect(result.ok, result.e).toBe(true);
  expect({ ...result.r, bytes: undefined }).toEqual({ ...expected, bytes: undefined });
});
