// The playground's flows, in headless Chromium. Screenshots go to
// build/test-logs/screenshots/ as artifacts.
import { test, expect } from '@playwright/test';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const shots = path.join(root, 'build/test-logs/screenshots');
mkdirSync(shots, { recursive: true });
const shot = (page, name) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });

async function open(page, hash = '') {
  const errors = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`/${hash}`);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 30_000 });
  await page.getByTestId('error').evaluate((node) => { node.hidden = true; });
  page.uncaughtErrors = errors;
  return page;
}

// Each test starts from an empty database: the page keeps one in IndexedDB.
test.beforeEach(async ({ page }) => {
  await open(page);
  await page.locator('#new-db').click();
  await expect(page.getByTestId('count-Completed')).toHaveText('Completed 0');
});

test.afterEach(async ({ page }) => {
  expect(page.uncaughtErrors ?? []).toEqual([]);
});

async function start(page, name, input, id) {
  await page.getByTestId('start-name').selectOption(name);
  if (input !== undefined) await page.getByTestId('start-input').fill(input);
  if (id) await page.getByTestId('start-id').fill(id);
  await page.getByTestId('start').click();
}

test('start a catalog orchestration and see its details and history views', async ({ page }) => {
  await start(page, 'FanOutFanIn', '["a","b"]', 'fan-1');
  await expect(page.getByTestId('details-id')).toHaveText('fan-1');
  await expect(page.getByTestId('details-status')).toHaveText('Completed');
  await expect(page.getByTestId('details-output')).toHaveText('["Hello, a!","Hello, b!"]');
  const compact = page.getByTestId('history-compact');
  await expect(compact).toContainText('ActivityScheduled(name="Hello", input="a") → ActivityCompleted(result="Hello, a!")');
  await page.getByTestId('view-timeline').click();
  await expect(page.getByTestId('gantt-bar')).toHaveCount(3);  // the execution and two activities
  await expect(page.getByTestId('history-timeline')).toContainText('activity Hello');
  await page.getByTestId('view-json').click();
  const json = JSON.parse(await page.getByTestId('history-json').textContent());
  expect(json.map((e) => e.kind)).toContain('ActivityCompleted');
  await expect(page).toHaveURL(/#instance=fan-1&view=json/);
  await shot(page, 'details-history');
});

test('raise an event, enqueue messages and cancel', async ({ page }) => {
  await page.locator('#auto-run').uncheck();
  await start(page, 'Approval', '{"timeout_ms":600000}', 'appr-1');
  await expect(page.getByTestId('details-status')).toHaveText('Running');
  await expect(page.getByTestId('pending')).toContainText('external_wait');
  await expect(page.getByTestId('pending')).toContainText('timer');
  await page.getByTestId('event-data').fill('ok by QA');
  await page.getByTestId('raise').click();
  await expect(page.getByTestId('details-output')).toHaveText('approved:ok by QA');

  await start(page, 'Mailbox', '{"messages":2}', 'mail-1');
  await page.getByTestId('queue-data').fill('first');
  await page.getByTestId('enqueue').click();
  await page.getByTestId('queue-data').fill('second');
  await page.getByTestId('enqueue').click();
  await expect(page.getByTestId('details-output')).toHaveText('first,second');

  await start(page, 'LongTimer', '', 'long-1');
  await expect(page.getByTestId('details-custom-status')).toHaveText('waiting');
  await page.getByTestId('cancel-reason').fill('not today');
  await page.getByTestId('cancel').click();
  await expect(page.getByTestId('details-status')).toHaveText('Failed');
  await expect(page.getByTestId('details-error')).toHaveText('canceled: not today');
  await page.getByTestId('cancel').click();  // already finished: a clear error, no crash
  await expect(page.getByTestId('error')).toContainText('had already finished');
  await shot(page, 'events-cancel');
});

test('bad input shows the engine error and changes nothing', async ({ page }) => {
  await start(page, 'HelloWorld', 'Ada', 'dup-1');
  await expect(page.getByTestId('details-status')).toHaveText('Completed');
  await start(page, 'HelloWorld', 'Ada', 'dup-1');
  await expect(page.getByTestId('error')).toContainText('dup-1');
  await start(page, 'HelloWorld', 'Ada', '   ');
  await expect(page.getByTestId('error')).toBeVisible();
  await expect(page.getByTestId('count-Completed')).toHaveText('Completed 1');
});

test('instance list: status counts, filters and paging', async ({ page }) => {
  for (let i = 0; i < 7; i++) await start(page, 'HelloWorld', `n${i}`, `hello-${i}`);
  await start(page, 'Fails', 'boom', 'fails-1');
  await page.locator('#auto-run').uncheck();
  await start(page, 'LongTimer', '', 'timer-1');
  await expect(page.getByTestId('count-Completed')).toHaveText('Completed 7');
  await expect(page.getByTestId('count-Failed')).toHaveText('Failed 1');
  await expect(page.getByTestId('count-Running')).toHaveText('Running 1');

  await page.getByTestId('page-size').selectOption('5');
  await expect(page.locator('#instances tbody tr')).toHaveCount(5);
  await page.getByTestId('page-next').click();
  await expect(page.getByTestId('page-label')).toHaveText('page 2');
  await expect(page.locator('#instances tbody tr')).toHaveCount(4);
  await expect(page.getByTestId('page-next')).toBeDisabled();
  await page.getByTestId('page-prev').click();
  await expect(page.getByTestId('page-label')).toHaveText('page 1');

  await page.getByTestId('count-Failed').click();
  await expect(page.locator('#instances tbody tr')).toHaveCount(1);
  await expect(page.locator('#instances tbody tr')).toContainText('fails-1');
  await page.getByTestId('filter-status').selectOption('');
  await page.getByTestId('filter-prefix').fill('hello-');
  await expect(page.locator('#instances tbody tr')).toHaveCount(5);
  await page.getByTestId('filter-prefix').fill('');
  await page.getByTestId('filter-name').selectOption('LongTimer');
  await expect(page.locator('#instances tbody tr')).toHaveCount(1);
  await page.locator('#instances tbody tr').first().click();
  await expect(page.getByTestId('details-id')).toHaveText('timer-1');
  await expect(page.getByTestId('pending')).toContainText('timer');
  await page.getByTestId('advance-hour').click();
  await expect(page.getByTestId('details-output')).toHaveText('done');
  await shot(page, 'list-filters');

  // Search (case-sensitive, in input, output, error and custom status) and sort by duration.
  await page.getByTestId('filter-name').selectOption('');
  await page.getByTestId('filter-contains').fill('boom');
  await expect(page.locator('#instances tbody tr')).toHaveCount(1);
  await expect(page.locator('#instances tbody tr')).toContainText('fails-1');
  await page.getByTestId('filter-contains').fill('n3');
  await expect(page.locator('#instances tbody tr')).toHaveCount(1);
  await expect(page.locator('#instances tbody tr')).toContainText('hello-3');
  await page.getByTestId('filter-contains').fill('N3');
  await expect(page.locator('#instances tbody tr')).toContainText('no instances');
  await page.getByTestId('filter-contains').fill('');
  await page.getByTestId('sort').selectOption('duration-desc');
  await expect(page.locator('#instances tbody tr').first()).toContainText('timer-1');  // ran an hour
});

test('executions of a continue-as-new instance', async ({ page }) => {
  await start(page, 'Counter', '{"count":0,"limit":2}', 'counter-1');
  await expect(page.getByTestId('details-output')).toHaveText('2');
  await expect(page.getByTestId('executions').locator('button')).toHaveCount(3);
  // Each execution tells which build of the runtime started it (the one pinned on it).
  await expect(page.getByTestId('execution-1')).toHaveAttribute('title', /^started by a runtime of build \d+\.\d+\.\d+$/);
  await page.getByTestId('execution-1').click();
  await expect(page).toHaveURL(/execution=1/);
  await expect(page.getByTestId('history-compact')).toContainText('OrchestrationContinuedAsNew');
});

test('step-through replay with the scrubber, and the link reopens it', async ({ page }) => {
  await start(page, 'Saga', '{"amount":5,"fail_credit":true}', 'saga-1');
  await expect(page.getByTestId('details-output')).toHaveText('compensated');
  await page.getByTestId('replay-this').click();
  await expect(page.getByTestId('replay-verdict')).toContainText('deterministic');
  const scrubber = page.getByTestId('scrubber');
  await scrubber.fill('1');
  await expect(page.getByTestId('replay-event')).toContainText('ActivityScheduled(name="Debit"');
  await expect(page.getByTestId('replay-pending')).toContainText('activity Debit');
  await expect(page.getByTestId('replay-status')).toHaveText('Running');
  const last = await scrubber.getAttribute('max');
  await scrubber.fill(last);
  await expect(page.getByTestId('replay-status')).toHaveText('Completed');
  await scrubber.fill('3');
  await expect(page).toHaveURL(/instance=saga-1.*step=3/);
  const link = page.url();
  await shot(page, 'replay');
  await expect(page.locator('body')).toHaveAttribute('data-saved', 'yes');
  await page.goto('about:blank');
  await page.goto(link);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 30_000 });
  await expect(page.getByTestId('details-id')).toHaveText('saga-1');
  await expect(page.getByTestId('replay-index')).toHaveText('4');
});

