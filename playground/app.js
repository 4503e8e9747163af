// The playground: the unchanged engine (WebAssembly) in the page, no server.
// State that a link should reopen (selected instance, execution, history view,
// simulation seed) lives in the URL hash; the database lives in IndexedDB so a
// reload or a shared link in the same browser finds the same instances.
import { $, el, download, readFile } from './js/dom.js';
import { catalog, dx } from './js/engine.js';
import { ui } from './js/state.js';
import { readHash, writeHash } from './js/hash.js';

// ---------------------------------------------------------------- errors

function showError(error) {
  const box = $('error');
  box.textContent = error ? (error.message ?? String(error)) : '';
  box.hidden = !error;
}

function action(fn) {
  return async (event) => {
    try {
      showError(null);
      await fn(event);
    } catch (error) {
      console.error(error);
      showError(error);
    }
    refresh();
    await persist();
  };
}

// ---------------------------------------------------------------- database (IndexedDB)

function idb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open('duroxide-playground', 1);
    request.onupgradeneeded = () => request.result.createObjectStore('files');
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function idbGet(key) {
  const db = await idb();
  return new Promise((resolve, reject) => {
    const request = db.transaction('files').objectStore('files').get(key);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function idbPut(key, value) {
  const db = await idb();
  return new Promise((resolve, reject) => {
    const tx = db.transaction('files', 'readwrite');
    tx.objectStore('files').put(value, key);
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
}

function openRuntime(bytes) {
  const runtime = new dx.Runtime(bytes ? { database: bytes } : {});
  if (ui.runtime) ui.runtime.close();
  ui.runtime = runtime;
  ui.client = new dx.RuntimeClient(runtime);
  ui.management = new dx.ManagementClient(runtime);
  ui.cursors = [''];
  ui.page = 0;
  ui.metricsCursor = 0;
  ui.metricsFeed = [];
  markDirty();
}

// Saves are chained so none overlaps another; body[data-saved] tells tests
// (and anyone curious) whether IndexedDB holds the latest state.
function persist() {
  ui.saveChain = ui.saveChain.then(async () => {
    if (!ui.dirty) return;
    ui.dirty = false;
    try {
      await idbPut('database', ui.runtime.saveDatabase());
    } catch (error) {
      console.warn('could not keep the database in IndexedDB', error);
    }
  }).finally(() => {
    document.body.dataset.saved = ui.dirty ? 'no' : 'yes';
  });
  return ui.saveChain;
}

// ---------------------------------------------------------------- running

function work() {
  const steps = ui.runtime.runUntilIdle(100_000);
  if (steps > 0) markDirty();
  return steps;
}

function markDirty() {
  ui.dirty = true;
  document.body.dataset.saved = 'no';
}

setInterval(() => {
  if (!ui.runtime || !$('auto-run').checked) return;
  ui.runtime.advanceTime(250);
  if (work() > 0) refresh();
  else $('clock').textContent = new Date(ui.runtime.nowMs()).toISOString();
}, 250);
setInterval(persist, 1000);

// ---------------------------------------------------------------- start panel

function fillStartForm() {
  const sample = catalog.find((s) => s.name === $('start-name').value) ?? catalog[0];
  $('start-input').value = sample.example_input;
  $('start-description').textContent = sample.description;
  $('start-id').value = `${sample.name.toLowerCase()}-${Date.now().toString(36)}-${++ui.started}`;
}
for (const sample of catalog) {
  $('start-name').append(el('option', { value: sample.name }, sample.name));
  $('filter-name').append(el('option', { value: sample.name }, sample.name));
  $('metrics-name').append(el('option', { value: sample.name }, sample.name));
}
$('start-name').addEventListener('change', fillStartForm);

$('start').addEventListener('click', action(() => {
  const instance = $('start-id').value.trim();
  ui.client.startOrchestration(instance, $('start-name').value, $('start-input').value,
    { version: $('start-version').value.trim() });
  work();
  select(instance);
  fillStartForm();
}));

// ---------------------------------------------------------------- list panel

function currentFilter() {
  const filter = {};
  if ($('filter-status').value) filter.states = [$('filter-status').value];
  if ($('filter-name').value) filter.name = $('filter-name').value;
  if ($('filter-prefix').value.trim()) filter.prefix = $('filter-prefix').value.trim();
  return filter;
}

function resetPaging() {
  ui.cursors = [''];
  ui.page = 0;
}

for (const id of ['filter-status', 'filter-name', 'page-size']) {
  $(id).addEventListener('change', () => { resetPaging(); refresh(); });
}
$('filter-prefix').addEventListener('input', () => { resetPaging(); refresh(); });
$('page-next').addEventListener('click', () => {
  if (!ui.nextCursor) return;
  ui.cursors[ui.page + 1] = ui.nextCursor;
  ui.page += 1;
  refresh();
});
$('page-prev').addEventListener('click', () => {
  if (ui.page > 0) ui.page -= 1;
  refresh();
});

function renderCounts() {
  const counts = ui.management.countByStatus(currentFilter().name ? { name: currentFilter().name } : {});
  const box = $('counts');
  box.replaceChildren();
  for (const state of ['Running', 'Completed', 'Failed']) {
    box.append(el('span', {
      class: `chip status-${state}`, 'data-testid': `count-${state}`,
      onclick: () => { $('filter-status').value = state; resetPaging(); refresh(); },
    }, `${state} ${counts[state] ?? 0}`));
  }
}

function renderList() {
  const page = ui.management.listInstances(currentFilter(),
    { cursor: ui.cursors[ui.page] ?? '', limit: Number($('page-size').value) });
  ui.nextCursor = page.next_cursor;
  const body = $('instances').tBodies[0];
  body.replaceChildren();
  for (const summary of page.instances) {
    const row = el('tr', { 'data-instance': summary.instance, onclick: () => select(summary.instance) },
      el('td', {}, summary.instance),
      el('td', {}, summary.orchestration),
      el('td', { class: `status-${summary.status}` }, summary.status),
      el('td', { class: 'result', title: summary.preview }, summary.preview || summary.custom_status || ''));
    if (summary.instance === ui.instance) row.classList.add('selected');
    body.append(row);
  }
  if (page.instances.length === 0) body.append(el('tr', {}, el('td', { colSpan: 4, class: 'hint' }, 'no instances')));
  $('page-label').textContent = `page ${ui.page + 1}`;
  $('page-prev').disabled = ui.page === 0;
  $('page-next').disabled = !page.next_cursor;
}

// ---------------------------------------------------------------- details panel

function select(instance, execution = 0) {
  ui.instance = instance;
  ui.execution = execution;
  writeHash();
  refresh();
}

function describeEvent(e) {
  const parts = [];
  for (const key of ['name', 'input', 'result', 'output', 'data', 'instance', 'reason', 'status']) {
    if (e[key] !== undefined && e[key] !== '') parts.push(`${key}=${JSON.stringify(e[key])}`);
  }
  const error = e.error ?? e.details;
  if (error) parts.push(`error=${JSON.stringify(error.message ?? error)}`);
  if (e.fire_at_ms) parts.push(`fire_at=+${e.fire_at_ms - e.timestamp_ms}ms`);
  return `${e.kind}(${parts.join(', ')})`;
}

const completionKinds = new Set(['ActivityCompleted', 'ActivityFailed', 'TimerFired',
  'SubOrchestrationCompleted', 'SubOrchestrationFailed']);

function renderCompact(history) {
  const completions = new Map();
  for (const e of history) if (completionKinds.has(e.kind)) completions.set(e.source_event_id, e);
  const box = el('div', { 'data-testid': 'history-compact' });
  for (const e of history) {
    if (completionKinds.has(e.kind)) continue;  // shown beside what scheduled it
    const done = completions.get(e.event_id);
    const row = el('div', { class: 'compact-row', 'data-event': String(e.event_id) }, `#${e.event_id} ${describeEvent(e)}`);
    if (done) {
      row.append(el('span', { class: 'arrow' }, ' → '),
        `${describeEvent(done)} after ${done.timestamp_ms - e.timestamp_ms} ms`);
    } else if (['ActivityScheduled', 'TimerCreated', 'SubOrchestrationScheduled'].includes(e.kind)) {
      row.append(el('span', { class: 'arrow' }, ' → '), el('i', {}, 'pending'));
    }
    box.append(row);
  }
  return box;
}

function renderTimeline(history) {
  const start = history.length ? history[0].timestamp_ms : 0;
  const span = Math.max(1, (history.length ? history[history.length - 1].timestamp_ms : 0) - start);
  const box = el('div', { 'data-testid': 'history-timeline' });
  for (const e of history) {
    const offset = e.timestamp_ms - start;
    const bar = el('div', { class: 'bar' });
    bar.style.marginLeft = `${(offset / span) * 90}%`;
    bar.style.width = '2%';
    box.append(el('div', { class: 'timeline-row' }, `+${offset} ms`, `#${e.event_id} ${e.kind}`, bar));
  }
  return box;
}

function renderDetails() {
  $('details-id').textContent = ui.instance || '—';
  if (!ui.instance) {
    $('details-body').hidden = true;
    $('details-empty').hidden = false;
    $('details-empty').textContent = 'Select an instance.';
    return;
  }
  let details;
  try {
    details = ui.management.getInstanceDetails(ui.instance);
  } catch (error) {
    $('details-body').hidden = true;
    $('details-empty').hidden = false;
    $('details-empty').textContent = error.kind === 'NotFound'
      ? `Instance ${ui.instance} is not in this database (yet).` : error.message;
    return;
  }
  $('details-body').hidden = false;
  $('details-empty').hidden = true;
  const summary = $('details-summary');
  summary.replaceChildren();
  const add = (term, value, testid) => summary.append(el('dt', {}, term), el('dd', testid ? { 'data-testid': testid } : {}, value));
  add('status', details.status, 'details-status');
  add('orchestration', `${details.orchestration} ${details.version}`);
  if (details.output !== null) add('output', details.output, 'details-output');
  if (details.error) add('error', details.error.message, 'details-error');
  add('custom status', details.custom_status ?? '—', 'details-custom-status');
  if (details.parent) add('parent', details.parent);
  add('created', new Date(details.created_at_ms).toISOString());
  add('updated', new Date(details.updated_at_ms).toISOString());

  const pending = $('pending').tBodies[0];
  pending.replaceChildren();
  for (const work of details.pending) {
    const detail = work.kind === 'timer' ? `fires at ${new Date(work.fire_at_ms).toISOString()}`
      : work.instance || work.input;
    pending.append(el('tr', {}, el('td', {}, work.kind), el('td', {}, work.name), el('td', {}, detail)));
  }
  if (details.pending.length === 0) pending.append(el('tr', {}, el('td', { colSpan: 3, class: 'hint' }, 'nothing pending')));

  const executions = $('executions');
  executions.replaceChildren();
  const current = details.current_execution;
  const shown = ui.execution || current;
  for (const execution of details.execution_list) {
    executions.append(el('button', {
      'data-testid': `execution-${execution.execution}`,
      class: execution.execution === shown ? 'active' : '',
      onclick: () => select(ui.instance, execution.execution),
    }, `#${execution.execution} ${execution.status}${execution.continued_as_new ? ' (continued)' : ''} · ${execution.events} events`));
  }

  for (const tab of document.querySelectorAll('.tabs button')) tab.classList.toggle('active', tab.dataset.view === ui.view);
  const history = ui.management.readExecution(ui.instance, shown);
  ui.shownHistory = history;
  const box = $('history');
  box.replaceChildren(ui.view === 'json' ? el('pre', { 'data-testid': 'history-json' }, JSON.stringify(history, null, 2))
    : ui.view === 'timeline' ? renderTimeline(history) : renderCompact(history));
}

for (const tab of document.querySelectorAll('.tabs button')) {
  tab.addEventListener('click', () => { ui.view = tab.dataset.view; writeHash(); refresh(); });
}

$('raise').addEventListener('click', action(() => {
  ui.client.raiseEvent(ui.instance, $('event-name').value, $('event-data').value);
  work();
}));
$('enqueue').addEventListener('click', action(() => {
  ui.client.enqueueEvent(ui.instance, $('queue-name').value, $('queue-data').value);
  work();
}));
$('cancel').addEventListener('click', action(() => {
  const accepted = ui.client.cancelInstance(ui.instance, $('cancel-reason').value || 'canceled from the playground');
  if (!accepted) throw new Error(`${ui.instance} had already finished`);
  work();
}));
$('export').addEventListener('click', action(() => {
  download(`${ui.instance}.json`, JSON.stringify(ui.management.exportInstance(ui.instance), null, 2), 'application/json');
}));
$('delete').addEventListener('click', action(() => {
  ui.management.deleteInstance(ui.instance, { force: true });
  markDirty();
  select('');
}));

// ---------------------------------------------------------------- replay

function startReplay(history, source, fromInstance, index = 0) {
  const report = dx.replayHistory(history);
  ui.replay = { report, index: Math.min(Math.max(0, index), Math.max(0, report.steps.length - 1)), fromInstance };
  $('replay-panel').hidden = false;
  $('replay-source').textContent = source;
  $('scrubber').max = String(Math.max(0, report.steps.length - 1));
  $('scrubber').value = String(ui.replay.index);
  $('replay-count').textContent = String(report.steps.length);
  const verdict = $('replay-verdict');
  if (report.deterministic) {
    verdict.className = 'ok';
    verdict.textContent = `deterministic: the code reproduces all ${report.events} events`;
  } else if (report.mismatch) {
    verdict.className = 'bad';
    verdict.textContent = `nondeterministic: ${JSON.stringify(report.mismatch)}`;
  } else {
    verdict.className = 'bad';
    verdict.textContent = `cannot replay: ${report.error ? report.error.message : 'unknown error'}`;
  }
  renderReplayStep();
  writeHash();
}

function renderReplayStep() {
  const { report, index } = ui.replay;
  const step = report.steps[index];
  if (!step) return;
  $('replay-index').textContent = String(index + 1);
  $('replay-event').textContent = `#${step.event.event_id} ${describeEvent(step.event)}`;
  const state = $('replay-state');
  state.replaceChildren(
    el('dt', {}, 'state'), el('dd', { 'data-testid': 'replay-status' }, step.state),
    el('dt', {}, 'custom status'), el('dd', { 'data-testid': 'replay-custom-status' }, step.custom_status ?? '—'),
    el('dt', {}, 'cancel requested'), el('dd', {}, String(step.cancel_requested)));
  $('replay-pending').replaceChildren(...(step.pending.length ? step.pending.map((w) =>
    el('li', {}, `${w.kind} ${w.name}${w.input ? ` (${w.input})` : ''}`)) : [el('li', { class: 'hint' }, 'nothing pending')]));
  $('replay-logs').replaceChildren(...(step.logs.length ? step.logs.map((l) =>
    el('li', {}, typeof l === 'string' ? l : `${l.level ?? ''} ${l.message ?? JSON.stringify(l)}`)) : [el('li', { class: 'hint' }, 'no log lines')]));
}

$('scrubber').addEventListener('input', () => {
  ui.replay.index = Number($('scrubber').value);
  renderReplayStep();
  writeHash();
});
$('replay-this').addEventListener('click', action(() => {
  startReplay(ui.shownHistory, `${ui.instance} execution ${ui.execution || 'current'}`, true);
}));

$('replay-file').addEventListener('change', action(async (event) => {
  const file = await readFile(event.target);
  const text = await file.text();
  startReplay(text, file.name, false);
}));
$('import-instance').addEventListener('change', action(async (event) => {
  const file = await readFile(event.target);
  const instance = ui.management.importInstance(await file.text());
  markDirty();
  select(instance);
}));

// ---------------------------------------------------------------- database files

$('open-db').addEventListener('change', action(async (event) => {
  const file = await readFile(event.target);
  openRuntime(new Uint8Array(await file.arrayBuffer()));
  select('');
}));
$('download-db').addEventListener('click', action(() => {
  download('duroxide.db', ui.runtime.saveDatabase(), 'application/vnd.sqlite3');
}));
$('new-db').addEventListener('click', action(() => {
  openRuntime(null);
  select('');
}));
$('run-idle').addEventListener('click', action(() => work()));
$('advance-minute').addEventListener('click', action(() => { ui.runtime.advanceTime(60_000); work(); }));
$('advance-hour').addEventListener('click', action(() => { ui.runtime.advanceTime(3_600_000); work(); }));

// ---------------------------------------------------------------- simulation

const defaultFaults = new Set(dx.defaultFaultKinds());
for (const kind of dx.faultKinds()) {
  $('sim-faults').append(el('label', {}, el('input', { type: 'checkbox', value: kind, checked: defaultFaults.has(kind) }), ` ${kind}`));
}

function runSeed() {
  const seed = Number($('sim-seed').value);
  if (!Number.isInteger(seed) || seed < 0) throw new Error('the seed must be a non-negative integer');
  const faults = [...$('sim-faults').querySelectorAll('input:checked')].map((box) => box.value);
  const result = dx.runSimulation({
    seed, faults,
    steps: Number($('sim-steps').value), nodes: Number($('sim-nodes').value), instances: Number($('sim-instances').value),
  });
  ui.simSeed = seed;
  writeHash();
  const box = $('sim-result');
  const faultRows = Object.entries(result.faults_injected).map(([kind, count]) =>
    el('tr', {}, el('td', {}, kind), el('td', { 'data-testid': `fault-${kind}` }, String(count)),
      el('td', { class: 'hint' }, `${result.fault_ppm[kind]} ppm`)));
  box.replaceChildren(
    el('p', { class: result.ok ? 'ok' : 'bad', 'data-testid': 'sim-verdict' },
      result.ok ? `seed ${result.seed}: no violation` : `seed ${result.seed}: ${result.violations.length} violation(s)`),
    el('p', {}, 'trace hash ', el('code', { 'data-testid': 'sim-hash' }, result.hash),
      ` · ${result.steps} steps · ${result.instances} instances (${result.completed} completed, ${result.failed} failed) · ${result.node_restarts} node restarts · ${result.virtual_ms} ms virtual`),
    el('p', {}, 'reproduce: ', el('code', { 'data-testid': 'sim-reproduce' }, result.reproduce)),
    el('table', { 'data-testid': 'sim-fault-table' }, el('thead', {}, el('tr', {}, el('th', {}, 'fault'), el('th', {}, 'injected'), el('th', {}, 'probability'))),
      el('tbody', {}, ...faultRows)),
    el('h3', {}, 'Violations'),
    el('ul', { 'data-testid': 'sim-violations' }, ...(result.violations.length
      ? result.violations.map((v) => el('li', {}, `${v.invariant} ${v.instance}: ${v.detail} (step ${v.step})`))
      : [el('li', { class: 'hint' }, 'none')])),
    el('h3', {}, `Trace (${result.trace_lines} lines${result.trace_lines > result.trace.length ? `, first ${result.trace.length}` : ''})`),
    el('pre', { 'data-testid': 'sim-trace' }, result.trace.slice(0, 2000).join('\n')));
}
$('sim-run').addEventListener('click', action(runSeed));

// ---------------------------------------------------------------- metrics

// The chart re-reads the store's buckets; the feed keeps its own cursor into the
// change feed (ui.metricsCursor, reset with the database), as a dashboard would.

function metricsQuery() {
  return {
    metric: $('metrics-metric').value === 'duration' ? 'duration' : 'all',
    orchestration: $('metrics-name').value,
    bucket: $('metrics-bucket').value,
  };
}

function renderMetrics() {
  const series = ui.management.getTimeSeries(metricsQuery());
  const metric = $('metrics-metric').value;
  const value = (p) => (metric === 'duration' ? p.duration_avg_ms : p[metric]);
  const values = series.points.map(value);
  const max = Math.max(1, ...values);
  const width = 600 / series.points.length;
  const chart = $('metrics-chart');
  chart.replaceChildren(...series.points.map((p, i) => {
    const rect = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
    const height = (values[i] / max) * 110;
    rect.setAttribute('x', String(i * width + 0.5));
    rect.setAttribute('y', String(118 - height));
    rect.setAttribute('width', String(Math.max(1, width - 1)));
    rect.setAttribute('height', String(height));
    if (metric === 'failures') rect.setAttribute('class', 'failures');
    const title = document.createElementNS('http://www.w3.org/2000/svg', 'title');
    title.textContent = `${new Date(p.bucket_start_ms).toISOString()}: ${values[i]}`;
    rect.append(title);
    return rect;
  }));
  const sum = (key) => series.points.reduce((n, p) => n + (p[key] ?? 0), 0);
  $('metrics-totals').textContent = metric === 'duration'
    ? `finished ${sum('duration_count')}, average ${sum('duration_count') ? Math.round(sum('duration_sum_ms') / sum('duration_count')) : 0} ms, peak bucket average ${max} ms`
    : `starts ${sum('starts')} · completions ${sum('completions')} · failures ${sum('failures')} · peak ${max} ${metric} per ${series.bucket}`;

  for (let round = 0; round < 10; round++) {
    const page = ui.management.watchMetrics(ui.metricsCursor, 200);
    ui.metricsCursor = page.next_cursor;
    for (const d of page.deltas) {
      const finish = d.completions ? `completed in ${d.duration_ms} ms` : d.failures ? `failed after ${d.duration_ms} ms` : '';
      const what = d.starts && finish ? `started and ${finish}` : d.starts ? 'started' : finish;
      ui.metricsFeed.unshift(`#${d.seq} ${d.orchestration} ${d.instance} ${what}`);
    }
    if (page.deltas.length < 200) break;
  }
  ui.metricsFeed.length = Math.min(ui.metricsFeed.length, 50);
  $('metrics-feed').replaceChildren(...ui.metricsFeed.map((line) => el('li', {}, line)));
}

function downloadMetricsCsv() {
  const series = ui.management.getTimeSeries({ ...metricsQuery(), metric: 'all' });
  const columns = ['bucket_start_ms', 'starts', 'completions', 'failures', 'duration_count', 'duration_sum_ms', 'duration_avg_ms'];
  const quote = (v) => (/[",\r\n]/.test(String(v)) ? `"${String(v).replaceAll('"', '""')}"` : String(v));
  const lines = [columns.join(','), ...series.points.map((p) => columns.map((c) => quote(p[c] ?? '')).join(','))];
  download('duroxide-timeseries.csv', lines.join('\r\n') + '\r\n', 'text/csv');
}

for (const id of ['metrics-metric', 'metrics-name', 'metrics-bucket']) $(id).addEventListener('change', () => refresh());
$('metrics-csv').addEventListener('click', action(downloadMetricsCsv));

// ---------------------------------------------------------------- refresh and start

function refresh() {
  if (!ui.runtime) return;
  try {
    $('clock').textContent = new Date(ui.runtime.nowMs()).toISOString();
    renderCounts();
    renderList();
    renderDetails();
    renderMetrics();
  } catch (error) {
    console.error(error);
    showError(error);
  }
}

window.addEventListener('hashchange', () => {
  readHash();
  refresh();
});

let saved = null;
try {
  saved = await idbGet('database');
} catch (error) {
  console.warn('IndexedDB unavailable; the database lives only in this page', error);
}
try {
  openRuntime(saved ?? null);
} catch (error) {
  showError(new Error(`the saved database could not be opened (${error.message}); starting a new one`));
  openRuntime(null);
}
fillStartForm();
const initial = readHash();
refresh();
if (initial.seed !== null && /^\d+$/.test(initial.seed)) action(runSeed)();
if (initial.step !== null && ui.instance && ui.shownHistory) {
  startReplay(ui.shownHistory, `${ui.instance} execution ${ui.execution || 'current'}`, true, Number(initial.step));
}
$('loading').textContent = 'ready';
document.body.dataset.ready = 'true';
