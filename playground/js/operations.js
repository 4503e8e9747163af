// The operations panel: what an operator checks first, one tab each — health and
// problematic instances, queue depths, statistics with duration percentiles, the
// store's diagnostics, and retention (purge old finished instances, keep the last
// executions of continue-as-new loops). Only the open tab reads the store on a redraw.
import { $, el } from './dom.js';
import { ui } from './state.js';
import { action, refresh } from './refresh.js';
import { select } from './details.js';
import { currentFilter } from './list.js';
import { confirmable } from './confirm.js';
import { markDirty } from './runtime.js';

const cell = (value, props = {}) => el('td', props, value);
const table = (testid, columns, rows) => el('table', { 'data-testid': testid },
  el('thead', {}, el('tr', {}, ...columns.map((c) => el('th', {}, c)))),
  el('tbody', {}, ...rows));
const ms = (value) => (value === null || value === undefined ? '—' : `${value} ms`);

function pairs(testid, entries) {
  const list = el('dl', { 'data-testid': testid });
  for (const [term, value] of entries) list.append(el('dt', {}, term), el('dd', { 'data-key': term }, String(value)));
  return list;
}

// A list of instance summaries whose ids open the instance in the details panel.
function instanceList(testid, title, summaries) {
  const items = summaries.map((s) => el('li', {},
    el('a', { href: '#', 'data-instance': s.instance, onclick: (event) => { event.preventDefault(); select(s.instance); } }, s.instance),
    ` ${s.orchestration} · ${s.status}${s.preview ? ` · ${s.preview}` : ''}`));
  if (items.length === 0) items.push(el('li', { class: 'hint' }, 'none'));
  return el('div', {}, el('h3', {}, `${title} (${summaries.length})`), el('ul', { 'data-testid': testid }, ...items));
}

// The health tab's thresholds, as durations (1h, 10m, ...), passed to both reads.
function healthControls() {
  const field = (id, label, value) => el('label', {}, `${label} `, el('input', { id, value, size: 5, 'data-testid': id }));
  return el('div', { class: 'filters' }, field('health-long-running', 'long-running after', '1h'),
    field('health-no-progress', 'no progress for', '10m'), field('health-failure-window', 'failures within', '1h'));
}

function renderHealth() {
  const thresholds = {
    longRunningMs: $('health-long-running').value,
    noProgressMs: $('health-no-progress').value,
    recentFailureWindowMs: $('health-failure-window').value,
  };
  const health = ui.management.getSystemHealth(thresholds);
  const problems = ui.management.getProblematicInstances({ limit: 20, ...thresholds });
  const counts = Object.entries(health.counts).map(([state, n]) => `${state} ${n}`).join(' · ') || 'no instances';
  return [
    el('p', {}, 'score ', el('b', { 'data-testid': 'health-score', class: health.score >= 80 ? 'ok' : 'bad' }, String(health.score)),
      ' of 100 · ', counts),
    instanceList('problem-long-running', 'Long-running', problems.long_running),
    instanceList('problem-no-progress', 'No progress', problems.no_progress),
    instanceList('problem-failed', 'Recently failed', problems.recently_failed),
  ];
}

function renderQueues() {
  const q = ui.management.getQueueDepths();
  const rows = [
    ['orchestrator', q.orchestrator_visible, q.orchestrator_delayed, q.orchestrator_locked, ms(q.oldest_orchestrator_age_ms)],
    ['worker (activities)', q.worker_visible, '—', q.worker_locked, ms(q.oldest_worker_age_ms)],
  ].map((r) => el('tr', { 'data-queue': r[0] }, ...r.map((v) => cell(String(v)))));
  // Activity sessions: which runtime holds each (the page's runtime is "local") and the
  // activities waiting in it.
  const sessions = ui.management.listSessions({ limit: 100 }).map((s) => el('tr', { 'data-session': s.session_id },
    ...[s.session_id, s.owner_id, `${s.held ? 'held' : 'expired'} at ${new Date(s.locked_until_ms).toISOString()}`,
      s.queued_items].map((v) => cell(String(v)))));
  return [
    table('queue-depths', ['queue', 'ready', 'delayed', 'locked', 'oldest waiting'], rows),
    pairs('queue-timers', [['timers due', q.timers_due], ['timers pending', q.timers_pending], ['parked messages', q.parked]]),
    el('h3', {}, 'Activity sessions ', el('span', { class: 'hint' }, 'claimed by the runtime that first ran one of their activities')),
    sessions.length ? table('sessions', ['session', 'held by', 'lock', 'queued activities'], sessions)
      : el('p', { class: 'hint', 'data-testid': 'sessions-none' }, 'no activity sessions'),
    ...parkedMessages(),
  ];
}