test('a long history is shown 2,000 events at a time and replays whole', async ({ page }) => {
  // A database of one instance with 4,503 events (three of its own, then 4,500 raised; its
  // day-long timer still open), made in the page and opened as a file.
  const bytes = await page.evaluate(async () => {
    const { createDuroxide } = await import('/package/index.mjs');
    const dx = await createDuroxide();
    const runtime = new dx.Runtime({ startMs: Date.now() });
    const client = new dx.RuntimeClient(runtime);
    client.startOrchestration('long-1', 'Approval', '{"timeout_ms":86400000}');
    runtime.runUntilIdle();
    for (let i = 0; i < 4500; i++) client.raiseEvent('long-1', 'noise', String(i));
    runtime.runUntilIdle();
    const saved = Array.from(runtime.saveDatabase());
    runtime.close();
    return saved;
  });
  const file = path.join(shots, '..', 'long-history.db');
  writeFileSync(file, Buffer.from(bytes));
  await page.getByTestId('open-db').setInputFiles(file);
  await page.locator('#instances tbody tr[data-instance="long-1"]').click();
  await expect(page.getByTestId('details-id')).toHaveText('long-1');
  const rows = page.getByTestId('history-compact').locator('.compact-row');
  await expect(rows).toHaveCount(2000);
  await expect(page.getByTestId('history-more')).toContainText('the first 2,000 of 4,503 events');

  // A replay reads the whole execution, though the view shows its first page.
  await page.getByTestId('replay-this').click();
  await expect(page.locator('#replay-count')).toHaveText('4503');
  await expect(page.getByTestId('replay-verdict')).toContainText('deterministic: the code reproduces all 4503 events');
  const scrubber = page.getByTestId('scrubber');
  await scrubber.fill('4502');
  await expect(page.getByTestId('replay-index')).toHaveText('4503');
  await expect(page.getByTestId('replay-event')).toContainText('ExternalEvent(name="noise", data="4499")');
  await expect(page.getByTestId('replay-status')).toHaveText('Running');
  await expect(page.getByTestId('replay-pending')).toContainText('external_wait Approve');
  await scrubber.fill('0');
  await expect(page.getByTestId('replay-event')).toContainText('OrchestrationStarted');

  // The timeline of the first page: what is still open there is not drawn as running to now.
  await page.getByTestId('view-timeline').click();
  await expect(page.getByTestId('history-timeline').getByTestId('gantt-duration').last()).toContainText('(open past the events shown)');
  await page.getByTestId('view-compact').click();

  await page.getByTestId('history-more-button').click();
  await expect(rows).toHaveCount(4000);
  await expect(page.getByTestId('history-more')).toContainText('the first 4,000 of 4,503 events');
  await page.getByTestId('history-more-button').click();
  await expect(page.getByTestId('history-more')).toHaveCount(0);
  await expect(rows).toHaveCount(4503);
  await expect(rows.last()).toContainText('ExternalEvent(name="noise", data="4499")');
});

test('a search that reads its window without a match says so, and Next goes on', async ({ page }) => {
  const searchDb = process.env.SEARCH_DB;
  test.skip(!searchDb, 'SEARCH_DB (51,000 instances, the text in the oldest) not given');
  await page.getByTestId('open-db').setInputFiles(searchDb);
  await expect(page.getByTestId('count-Completed')).toHaveText('Completed 51001');
  await page.getByTestId('filter-contains').fill('needle');
  await expect(page.getByTestId('search-window')).toBeVisible();
  await expect(page.locator('#instances tbody tr[data-instance]')).toHaveCount(0);
  await expect(page.getByTestId('page-next')).toBeEnabled();
  await page.getByTestId('page-next').click();
  await expect(page.locator('#instances tbody tr[data-instance]')).toHaveCount(1);
  await expect(page.locator('#instances tbody tr[data-instance]')).toHaveAttribute('data-instance', 's-000000');
  await expect(page.getByTestId('search-window')).toHaveCount(0);
  await expect(page.getByTestId('page-next')).toBeDisabled();
  await shot(page, 'search-window');
});

test('download a .db and open it again; open a database written by the native CLI', async ({ page }) => {
  await start(page, 'HelloWorld', 'Dee', 'db-1');
  await expect(page.getByTestId('details-status')).toHaveText('Completed');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-db').click()]);
  const file = path.join(shots, '..', 'playground.db');
  await download.saveAs(file);
  expect(readFileSync(file).subarray(0, 15).toString()).toBe('SQLite format 3');
  await page.locator('#new-db').click();
  await expect(page.getByTestId('count-Completed')).toHaveText('Completed 0');
  await page.getByTestId('open-db').setInputFiles(file);
  await expect(page.getByTestId('count-Completed')).toHaveText('Completed 1');
  await page.locator('#instances tbody tr').first().click();
  await expect(page.getByTestId('details-output')).toHaveText('Hi, Dee!');

  const nativeDb = process.env.NATIVE_DB;
  test.skip(!nativeDb, 'NATIVE_DB (a database from the native CLI) not given');
  await page.getByTestId('open-db').setInputFiles(nativeDb);
  await expect(page.locator('#instances tbody tr')).toHaveCount(1);
  await expect(page.locator('#instances tbody tr')).toContainText('native-1');
  await page.locator('#instances tbody tr').first().click();
  await expect(page.getByTestId('details-output')).toHaveText('Hi, Native!');
  await shot(page, 'native-db');
  // Its parked message (tests/browser/run.sh) is shown with its item, and deleted.
  await page.getByTestId('ops-queues').click();
  const parked = page.getByTestId('ops-body').locator('[data-testid=parked] tbody tr');
  await expect(parked).toHaveCount(1);
  await expect(parked.locator('td').nth(1)).toHaveText('gone-1');
  await expect(parked.locator('td').nth(2)).toHaveText('instance does not exist');
  await expect(parked.locator('td').nth(4)).toContainText('"kind":"ExternalRaised"');
  await expect(page.getByTestId('ops-body').locator('[data-key="parked messages"]')).toHaveText('1');
  await parked.locator('button').click();
  await expect(page.getByTestId('ops-body').getByTestId('parked-none')).toHaveText('no parked messages');
  await expect(page.getByTestId('ops-body').locator('[data-key="parked messages"]')).toHaveText('0');
  // The deletion is saved with the page's database: a reload keeps it.
  await expect(page.locator('body')).toHaveAttribute('data-saved', 'yes');
  await page.reload();
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 30_000 });
  await expect(page.locator('#instances tbody tr')).toContainText('native-1');
  await page.getByTestId('ops-queues').click();
  await expect(page.getByTestId('ops-body').getByTestId('parked-none')).toHaveText('no parked messages');
});

test('export an instance as JSON, import it, and replay the file', async ({ page }) => {
  await start(page, 'Chain', '{"steps":3,"value":1}', 'chain-1');
  await expect(page.getByTestId('details-output')).toHaveText('4');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export').click()]);
  const file = path.join(shots, '..', 'chain-1.json');
  await download.saveAs(file);
  const exported = JSON.parse(readFileSync(file, 'utf8'));
  expect(exported.executions[0].history.length).toBeGreaterThan(5);
  await page.getByTestId('delete').click();
  await expect(page.getByTestId('count-Completed')).toHaveText('Completed 0');
  await page.getByTestId('import-instance').setInputFiles(file);
  await expect(page.getByTestId('details-id')).toHaveText('chain-1');
  await expect(page.getByTestId('details-output')).toHaveText('4');
  await page.getByTestId('replay-file').setInputFiles(file);
  await expect(page.getByTestId('replay-verdict')).toContainText('deterministic');
  // A tampered history file is reported as nondeterministic, with the mismatch.
  exported.executions[0].history[1].input = '99';
  const tampered = path.join(shots, '..', 'chain-tampered.json');
  writeFileSync(tampered, JSON.stringify(exported));
  await page.getByTestId('replay-file').setInputFiles(tampered);
  await expect(page.getByTestId('replay-verdict')).toContainText('nondeterministic');
  await shot(page, 'import-replay');
  // A file without events leaves nothing of the replay before it on screen.
  const empty = path.join(shots, '..', 'empty-history.json');
  writeFileSync(empty, '[]');
  await page.getByTestId('replay-file').setInputFiles(empty);
  await expect(page.getByTestId('replay-event')).toHaveText('no events to step through');
  await expect(page.getByTestId('replay-index')).toHaveText('0');
});

test('run a simulation seed: faults, verdict, reproduce command, and the seed in the link', async ({ page }) => {
  await page.getByTestId('sim-seed').fill('77');
  await page.getByTestId('sim-run').click();
  await expect(page.getByTestId('sim-verdict')).toHaveText('seed 77: no violation');
  await expect(page.getByTestId('sim-reproduce')).toContainText('duroxide-sim --seed 77 --steps 3000');
  await expect(page.getByTestId('sim-hash')).toHaveText(/^[0-9a-f]{16}$/);
  const hash = await page.getByTestId('sim-hash').textContent();
  const crashes = Number(await page.getByTestId('fault-node-crash').textContent());
  expect(crashes + Number(await page.getByTestId('fault-transient').textContent())).toBeGreaterThan(0);
  await expect(page.getByTestId('sim-trace')).toContainText('seed 77');
  await expect(page).toHaveURL(/seed=77/);
  // Same seed, same hash as the native build (the CLI's hash is passed in by the test command).
  if (process.env.SEED77_HASH) expect(hash).toBe(process.env.SEED77_HASH);
  await shot(page, 'simulation');
  await page.goto('about:blank');
  await page.goto('/#seed=77');
  await expect(page.getByTestId('sim-hash')).toHaveText(hash, { timeout: 30_000 });
});

test('metrics: the chart and totals follow the store, the live feed shows each delta, CSV downloads', async ({ page }) => {
  await page.locator('#auto-run').uncheck();
  await start(page, 'HelloWorld', 'Ada', 'm-ok-1');
  await start(page, 'HelloWorld', 'Bo', 'm-ok-2');
  await start(page, 'Fails', 'boom', 'm-bad-1');
  const totals = page.getByTestId('metrics-totals');
  await expect(totals).toContainText('starts 3 · completions 2 · failures 1');
  await expect(page.getByTestId('metrics-chart').locator('rect')).toHaveCount(60);
  // Axes with units: 0, half and a round top for 3 starts; bucket times along the bottom.
  await expect(page.getByTestId('chart-unit')).toHaveText('starts per minute');
  expect(await page.getByTestId('chart-y-tick').allTextContents()).toEqual(['0', '2.5', '5']);
  expect((await page.getByTestId('chart-x-tick').allTextContents()).every((t) => /^\d\d:\d\d$/.test(t))).toBe(true);
  await expect(page.getByTestId('chart-x-tick')).toHaveCount(6);
  const feed = page.getByTestId('metrics-feed');
  // HelloWorld 2.0.0 finishes in its first turn (one delta); Fails waits for its activity (two).
  await expect(feed.locator('li')).toHaveCount(4);
  await expect(feed).toContainText('Fails m-bad-1 started');
  await expect(feed).toContainText('Fails m-bad-1 failed after');
  await expect(feed).toContainText('HelloWorld m-ok-2 started and completed in 0 ms');

  await page.getByTestId('metrics-name').selectOption('Fails');
  await page.getByTestId('metrics-metric').selectOption('failures');
  await expect(totals).toContainText('starts 1 · completions 0 · failures 1');
  await page.getByTestId('metrics-bucket').selectOption('hour');
  await expect(page.getByTestId('metrics-chart').locator('rect')).toHaveCount(24);
  await page.getByTestId('metrics-metric').selectOption('duration');
  await expect(totals).toContainText('finished 1, average');
  await expect(page.getByTestId('chart-unit')).toHaveText('ms (average)');

  // An hour later the last-60-minutes chart is empty; the hour view keeps them.
  await page.getByTestId('advance-hour').click();
  await page.getByTestId('metrics-name').selectOption('');
  await page.getByTestId('metrics-metric').selectOption('starts');
  await expect(totals).toContainText('starts 3 ·');
  await page.getByTestId('metrics-bucket').selectOption('minute');
  await expect(totals).toContainText('starts 0 ·');
  await start(page, 'HelloWorld', 'Cy', 'm-ok-3');
  await expect(totals).toContainText('starts 1 · completions 1 · failures 0');
  await expect(feed.locator('li')).toHaveCount(5);
  await expect(feed.locator('li').first()).toContainText('m-ok-3 started and completed');

  await page.getByTestId('metrics-bucket').selectOption('hour');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('metrics-csv').click()]);
  const csv = readFileSync(await download.path(), 'utf8');
  const rows = csv.trim().split('\r\n');
  expect(rows[0]).toBe('bucket_start_ms,starts,completions,failures,duration_count,duration_sum_ms,duration_avg_ms');
  expect(rows.length).toBe(25);
  expect(rows.slice(1).reduce((n, row) => n + Number(row.split(',')[1]), 0)).toBe(4);
  await shot(page, 'metrics');
});

test('a save the browser refuses is shown, and the page stays unsaved', async ({ page }) => {
  // From now on IndexedDB refuses every write (a full quota, a private window).
  await page.evaluate(() => {
    IDBObjectStore.prototype.put = () => { throw new DOMException('the quota is full', 'QuotaExceededError'); };
  });
  await start(page, 'HelloWorld', 'Ada', 'unsaved-1');
  await expect(page.getByTestId('error')).toContainText('could not be kept in this browser');
  await expect(page.getByTestId('error')).toContainText('the quota is full');
  await expect(page.locator('body')).toHaveAttribute('data-saved', 'no');
});

test('a preview counts the open database only: opening another disarms its confirm', async ({ page }) => {
  await start(page, 'HelloWorld', 'Ada', 'counted-1');
  await expect(page.getByTestId('details-status')).toHaveText('Completed');
  await page.getByTestId('bulk-action').selectOption('delete');
  await page.getByTestId('bulk-preview').click();
  await expect(page.getByTestId('bulk-progress')).toHaveText('would touch 1 instance(s) in 1 call(s)');
  await expect(page.getByTestId('bulk-confirm')).toBeEnabled();
  await page.locator('#new-db').click();
  await expect(page.getByTestId('bulk-confirm')).toBeDisabled();
  await expect(page.getByTestId('bulk-progress')).toHaveText('');
});

test('a step-through replay of an instance closes when another instance or database is shown', async ({ page }) => {
  await start(page, 'HelloWorld', 'Ada', 'replayed-1');
  await start(page, 'HelloWorld', 'Bob', 'other-1');
  await page.locator('#instances tbody tr', { hasText: 'replayed-1' }).click();
  await page.getByTestId('replay-this').click();
  await expect(page.getByTestId('replay')).toBeVisible();
  await expect(page).toHaveURL(/instance=replayed-1.*step=0/);
  await page.locator('#instances tbody tr', { hasText: 'other-1' }).click();
  await expect(page.getByTestId('details-id')).toHaveText('other-1');
  await expect(page.getByTestId('replay')).toBeHidden();
  await expect(page).not.toHaveURL(/step=/);
  await page.getByTestId('replay-this').click();
  await expect(page.getByTestId('replay')).toBeVisible();
  await page.locator('#new-db').click();
  await expect(page.getByTestId('replay')).toBeHidden();
  await expect(page).not.toHaveURL(/step=/);
});

test('bulk action: a dry-run preview shows the count, confirm runs it with progress', async ({ page }) => {
  await page.locator('#auto-run').uncheck();
  for (let i = 0; i < 3; i++) await start(page, 'LongTimer', '', `sweep-${i}`);
  await start(page, 'LongTimer', '', 'keep-1');
  await start(page, 'HelloWorld', 'Ada', 'sweep-done');
  await page.getByTestId('filter-prefix').fill('sweep-');
  await page.getByTestId('bulk-action').selectOption('cancel');
  await page.getByTestId('bulk-text').fill('maintenance');
  await expect(page.getByTestId('bulk-confirm')).toBeDisabled();
  await page.getByTestId('bulk-preview').click();
  await expect(page.getByTestId('bulk-progress')).toHaveText('would touch 3 instance(s) in 1 call(s)');
  await expect(page.getByTestId('count-Running')).toHaveText('Running 4');
  await page.getByTestId('bulk-confirm').click();
  await expect(page.getByTestId('bulk-progress')).toHaveText('touched 3 instance(s) in 1 call(s)');
  await page.locator('#run-idle').click();
  await expect(page.getByTestId('count-Failed')).toHaveText('Failed 3');
  await expect(page.getByTestId('count-Running')).toHaveText('Running 1');
  await shot(page, 'bulk-cancel');

  // Changing the action asks for a new preview.
  await page.getByTestId('bulk-action').selectOption('delete');
  await expect(page.getByTestId('bulk-confirm')).toBeDisabled();
  await page.getByTestId('bulk-preview').click();
  await expect(page.getByTestId('bulk-progress')).toHaveText('would touch 4 instance(s) in 1 call(s)');
  await page.getByTestId('bulk-confirm').click();
  await expect(page.getByTestId('bulk-progress')).toHaveText('touched 4 instance(s) in 1 call(s)');
  await page.getByTestId('filter-prefix').fill('');
  await expect(page.locator('#instances tbody tr')).toHaveCount(1);
  await expect(page.locator('#instances tbody tr')).toContainText('keep-1');
  // The bulk delete is kept with the page's database: a reload finds the same one instance.
  await expect(page.locator('body')).toHaveAttribute('data-saved', 'yes');
  await page.reload();
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 30_000 });
  await expect(page.locator('#instances tbody tr')).toHaveCount(1);
  await expect(page.locator('#instances tbody tr')).toContainText('keep-1');
});