// The messages the store parked because nothing would consume them (for an instance that
// does not exist, or a worker row that does not decode), the oldest 100, each deletable.
function parkedMessages() {
  const shown = (text) => (text.length > 200 ? `${text.slice(0, 200)}…` : text);
  const rows = ui.management.listParkedMessages({ limit: 100 }).map((m) => el('tr', { 'data-parked': String(m.id) },
    ...[m.id, m.instance, m.reason, new Date(m.parked_at_ms).toISOString(), shown(m.item)].map((v) => cell(String(v))),
    el('td', {}, el('button', {
      'data-testid': `parked-delete-${m.id}`,
      onclick: action(() => {
        ui.management.deleteParkedMessages([m.id]);
        markDirty();  // saved with the page's database
      }),
    }, 'delete'))));
  return [
    el('h3', {}, 'Parked messages ', el('span', { class: 'hint' }, 'messages nothing would consume, kept for you to read')),
    rows.length ? table('parked', ['id', 'instance', 'reason', 'parked at', 'item', ''], rows)
      : el('p', { class: 'hint', 'data-testid': 'parked-none' }, 'no parked messages'),
  ];
}

function renderStatistics() {
  const orchestrations = ui.management.getOrchestrationStats().map((s) => {
    const d = ui.management.getPerformanceMetrics(s.name);
    const pct = (value) => (d.count ? ms(value) : '—');  // no finished execution, no durations
    return el('tr', { 'data-name': s.name }, ...[s.name, s.running, s.completed, s.failed, s.continued, d.count,
      pct(d.p50_ms), pct(d.p95_ms), pct(d.p99_ms), pct(d.max_ms)].map((v) => cell(String(v))));
  });
  const activities = ui.management.getActivityStats().map((a) => el('tr', { 'data-name': a.name },
    ...[a.name, a.scheduled, a.completed, a.failed, `${(a.failure_rate * 100).toFixed(1)} %`, ms(a.avg_duration_ms)]
      .map((v) => cell(String(v)))));
  const m = ui.management.getSystemMetrics();
  return [
    pairs('system-metrics', [['instances', m.total_instances], ['executions', m.total_executions], ['events', m.total_events]]),
    el('h3', {}, 'Orchestrations ', el('span', { class: 'hint' }, 'durations of finished executions')),
    table('orchestration-stats', ['name', 'running', 'completed', 'failed', 'continued', 'finished', 'p50', 'p95', 'p99', 'max'], orchestrations),
    el('h3', {}, 'Activities'),
    table('activity-stats', ['name', 'scheduled', 'completed', 'failed', 'failure rate', 'average'], activities),
  ];
}

function renderDiagnostics() {
  const d = ui.management.getProviderDiagnostics();
  const rows = Object.entries(d.table_rows ?? {}).map(([name, n]) => `${name} ${n}`).join(' · ');
  return [pairs('diagnostics', [
    ['store', `${d.store_kind} ${d.store_version}`], ['schema version', d.schema_version],
    ['journal mode', d.journal_mode], ['size', `${d.database_bytes} bytes (${d.page_count} pages of ${d.page_size}, ${d.free_pages} free)`],
    ['round trips', `${d.round_trips} (last ${d.round_trip_us} µs)`], ['errors', d.error_count],
    ['last error', d.last_error ?? '—'], ['rows', rows || '—'],
  ])];
}