test('operations panel: health with thresholds, queues, statistics with percentiles, diagnostics', async ({ page }) => {
  await page.locator('#auto-run').uncheck();
  await start(page, 'LongTimer', '', 'slow-1');
  await start(page, 'Fails', 'boom', 'bad-1');
  await start(page, 'FanOutFanIn', '["a","b"]', 'fan-1');
  await start(page, 'FanOutFanIn', '["c"]', 'fan-2');
  await page.getByTestId('advance-minute').click();

  const body = page.getByTestId('ops-body');
  await page.getByTestId('ops-health').click();
  await expect(page.getByTestId('problem-failed')).toContainText('bad-1 Fails · Failed');
  await expect(page.getByTestId('problem-long-running')).toContainText('none');
  await page.getByTestId('health-long-running').fill('30s');
  await page.getByTestId('health-long-running').dispatchEvent('change');
  await expect(page.getByTestId('problem-long-running')).toContainText('slow-1 LongTimer · Running');
  await expect(page.getByTestId('problem-no-progress')).toContainText('none');
  await page.getByTestId('problem-long-running').getByText('slow-1').click();
  await expect(page.getByTestId('details-id')).toHaveText('slow-1');
  const history = page.getByTestId('instance-stats').locator('dd[data-key=history]');
  const messages = page.getByTestId('instance-stats').locator('dd[data-key=messages]');
  await expect(history).toContainText('3 events');
  await expect(messages).toHaveText('1 waiting in its queue (timers included), 0 delivered and not taken by a wait');
  await page.getByTestId('queue-data').fill('hello');
  await page.getByTestId('enqueue').click();  // LongTimer takes no message: it stays in the history
  await expect(messages).toHaveText('1 waiting in its queue (timers included), 1 delivered and not taken by a wait');
  await expect(history).toContainText('4 events');
  await expect(page.getByTestId('values')).toContainText('no values set');
  await shot(page, 'operations-health');

  await page.getByTestId('ops-queues').click();
  await expect(page.getByTestId('ops-queues')).toHaveAttribute('aria-selected', 'true');
  await expect(body.locator('[data-testid=queue-timers] dd[data-key="timers pending"]')).toHaveText('1');
  const orchestrator = body.locator('[data-testid=queue-depths] tr[data-queue=orchestrator] td');
  await expect(orchestrator.nth(1)).toHaveText('0');  // nothing ready
  await expect(orchestrator.nth(2)).toHaveText('1');  // slow-1's timer, delayed until it fires

  await page.getByTestId('ops-statistics').click();
  const fan = body.locator('[data-testid=orchestration-stats] tr[data-name=FanOutFanIn] td');
  await expect(fan.nth(2)).toHaveText('2');    // completed
  await expect(fan.nth(5)).toHaveText('2');    // finished executions with a duration
  await expect(fan.nth(6)).toHaveText(/^\d+ ms$/);  // p50
  const hello = body.locator('[data-testid=activity-stats] tr[data-name=Hello] td');
  await expect(hello.nth(1)).toHaveText('3');  // scheduled
  await expect(hello.nth(2)).toHaveText('3');  // completed
  const fail = body.locator('[data-testid=activity-stats] tr[data-name=Fail] td');
  await expect(fail.nth(4)).toHaveText('100.0 %');
  await expect(body.locator('[data-testid=system-metrics] dd[data-key=instances]')).toHaveText('4');
  await shot(page, 'operations-statistics');

  await page.getByTestId('ops-diagnostics').click();
  await expect(body.locator('[data-testid=diagnostics] dd[data-key=store]')).toContainText('sqlite');
  await expect(body.locator('[data-testid=diagnostics] dd[data-key=rows]')).toContainText('instances 4');
});

test('retention tab: purge by age and prune executions, each previewed first; the instance tree', async ({ page }) => {
  await page.locator('#auto-run').uncheck();
  await start(page, 'Counter', '{"count":0,"limit":3}', 'ctr-1');
  await expect(page.getByTestId('executions').locator('button')).toHaveCount(4);
  await start(page, 'Parent', '["a","b"]', 'par-1');
  await expect(page.getByTestId('tree').locator('a')).toHaveCount(3);
  await page.getByTestId('tree').getByText('par-1::sub::1').click();
  await expect(page.getByTestId('details-id')).toHaveText('par-1::sub::1');
  await expect(page.getByTestId('tree').locator('a.current')).toHaveText('par-1::sub::1');
  await expect(page.getByTestId('tree').locator('a').first()).toHaveText('par-1');
  await shot(page, 'instance-tree');

  await page.getByTestId('ops-retention').click();
  await page.getByTestId('filter-prefix').fill('ctr-');
  await page.getByTestId('retention-keep').fill('1');
  await expect(page.getByTestId('retention-prune-confirm')).toBeDisabled();
  await page.getByTestId('retention-prune-preview').click();
  await expect(page.getByTestId('retention-prune-progress')).toHaveText('would touch 1 instance(s) in 1 call(s), 3 execution(s) (12 event(s)) to prune');
  await page.getByTestId('retention-prune-confirm').click();
  await expect(page.getByTestId('retention-prune-progress')).toHaveText('touched 1 instance(s) in 1 call(s), 3 execution(s) (12 event(s)) pruned');
  await page.locator('#instances tbody tr[data-instance="ctr-1"]').click();
  await expect(page.getByTestId('executions').locator('button')).toHaveCount(1);
  await page.getByTestId('filter-prefix').fill('');

  // Finished: ctr-1, and par-1 with its two children (a purge counts the children it deletes); nothing is a day old yet.
  await page.getByTestId('retention-age').fill('1d');
  await page.getByTestId('retention-purge-preview').click();
  await expect(page.getByTestId('retention-purge-progress')).toHaveText('would touch 0 instance(s) in 1 call(s)');
  await expect(page.getByTestId('retention-purge-confirm')).toBeDisabled();
  await start(page, 'LongTimer', '', 'young-running');
  await page.getByTestId('advance-hour').click();
  await page.getByTestId('retention-age').fill('30m');
  await page.getByTestId('retention-purge-preview').click();
  await expect(page.getByTestId('retention-purge-progress')).toHaveText('would touch 4 instance(s) in 1 call(s)');
  await expect(page.getByTestId('count-Completed')).toHaveText('Completed 5');
  await page.getByTestId('retention-purge-confirm').click();
  await expect(page.getByTestId('retention-purge-progress')).toHaveText('touched 4 instance(s) in 1 call(s)');
  await expect(page.getByTestId('retention-totals')).toContainText('1 instances (1 finished)');
  await shot(page, 'retention');
});

test('console: every client operation from the command table, with its arguments and answer', async ({ page }) => {
  await start(page, 'Counter', '{"count":0,"limit":2}', 'con-1');
  await expect(page.getByTestId('details-status')).toHaveText('Completed');
  const options = await page.getByTestId('console-command').locator('option').allTextContents();
  for (const name of ['start-orchestration', 'wait-for-orchestration', 'wait-for-instances-bulk', 'get-bulk-status',
    'get-execution-info', 'list-executions', 'get-instance-stats', 'changes-since']) {
    expect(options.some((text) => text.startsWith(`${name} (`))).toBe(true);
  }
  const run = async (command, args) => {
    await page.getByTestId('console-command').selectOption(command);
    if (args !== undefined) await page.getByTestId('console-args').fill(JSON.stringify(args));
    await page.getByTestId('console-run').click();
    return page.getByTestId('console-result');
  };
  // The selected instance fills the arguments' instance.
  await page.getByTestId('console-command').selectOption('get-execution-info');
  await expect(page.getByTestId('console-args')).toHaveValue(/"instance": "con-1"/);
  await expect(page.getByTestId('console-help')).toContainText('returns:');
  const info = await run('get-execution-info', { instance: 'con-1', execution: 2 });
  await expect(info).toContainText('"execution": 2');
  await expect(await run('get-bulk-status', { instances: ['con-1', 'nobody'] })).toContainText('"NotFound"');
  await expect(await run('list-executions', { instance: 'con-1', after: 1, limit: 1 })).toContainText('"execution": 2');
  // A runtime operation runs the engine: the started instance finishes and shows in the list.
  await run('start-orchestration', { instance: 'con-2', orchestration: 'HelloWorld', input: 'Ada' });
  await expect(await run('wait-for-orchestration', { instance: 'con-2', timeoutMs: 1000 })).toContainText('Hi, Ada!');
  await expect(page.getByTestId('count-Completed')).toHaveText('Completed 2');
  // Bad arguments show the engine's error and change nothing.
  await run('get-bulk-status', { instances: 'con-1' });
  await expect(page.getByTestId('error')).toContainText('instances');
  await shot(page, 'console');
});

// ---------------------------------------------------------------- the code panel

test('runtime notices: the code\'s log lines and code not registered here, each with its instance', async ({ page }) => {
  await page.getByTestId('code-text').fill(`registerActivity('Loud', (ctx, text) => {
  ctx.traceInfo(\`loud \${text} for \${ctx.orchestrationName} \${ctx.orchestrationVersion}\`);
  return text;
});

registerOrchestration('Chatty', function* (ctx, input) {
  ctx.traceInfo('starting ' + input);
  return yield ctx.scheduleActivity('Loud', input);
});

registerOrchestration('Lost', function* (ctx) {
  return yield ctx.scheduleActivity('Nowhere', 1);
});
`);
  await page.getByTestId('code-register').click();
  await expect(page.getByTestId('code-result')).toHaveText('registered orchestrations: Chatty 1.0.0, Lost 1.0.0; activities: Loud');
  await start(page, 'Chatty', 'hi', 'chatty-1');
  await expect(page.getByTestId('details-status')).toHaveText('Completed');
  const notices = page.getByTestId('notices-list');
  // Newest first: the activity's line after the orchestration's.
  await expect(notices.getByTestId('notice-message').nth(0)).toHaveText('[info] activity Loud: loud hi for Chatty 1.0.0');
  await expect(notices.getByTestId('notice-message').nth(1)).toHaveText('starting hi');
  await start(page, 'Lost', '', 'lost-1');
  await expect(notices.locator('li[data-kind="unregistered"]').first()).toContainText('activity Nowhere is not registered here');
  await expect(notices.locator('li[data-kind="unregistered"]').first().getByTestId('notice-instance')).toHaveText('lost-1');
  // Its instance opens from the notice.
  await notices.locator('li', { hasText: 'starting hi' }).getByTestId('notice-instance').click();
  await expect(page.getByTestId('details-id')).toHaveText('chatty-1');
  await page.getByTestId('notices').screenshot({ path: path.join(shots, 'notices.png') });
  await page.getByTestId('notices-clear').click();
  await expect(notices).toHaveText('no notices');
});

test('runtime notices: new ones are drawn above the rows already drawn, and the list keeps the newest 500', async ({ page }) => {
  await page.getByTestId('code-text').fill(`registerOrchestration('Noisy', function* (ctx, n) {
  for (let i = 0; i < n; i++) ctx.traceInfo('line ' + i);
  return n;
});
`);
  await page.getByTestId('code-register').click();
  await expect(page.getByTestId('code-result')).toContainText('Noisy 1.0.0');
  await start(page, 'Noisy', '600', 'noisy-1');
  await expect(page.getByTestId('details-status')).toHaveText('Completed');
  const notices = page.getByTestId('notices-list');
  const messages = notices.getByTestId('notice-message');
  await expect(notices.locator('li.notice')).toHaveCount(500);
  await expect(messages.first()).toHaveText('line 599');
  await expect(messages.last()).toHaveText('line 100');
  // The row drawn for the newest notice, marked: a later draw keeps it rather than drawing it again.
  await notices.locator('li.notice').first().evaluate((row) => { row.dataset.marked = 'kept'; });
  await start(page, 'Noisy', '3', 'noisy-2');
  await expect(page.getByTestId('details-id')).toHaveText('noisy-2');
  await expect(page.getByTestId('details-status')).toHaveText('Completed');
  await expect(messages.first()).toHaveText('line 2');
  await expect(notices.locator('li.notice')).toHaveCount(500);
  await expect(messages.nth(3)).toHaveText('line 599');
  await expect(notices.locator('li.notice').nth(3)).toHaveAttribute('data-marked', 'kept');
  await expect(messages.last()).toHaveText('line 103');
  await page.getByTestId('notices-clear').click();
  await expect(notices).toHaveText('no notices');
  await start(page, 'Noisy', '2', 'noisy-3');
  await expect(messages).toHaveText(['line 1', 'line 0']);
});

test('code panel: orchestrations written in the page run like any other instance', async ({ page }) => {
  await page.locator('#auto-run').uncheck();
  await page.getByTestId('code-text').fill(`registerActivity('Shout', (ctx, text) => text.toUpperCase() + '!');

registerOrchestration('Greeter', function* (ctx, input) {
  const shouted = yield ctx.scheduleActivity('Shout', input.name);
  ctx.setCustomStatus('greeted');
  const reply = yield ctx.waitForEvent('Reply');
  return { shouted, reply };
});
`);
  await page.getByTestId('code-register').click();
  await expect(page.getByTestId('code-result')).toHaveText('registered orchestrations: Greeter 1.0.0; activities: Shout');

  await start(page, 'Greeter', '{"name":"ada"}', 'greet-1');
  await expect(page.getByTestId('details-status')).toHaveText('Running');
  await expect(page.getByTestId('details-custom-status')).toHaveText('greeted');
  await expect(page.getByTestId('pending')).toContainText('external_wait');
  await expect(page.getByTestId('history-compact')).toContainText('ActivityScheduled(name="Shout", input="ada") → ActivityCompleted(result="ADA!")');
  await page.locator('#event-name').fill('Reply');
  await page.getByTestId('event-data').fill('hello back');
  await page.getByTestId('raise').click();
  await expect(page.getByTestId('details-status')).toHaveText('Completed');
  await expect(page.getByTestId('details-output')).toHaveText('{"shouted":"ADA!","reply":"hello back"}');

  await start(page, 'Greeter', '{"name":"bo"}', 'greet-2');
  await page.getByTestId('cancel-reason').fill('no reply needed');
  await page.getByTestId('cancel').click();
  await expect(page.getByTestId('details-error')).toHaveText('canceled: no reply needed');
  await expect(page.getByTestId('count-Completed')).toHaveText('Completed 1');

  // The code is kept: after a reload the page registers it again before the database
  // opens, and the instance that ran it replays deterministically.
  await page.reload();
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 30_000 });
  await expect(page.getByTestId('code-result')).toContainText('Greeter 1.0.0');
  await page.getByTestId('instances').getByText('greet-1', { exact: true }).click();
  await page.getByTestId('replay-this').click();
  await expect(page.getByTestId('replay-verdict')).toContainText('deterministic');
  await shot(page, 'code-greeter');

  // Registering other code makes it the page's code: Greeter is gone with the old code,
  // and its history can no longer be replayed here, which the page says.
  await page.getByTestId('code-text').fill(`registerOrchestration('Other', function* () { return 1; });`);
  await page.getByTestId('code-register').click();
  await expect(page.getByTestId('code-result')).toHaveText('registered orchestrations: Other 1.0.0; activities: none');
  await page.getByTestId('instances').getByText('greet-1', { exact: true }).click();
  await page.getByTestId('replay-this').click();
  await expect(page.getByTestId('replay-verdict')).toHaveText('cannot replay: unregistered orchestration: Greeter 1.0.0');
});

test('code panel: activities on a session run in it; the queues tab lists the session and who holds it', async ({ page }) => {
  await page.locator('#auto-run').uncheck();
  await page.getByTestId('code-text').fill(`registerActivity('Note', (ctx, text) => text + ' in ' + ctx.sessionId);

registerOrchestration('Chat', function* (ctx, input) {
  const first = yield ctx.scheduleActivityOnSession('Note', input, 'chat-1');
  const more = yield ctx.waitForEvent('More');
  const second = yield ctx.scheduleActivityOnSession('Note', more, 'chat-1');
  return [first, second];
});
`);
  await page.getByTestId('code-register').click();
  await expect(page.getByTestId('code-result')).toHaveText('registered orchestrations: Chat 1.0.0; activities: Note');
  await page.getByTestId('ops-queues').click();
  await expect(page.getByTestId('ops-body').getByTestId('sessions-none')).toHaveText('no activity sessions');

  await start(page, 'Chat', 'hello', 'chat-a');
  await expect(page.getByTestId('history-compact')).toContainText('ActivityScheduled(name="Note", input="hello", session="chat-1")');
  await page.getByTestId('ops-queues').click();
  const row = page.getByTestId('ops-body').locator('[data-testid=sessions] tr[data-session=chat-1] td');
  await expect(row.nth(1)).toHaveText('local');
  await expect(row.nth(2)).toContainText('held at');
  await expect(row.nth(3)).toHaveText('0');
  await page.locator('#event-name').fill('More');
  await page.getByTestId('event-data').fill('again');
  await page.getByTestId('raise').click();
  await expect(page.getByTestId('details-status')).toHaveText('Completed');
  await expect(page.getByTestId('details-output')).toHaveText('["hello in chat-1","again in chat-1"]');
});

test('code panel: a syntax error and a bad registration name their line', async ({ page }) => {
  const code = page.getByTestId('code-text');
  await code.fill(`// line 1
registerOrchestration('Broken', function* (ctx) {
  return yield ctx.scheduleTimer(10;
});
`);
  await page.getByTestId('code-register').click();
  await expect(page.getByTestId('code-result')).toHaveText(/^line 3:\d+: .*SyntaxError|^line 3:\d+: /);
  await expect(page.getByTestId('code-result')).toHaveClass('bad');

  await code.fill(`registerActivity('Fine', () => 1);

registerOrchestration('NotAGenerator', function (ctx) { return 1; });
`);
  await page.getByTestId('code-register').click();
  await expect(page.getByTestId('code-result')).toHaveText(/^line 3:\d+: registerOrchestration\('NotAGenerator'\) needs a generator function/);

  await code.fill(`const list = null;
list.forEach(() => {});
`);
  await page.getByTestId('code-register').click();
  await expect(page.getByTestId('code-result')).toHaveText(/^line 2:\d+: .*null/);
  // Nothing was registered by the failed attempts: the start form does not offer them.
  await expect(page.getByTestId('start-name').locator('option', { hasText: 'NotAGenerator' })).toHaveCount(0);
  await shot(page, 'code-errors');
});