// The retention tab's forms are built once (their inputs keep what was typed).
function retentionForms() {
  const purge = el('div', { class: 'filters' },
    el('label', {}, 'Purge instances finished longer ago than ',
      el('input', { id: 'retention-age', value: '7d', size: 6, 'data-testid': 'retention-age' })),
    el('button', { id: 'retention-purge-preview', 'data-testid': 'retention-purge-preview' }, 'Preview'),
    el('button', { id: 'retention-purge-confirm', 'data-testid': 'retention-purge-confirm' }, 'Purge'));
  const prune = el('div', { class: 'filters' },
    el('label', {}, 'Keep the last ',
      el('input', { id: 'retention-keep', type: 'number', min: 1, value: 1, size: 4, 'data-testid': 'retention-keep' }),
      ' executions of each instance the list\'s filter matches'),
    el('button', { id: 'retention-prune-preview', 'data-testid': 'retention-prune-preview' }, 'Preview'),
    el('button', { id: 'retention-prune-confirm', 'data-testid': 'retention-prune-confirm' }, 'Prune'));
  return el('div', {}, purge, el('p', { id: 'retention-purge-progress', 'data-testid': 'retention-purge-progress', role: 'status' }),
    prune, el('p', { id: 'retention-prune-progress', 'data-testid': 'retention-prune-progress', role: 'status' }));
}

function wireRetention() {
  confirmable({
    preview: $('retention-purge-preview'), confirm: $('retention-purge-confirm'),
    progress: $('retention-purge-progress'), inputs: [$('retention-age')],
    walk: (extra) => ui.management.purgeCompletedAll($('retention-age').value, { limit: 100, ...extra }),
  });
  confirmable({
    preview: $('retention-prune-preview'), confirm: $('retention-prune-confirm'),
    progress: $('retention-prune-progress'),
    inputs: ['retention-keep', 'filter-status', 'filter-name', 'filter-prefix', 'filter-contains'].map($),
    walk: (extra) => ui.management.pruneExecutionsBulkAll(currentFilter(), { keepLast: Number($('retention-keep').value), batch: 100, ...extra }),
  });
}

function renderRetention() {
  const m = ui.management.getSystemMetrics();
  return [el('p', { class: 'hint', 'data-testid': 'retention-totals' },
    `${m.total_instances} instances (${m.completed + m.failed} finished), ${m.total_executions} executions, ${m.total_events} events`)];
}

// Per tab: controls built once (inputs keep what was typed across redraws; `wire`
// attaches their listeners once they are in the document) and results redrawn from the store.
const kTabs = {
  health: { controls: healthControls, render: renderHealth },
  queues: { render: renderQueues },
  statistics: { render: renderStatistics },
  diagnostics: { render: renderDiagnostics },
  retention: { controls: retentionForms, wire: wireRetention, render: renderRetention },
};
let openTab = 'health';
const built = {};

function tabNode(name) {
  if (!built[name]) {
    const tab = kTabs[name];
    built[name] = { node: el('div'), results: el('div') };
    built[name].node.append(...(tab.controls ? [tab.controls()] : []), built[name].results);
    $('ops-body').replaceChildren(built[name].node);
    if (tab.wire) tab.wire();
  }
  return built[name];
}

export function renderOperations() {
  for (const tab of document.querySelectorAll('#ops-tabs button')) {
    tab.classList.toggle('active', tab.dataset.tab === openTab);
    tab.setAttribute('aria-selected', String(tab.dataset.tab === openTab));
  }
  const { node, results } = tabNode(openTab);
  const body = $('ops-body');
  if (body.firstChild !== node) body.replaceChildren(node);
  // Unchanged results stay as they are: replacing them would lose a click that a redraw
  // (the blur of a threshold input) lands between its press and release.
  const fresh = el('div', {}, ...kTabs[openTab].render());
  if (fresh.innerHTML !== results.innerHTML) results.replaceChildren(...fresh.childNodes);
}

export function initOperations() {
  const tabs = $('ops-tabs');
  for (const name of Object.keys(kTabs)) {
    tabs.append(el('button', { role: 'tab', 'data-tab': name, 'data-testid': `ops-${name}`,
      onclick: action(() => { openTab = name; }) }, name));
  }
  $('ops-refresh').addEventListener('click', () => refresh());
  for (const id of ['health-long-running', 'health-no-progress', 'health-failure-window']) {
    tabNode('health').node.querySelector(`#${id}`).addEventListener('change', () => refresh());
  }
}