test('replay against edited code: deterministic, then the first divergence side by side; a new version leaves old instances on the old', async ({ page }) => {
  await page.locator('#auto-run').uncheck();
  await start(page, 'Approval', '{"timeout_ms":600000}', 'appr-old');
  await expect(page.getByTestId('details-status')).toHaveText('Running');

  // The catalog's Approval as JavaScript issues the same commands: deterministic.
  await page.getByTestId('code-example').selectOption('Approval');
  await page.getByTestId('code-open-example').click();
  await page.getByTestId('code-replay').click();
  await expect(page.getByTestId('replay-verdict')).toContainText('deterministic: the code reproduces all');

  // An edit that waits for another event diverges at the subscription.
  const code = page.getByTestId('code-text');
  const example = await code.inputValue();
  await code.fill(example.replace("ctx.waitForEvent('Approve')", "ctx.waitForEvent('Approved')"));
  await page.getByTestId('code-replay').click();
  await expect(page.getByTestId('replay-verdict')).toContainText('nondeterministic: the code diverges from the history at event index 1');
  await expect(page.getByTestId('divergence-expected')).toHaveText('ExternalSubscribed(name="Approve")');
  await expect(page.getByTestId('divergence-actual')).toHaveText('ExternalSubscribed(name="Approved")');
  await shot(page, 'code-divergence');

  // The change registered as version 1.1.0: new starts take it, the old instance stays on
  // 1.0.0 and the catalog's code (replaying did not register the edit: had it replaced
  // 1.0.0, the old instance would now end in a nondeterminism error).
  await code.fill(example
    .replace("registerOrchestration('Approval', function*", "registerOrchestrationVersioned('Approval', '1.1.0', function*")
    .replace('`approved:${', '`approved in 1.1.0:${'));
  await page.getByTestId('code-register').click();
  await expect(page.getByTestId('code-result')).toHaveText('registered orchestrations: Approval 1.1.0; activities: none');
  await start(page, 'Approval', '{"timeout_ms":600000}', 'appr-new');
  await expect(page.getByTestId('details-summary')).toContainText('1.1.0');
  await page.getByTestId('event-data').fill('yes');
  await page.getByTestId('raise').click();
  await expect(page.getByTestId('details-output')).toHaveText('approved in 1.1.0:yes');
  await page.getByTestId('instances').getByText('appr-old', { exact: true }).click();
  await expect(page.getByTestId('details-summary')).toContainText('1.0.0');
  await page.getByTestId('event-data').fill('yes');
  await page.getByTestId('raise').click();
  await expect(page.getByTestId('details-output')).toHaveText('approved:yes');
  await shot(page, 'code-versions');

  // An instance the database does not hold shows nothing, so there is nothing to replay
  // (not the history shown before it, under the new id).
  await page.goto(`${page.url().split('#')[0]}#instance=ghost`);
  await expect(page.getByTestId('details-id')).toHaveText('ghost');
  await page.getByTestId('code-replay').click();
  await expect(page.getByTestId('error')).toContainText('select an instance to replay first');
});

test('step through a parent: its history replays under its own id, sub-orchestration ids and all', async ({ page }) => {
  await start(page, 'Parent', '["a","b"]', 'par-step');
  await expect(page.getByTestId('details-status')).toHaveText('Completed');
  await page.getByTestId('replay-this').click();
  await expect(page.getByTestId('replay-verdict')).toContainText('deterministic: the code reproduces all');
});

test('every catalog sample opens as a JavaScript example that replays the catalog\'s histories', async ({ page }) => {
  // In the page: run each sample's C++ code on its example input (with the events it
  // waits for), then replay every execution against its JavaScript port.
  const results = await page.evaluate(async () => {
    const { createDuroxide } = await import('/package/index.mjs');
    const { examples } = await import('/js/examples.js');
    const dx = await createDuroxide();
    const runtime = new dx.Runtime({ startMs: 0 });
    const client = new dx.RuntimeClient(runtime);
    const management = new dx.ManagementClient(runtime);
    const out = {};
    for (const sample of dx.catalog()) {
      const id = `sample-${sample.name}`;
      client.startOrchestration(id, sample.name, sample.example_input, { version: '1.0.0' });
      runtime.runUntilIdle();
      if (sample.name === 'Approval') client.raiseEvent(id, 'Approve', 'yes');
      if (sample.name === 'Mailbox') { client.enqueueEvent(id, 'inbox', 'one'); client.enqueueEvent(id, 'inbox', '2'); }
      runtime.runUntilIdle();
      for (let hours = 0; hours < 4; hours++) {  // timers and retry back-offs come due
        runtime.advanceTime(60 * 60 * 1000);
        runtime.runUntilIdle();
      }
      const orchestrations = [];
      const register = (name, version, fn) => orchestrations.push({ name, version, fn });
      new Function('registerOrchestration', 'registerOrchestrationVersioned', 'registerActivity', examples[sample.name])(
        (name, fn) => register(name, '1.0.0', fn), register, () => {});
      const verdicts = [];
      for (const { execution } of management.listExecutions(id)) {
        const report = dx.replayHistory(management.readExecution(id, execution), { instance: id, execution, orchestrations });
        verdicts.push(report.deterministic ? 'deterministic' : JSON.stringify(report.mismatch ?? report.error));
      }
      out[sample.name] = { status: client.getStatus(id).status, verdicts };
    }
    return { samples: dx.catalog().map((s) => s.name), examples: Object.keys(examples), out };
  });
  expect(results.examples.sort()).toEqual(results.samples.sort());
  for (const [name, { status, verdicts }] of Object.entries(results.out)) {
    expect(status, name).toBe(name === 'Fails' ? 'Failed' : 'Completed');
    expect(verdicts.length, name).toBeGreaterThan(0);
    // RetryFlaky's port cannot issue the same commands (examples.js says why).
    if (name === 'RetryFlaky') expect(verdicts[0], name).toContain('FlakyCounted');
    else expect(verdicts, name).toEqual(verdicts.map(() => 'deterministic'));
  }
  expect(results.out.Counter.verdicts.length).toBe(4);
});

test('simulate the page\'s code: a planted bug is found, shrunk, linked, and its world opens in the inspector', async ({ page, context }) => {
  // The planted bug: the code assumes the approval always beats the timer.
  await page.getByTestId('code-text').fill(`registerActivity('Notify', (ctx, who) => \`told \${who}\`);

registerOrchestration('Expense', function* (ctx, input) {
  const winner = yield ctx.race(ctx.waitForEvent('Approve'), ctx.scheduleTimer(input.wait_ms));
  if (winner.index === 1) return 'expired';
  return yield ctx.scheduleActivity('Notify', input.who);
});
`);
  await page.getByTestId('sim-world').selectOption('code');
  await page.getByTestId('sim-workload').fill(`function workload(client, sim) {
  for (let i = 0; i < 3; i++) {
    sim.at(i * 30);
    client.startOrchestration(\`expense-\${i}\`, 'Expense', { who: \`user\${i}\`, wait_ms: 60000 });
    sim.at(i * 30 + 200);
    client.raiseEvent(\`expense-\${i}\`, 'Approve', 'ok');
  }
}

function check(end) {
  return end.output === \`told user\${end.instanceId.slice(-1)}\` ? [] : [\`\${end.instanceId} ended \${end.status} \${JSON.stringify(end.output)}\`];
}
`);
  await page.getByTestId('sim-seed').fill('1');
  await page.locator('#sim-steps').fill('1000');
  await page.getByTestId('sim-find').click();
  await expect(page.getByTestId('sim-verdict')).toContainText('violation', { timeout: 60_000 });
  const shrunk = page.getByTestId('sim-shrunk');
  await expect(shrunk).toContainText('start expense-');
  await expect(shrunk).toContainText('violation: outcome');
  await expect(shrunk).toContainText('"expired"');
  // Shrinking keeps one instance: the others are not needed for the failure.
  expect((await shrunk.textContent()).match(/: start /g)).toHaveLength(1);
  await shot(page, 'sim-code-shrunk');

  // The link reopens the same case in a fresh browser context: same verdict and hash.
  const link = await page.getByTestId('sim-link').getAttribute('href');
  const hash = await page.getByTestId('sim-hash').textContent();
  const other = await context.browser().newPage();
  // A seed added to the link does not run the link's code: only the reader's click does.
  await other.goto(`${link}&seed=1`);
  await expect(other.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 30_000 });
  await expect(other.getByTestId('sim-ops-note')).toContainText('planned operation(s)');
  await expect(other.getByTestId('code-text')).toHaveValue(/registerOrchestration\('Expense'/);
  await expect(other.getByTestId('code-result')).toHaveText('a link opened this code: read it, then Register or Run seed');
  expect(await other.getByTestId('sim-hash').count()).toBe(0);
  await other.getByTestId('sim-run').click();
  await expect(other.getByTestId('sim-hash')).toHaveText(hash, { timeout: 30_000 });
  await expect(other.getByTestId('sim-verdict')).toContainText('violation');
  await other.close();

  // The seed's final database in the inspector: its instances browse like real ones.
  await page.getByTestId('sim-open-db').click();
  await expect(page.locator('#instances tbody tr')).toHaveCount(1);
  await page.locator('#instances tbody tr').first().click();
  await expect(page.getByTestId('details-output')).toHaveText('expired');
  await page.getByTestId('replay-this').click();
  await expect(page.getByTestId('replay-verdict')).toContainText('deterministic');
  await shot(page, 'sim-code-inspector');
});

// The files of a zip whose entries are stored (playground/js/zip.js writes no other kind).
function unzipStored(bytes) {
  const files = {};
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; view.getUint32(at, true) === 0x04034b50;) {
    const size = view.getUint32(at + 18, true);
    const nameLength = view.getUint16(at + 26, true);
    const extraLength = view.getUint16(at + 28, true);
    const name = bytes.subarray(at + 30, at + 30 + nameLength).toString('utf8');
    const start = at + 30 + nameLength + extraLength;
    files[name] = bytes.subarray(start, start + size).toString('utf8');
    at = start + size;
  }
  return files;
}

test('download as a project: the code and workload run under node:test with the npm package', async ({ page }) => {
  // The editors hold the HelloWorld example and the example workload.
  const downloading = page.waitForEvent('download');
  await page.getByTestId('code-project').click();
  const file = path.join(shots, '..', 'duroxide-project.zip');
  await (await downloading).saveAs(file);
  const files = unzipStored(readFileSync(file));
  expect(Object.keys(files).sort()).toEqual(['README.md', 'orchestrations.mjs', 'orchestrations.test.mjs', 'package.json', 'workload.mjs']);
  expect(files['orchestrations.mjs']).toContain("registerOrchestration('HelloWorld', function* (ctx, name) {");

  const work = mkdtempSync(path.join(tmpdir(), 'duroxide-project-'));
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(path.join(work, name), text);
    const tarball = execFileSync('npm', ['pack', path.join(root, 'build/wasm/package'), '--silent'], { cwd: work, encoding: 'utf8' }).trim().split('\n').pop();
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--silent', `./${tarball}`], { cwd: work });
    const run = execFileSync('npm', ['test', '--silent'], { cwd: work, encoding: 'utf8' });
    expect(run).toContain('# pass 1');
    expect(run).toContain('# fail 0');
    // A planted bug in the project's code (in 2.0.0, the version new starts take) fails its
    // test, naming the seed.
    const planted = files['orchestrations.mjs'].replace('return `Hi, ${name}!`;', "throw new Error('planted');");
    expect(planted).not.toEqual(files['orchestrations.mjs']);
    writeFileSync(path.join(work, 'orchestrations.mjs'), planted);
    let failed = '';
    try {
      execFileSync('npm', ['test', '--silent'], { cwd: work, encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      failed = String(error.stdout);
    }
    expect(failed).toContain('seed 1:');
    expect(failed).toContain('# fail 1');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('share link: the code, the selected instance, its view and the seed open in another browser', async ({ page, context }) => {
  await page.getByTestId('code-text').fill("registerOrchestration('Shared', function* (ctx, input) { return `shared ${input}`; });\n");
  await page.getByTestId('code-register').click();
  await start(page, 'Shared', 'x', 'shared-1');
  await expect(page.getByTestId('details-output')).toHaveText('shared x');
  await page.getByTestId('view-json').click();
  await page.getByTestId('sim-seed').fill('77');
  await page.getByTestId('sim-run').click();
  await page.getByTestId('code-share').click();
  const link = await page.getByTestId('code-link').getAttribute('href');
  expect(link).toMatch(/#.*instance=shared-1.*&code=/);
  // The registered code lives in the page's own URL too: any link to the view carries it.
  expect(page.url()).toMatch(/#.*instance=shared-1.*&code=/);
  expect(new URL(page.url()).hash).toContain(new URL(link).hash.split('&code=')[1].split('&')[0]);

  const other = await context.browser().newPage();
  await other.goto(link);
  await expect(other.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 30_000 });
  await expect(other.getByTestId('code-text')).toHaveValue(/registerOrchestration\('Shared'/);
  await expect(other.getByTestId('code-result')).toHaveText('a link opened this code: read it, then Register');
  await expect(other.getByTestId('sim-hash')).toHaveText(process.env.SEED77_HASH ?? /./);
  await other.getByTestId('code-register').click();
  await other.getByTestId('start-name').selectOption('Shared');
  await other.getByTestId('start-input').fill('y');
  await other.getByTestId('start-id').fill('shared-1');
  await other.getByTestId('start').click();
  await expect(other.getByTestId('details-output')).toHaveText('shared y');
  await expect(other.getByTestId('history-json')).toBeVisible();
  await shot(other, 'share-link-opened');
  await other.close();
});

test('themes follow the system: light and dark', async ({ page }) => {
  const colours = () => page.evaluate(() => {
    const read = (selector, property) => getComputedStyle(document.querySelector(selector))[property];
    return { body: read('body', 'backgroundColor'), panel: read('section', 'backgroundColor'), text: read('body', 'color'),
      editor: read('#code-text', 'backgroundColor') };
  });
  const brightness = (rgb) => rgb.match(/\d+/g).slice(0, 3).map(Number).reduce((sum, v) => sum + v, 0) / 3;
  await page.emulateMedia({ colorScheme: 'light' });
  const light = await colours();
  expect(brightness(light.body)).toBeGreaterThan(200);
  expect(brightness(light.text)).toBeLessThan(80);
  await page.emulateMedia({ colorScheme: 'dark' });
  const dark = await colours();
  expect(brightness(dark.body)).toBeLessThan(50);
  expect(brightness(dark.panel)).toBeLessThan(50);
  expect(brightness(dark.editor)).toBeLessThan(50);
  expect(brightness(dark.text)).toBeGreaterThan(180);
  await shot(page, 'theme-dark');
});

test('timeline: a Gantt bar per operation with its duration, open ones marked, zoomable', async ({ page }) => {
  await page.locator('#auto-run').uncheck();
  await start(page, 'Approval', '{"timeout_ms":600000}', 'gantt-1');
  await page.getByTestId('view-timeline').click();
  const timeline = page.getByTestId('history-timeline');
  await page.getByTestId('advance-minute').click();
  await expect(timeline).toContainText('event Approve');
  await expect(timeline).toContainText('1 min so far');       // the wait, still open
  await page.getByTestId('event-data').fill('ok');
  await page.getByTestId('raise').click();
  await expect(page.getByTestId('details-status')).toHaveText('Completed');
  const durations = await page.getByTestId('gantt-duration').allTextContents();
  // The execution, the event wait (1 min) and the timer the event beat (ended unfinished).
  expect(durations).toEqual(['1 min', '1 min', '1 min (ended unfinished)']);
  await expect(timeline).toContainText('timer to +10 min');
  await expect(page.getByTestId('gantt-scale')).toHaveText('1× · 1 min across');
  const width = async () => Number(await timeline.locator('svg').getAttribute('width'));
  const before = await width();
  await page.getByTestId('gantt-zoom').fill('3');
  await expect(page.getByTestId('gantt-scale')).toHaveText('8× · 1 min across');
  expect(await width()).toBeGreaterThan(before * 4);
  // The zoom stays through the redraws an action brings.
  await page.getByTestId('advance-minute').click();
  await expect(page.getByTestId('gantt-scale')).toHaveText(/^8× · /);
  await shot(page, 'gantt');
});

test('instance tree as a graph: a box per instance joined to its parent; click or Enter opens one', async ({ page }) => {
  await page.getByTestId('code-text').fill(`registerOrchestration('Leaf', function* (ctx, name) { return name; });
registerOrchestration('Branch', function* (ctx, names) {
  return yield ctx.all(names.map((name) => ctx.scheduleSubOrchestration('Leaf', name)));
});
registerOrchestration('Root', function* (ctx) {
  return yield ctx.all([ctx.scheduleSubOrchestration('Branch', ['a', 'b']), ctx.scheduleSubOrchestration('Leaf', 'c')]);
});
`);
  await page.getByTestId('code-register').click();
  await start(page, 'Root', '', 'root-1');
  await expect(page.getByTestId('details-status')).toHaveText('Completed');
  const graph = page.getByTestId('tree-graph');
  const nodes = graph.getByTestId('tree-node');
  await expect(nodes).toHaveCount(5);  // Root, Branch, two Leafs under it, one Leaf under Root
  await expect(graph.locator('path.tree-edge')).toHaveCount(4);
  // Columns follow depth: the grandchildren sit right of their parent, right of the root.
  const xOf = async (instance) => Number(await graph.locator(`[data-instance="${instance}"] rect`).getAttribute('x'));
  const ids = await nodes.evaluateAll((list) => list.map((node) => node.getAttribute('data-instance')));
  const branch = ids.find((id) => id !== 'root-1' && ids.some((other) => other.startsWith(`${id}::`)));
  const grandchild = ids.find((id) => id.startsWith(`${branch}::`));
  expect(await xOf('root-1')).toBeLessThan(await xOf(branch));
  expect(await xOf(branch)).toBeLessThan(await xOf(grandchild));
  await expect(graph.locator('.tree-node.current')).toHaveAttribute('data-instance', 'root-1');
  await graph.locator(`[data-instance="${grandchild}"]`).click();
  await expect(page.getByTestId('details-id')).toHaveText(grandchild);
  await graph.locator('[data-instance="root-1"]').focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('details-id')).toHaveText('root-1');
  await shot(page, 'tree-graph');
  // The root's timeline has a bar per sub-orchestration it awaited.
  await page.getByTestId('view-timeline').click();
  await expect(page.getByTestId('history-timeline')).toContainText('sub Branch');
  await expect(page.getByTestId('history-timeline')).toContainText('sub Leaf');
  await expect(page.getByTestId('gantt-bar')).toHaveCount(3);
});

test('the keyboard focus stays on a tree link, a graph node or an execution button across redraws', async ({ page }) => {
  await start(page, 'Parent', '["a"]', 'kb-1');
  await expect(page.getByTestId('details-status')).toHaveText('Completed');
  const redraw = () => page.evaluate(() => window.dispatchEvent(new HashChangeEvent('hashchange')));
  for (const selector of ['#tree a[data-instance="kb-1"]', '#tree-graph [data-instance="kb-1"]', '#executions [data-testid="execution-1"]']) {
    await page.locator(selector).focus();
    await expect(page.locator(selector)).toBeFocused();
    await redraw();
    await expect(page.locator(selector), selector).toBeFocused();
  }
  // Enter on the redrawn tree link still opens it.
  await page.locator('#tree a[data-instance^="kb-1::"]').first().focus();
  await redraw();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('details-id')).toHaveText(/^kb-1::/);
});

test('the static playground works from a plain static host, below a path, and offline after one visit', async ({ page, context }) => {
  // build/playground-site/ (scripts/build.sh wasm) served by Python's static server from build/,
  // so the page lives at /playground-site/ and nothing maps paths for it.
  const port = 8300 + Math.floor(Math.random() * 500);
  const server = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', path.join(root, 'build')],
    { stdio: 'ignore' });
  try {
    const url = `http://127.0.0.1:${port}/playground-site/`;
    for (let i = 0; i < 50; i++) {
      try { if ((await fetch(url)).ok) break; } catch { /* not listening yet */ }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const site = await context.browser().newPage();
    const errors = [];
    site.on('pageerror', (error) => errors.push(error.message));
    await site.goto(url);
    await expect(site.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 30_000 });
    await expect(site.locator('body')).toHaveAttribute('data-offline', 'ready', { timeout: 30_000 });
    await start(site, 'HelloWorld', 'Ada', 'static-1');
    await expect(site.getByTestId('details-output')).toHaveText('Hi, Ada!');

    // The network goes away (and the server with it): a reload still opens the page, the
    // engine and the saved database.
    await site.context().setOffline(true);
    server.kill();
    await site.reload();
    await expect(site.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 30_000 });
    await expect(site.getByTestId('count-Completed')).toHaveText('Completed 1');
    await start(site, 'FanOutFanIn', '["x"]', 'static-2');
    await expect(site.getByTestId('details-output')).toHaveText('["Hello, x!"]');
    await shot(site, 'static-offline');
    await site.context().setOffline(false);
    expect(errors).toEqual([]);
    await site.close();
  } finally {
    server.kill();
  }
});

test('every control has a name, and the keyboard reaches the list\'s rows and the status chips', async ({ page }) => {
  await start(page, 'Parent', '["a"]', 'keys-1');
  await start(page, 'HelloWorld', 'Ada', 'keys-2');
  await page.getByTestId('view-timeline').click();
  // Controls without an accessible name (label, aria-label, title or a button's text).
  const unnamed = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea, button, [tabindex]')]
    .filter((control) => {
      const labels = control.labels ? [...control.labels].map((label) => label.textContent.trim()).join(' ') : '';
      const text = control.tagName === 'BUTTON' ? control.textContent.trim() : '';
      return !(control.getAttribute('aria-label') || labels || control.getAttribute('title') || text);
    })
    .map((control) => control.id || control.outerHTML.slice(0, 80)));
  expect(unnamed).toEqual([]);

  // Tab from the page size selector reaches the list's rows; Enter opens one, and the
  // row keeps the focus after the redraw, so arrowing on with Tab works.
  await page.getByTestId('page-size').focus();
  let reached = '';
  for (let i = 0; i < 12 && !reached.startsWith('keys-'); i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement.dataset.instance ?? '');
  }
  expect(reached).toMatch(/^keys-/);
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('details-id')).toHaveText(reached);
  expect(await page.evaluate(() => document.activeElement.dataset.instance)).toBe(reached);
  await page.keyboard.press('Tab');
  const next = await page.evaluate(() => document.activeElement.dataset.instance);
  await page.keyboard.press(' ');
  await expect(page.getByTestId('details-id')).toHaveText(next);
  // The status chips are buttons: Enter filters by status.
  await page.getByTestId('count-Completed').focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('filter-status')).toHaveValue('Completed');
  await shot(page, 'keyboard');
});

test('a workload generated from the code: its events and queues, simulated over seeds', async ({ page }) => {
  await page.getByTestId('code-text').fill(`registerOrchestration('Inbox', function* (ctx, input) {
  const first = yield ctx.dequeueEvent('mail');
  const go = yield ctx.waitForEvent('Go');
  return \`\${first} then \${go}\`;
});
`);
  await page.getByTestId('sim-world').selectOption('code');
  await page.getByTestId('sim-generate').click();
  const workload = await page.getByTestId('sim-workload').inputValue();
  expect(workload).toContain('const starts = [{"name":"Inbox","input":null}];');
  expect(workload).toContain('const events = ["Go"];');
  expect(workload).toContain('const queues = ["mail"];');
  await page.getByTestId('sim-seed').fill('1');
  await page.getByTestId('sim-tries').fill('8');
  await page.locator('#sim-steps').fill('800');
  await page.getByTestId('sim-find').click();
  await expect(page.getByTestId('sim-verdict')).toHaveText('seeds 1 to 8: no violation', { timeout: 60_000 });
  // The same workload finds code that fails when its event comes before the message.
  await page.getByTestId('code-text').fill(`registerOrchestration('Inbox', function* (ctx) {
  const which = yield ctx.race(ctx.dequeueEvent('mail'), ctx.waitForEvent('Go'));
  if (which.index === 1) throw new Error('the event came first');
  return 'ok';
});
`);
  await page.getByTestId('sim-find').click();
  await expect(page.getByTestId('sim-shrunk')).toContainText('the event came first', { timeout: 60_000 });
  await shot(page, 'sim-generated-workload');
});

test('an error the code throws shows its line in the details; the history holds the message alone', async ({ page }) => {
  await page.getByTestId('code-text').fill(`registerActivity('Check', (ctx, amount) => {
  if (amount > 100) throw new Error('over the limit');
  return amount;
});
registerOrchestration('Pay', function* (ctx, amount) {
  if (amount < 0) throw new Error('negative amount');
  return yield ctx.scheduleActivity('Check', amount);
});
`);
  await page.getByTestId('code-register').click();
  await start(page, 'Pay', '-5', 'pay-negative');
  await expect(page.getByTestId('details-error')).toHaveText('negative amount');
  await expect(page.getByTestId('details-error-place')).toHaveText(/^line 6:\d+ of the Code panel's code$/);
  await page.getByTestId('view-json').click();
  const failed = JSON.parse(await page.getByTestId('history-json').textContent()).at(-1);
  expect(failed.kind).toBe('OrchestrationFailed');
  expect(JSON.stringify(failed)).toContain('"negative amount"');
  expect(JSON.stringify(failed)).not.toContain('line');
  await page.getByTestId('view-compact').click();
  await start(page, 'Pay', '500', 'pay-large');
  await expect(page.getByTestId('details-error')).toHaveText('over the limit');
  await expect(page.getByTestId('details-error-place')).toHaveText(/^line 2:\d+ of the Code panel's code$/);
  // A task failure is the engine's, not the code's: no place for it.
  await start(page, 'Fails', 'boom', 'fails-1');
  await expect(page.getByTestId('details-error')).toHaveText('boom');
  await expect(page.getByTestId('details-error-place')).toHaveCount(0);
});
