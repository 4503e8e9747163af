// The details panel: the selected instance's summary, pending work,
// executions and history (compact, timeline or JSON), and the actions on it.
import { $, el, download } from './dom.js';
import { ui } from './state.js';
import { renderGantt } from './gantt.js';
import { renderTreeGraph } from './tree_graph.js';
import { placeOfError } from './usercode.js';
import { writeHash } from './hash.js';
import { closeReplay, markDirty, work } from './runtime.js';
import { action, refresh } from './refresh.js';

// The history view reads and draws an execution a page at a time: a million events
// would stall the page on every redraw.
export const HISTORY_PAGE = 2000;

export function select(instance, execution = 0) {
  const replayed = ui.replay;
  if (replayed?.fromInstance && (replayed.instance !== instance || replayed.execution !== execution)) closeReplay();
  ui.instance = instance;
  ui.execution = execution;
  writeHash();
  refresh();
}

export function describeEvent(e) {
  const parts = [];
  for (const key of ['name', 'input', 'result', 'output', 'data', 'instance', 'reason', 'status']) {
    if (e[key] !== undefined && e[key] !== '') parts.push(`${key}=${JSON.stringify(e[key])}`);
  }
  const error = e.error ?? e.details;
  if (error) parts.push(`error=${JSON.stringify(error.message ?? error)}`);
  if (e.fire_at_ms) parts.push(`fire_at=+${e.fire_at_ms - e.timestamp_ms}ms`);
  // An activity's routing, as the engine describes it (event.cpp): its tag and session.
  if (e.tag) parts.push(`tag=${JSON.stringify(e.tag)}`);
  if (e.session_id) parts.push(`session=${JSON.stringify(e.session_id)}`);
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


// The root of the instance's tree: parents followed up at most 32 levels (sub-orchestrations
// nest far less; a missing parent — deleted, or in another database — ends the walk).
function rootOf(details) {
  let root = details;
  for (let depth = 0; depth < 32 && root.parent; depth++) {
    try {
      root = ui.management.getInstanceDetails(root.parent);
    } catch (error) {
      if (error.kind === 'NotFound') break;
      throw error;
    }
  }
  return root.instance;
}

function treeNode(node) {
  const link = el('a', {
    href: '#', 'data-instance': node.instance, class: node.instance === ui.instance ? 'current' : '',
    onclick: (event) => { event.preventDefault(); select(node.instance); },
  }, node.instance);
  const item = el('li', {}, link, ` ${node.orchestration} · `, el('span', { class: `status-${node.status}` }, node.status));
  if (node.children.length) item.append(el('ul', {}, ...node.children.map(treeNode)));
  return item;
}

// What the instance holds in the store (getInstanceStats) and its key-value store.
function renderStatsAndValues() {
  const stats = ui.management.getInstanceStats(ui.instance);
  const list = $('instance-stats');
  list.replaceChildren();
  const add = (term, value) => list.append(el('dt', {}, term), el('dd', { 'data-key': term }, value));
  if (stats) {
    add('history', `${stats.history_event_count} events, ${stats.history_size_bytes} bytes (execution ${stats.execution_id})`);
    add('messages', `${stats.queue_pending_count} waiting in its queue (timers included), `
      + `${stats.carry_forward_count} delivered and not taken by a wait`);
    add('values', `${stats.kv_user_key_count} keys, ${stats.kv_total_value_bytes} bytes`);
  }
  const body = $('values').tBodies[0];
  const values = Object.entries(ui.client.getAllValues(ui.instance));
  body.replaceChildren(...values.map(([key, value]) => el('tr', {}, el('td', {}, key), el('td', { class: 'result', title: value }, value))));
  if (values.length === 0) body.append(el('tr', {}, el('td', { colSpan: 2, class: 'hint' }, 'no values set')));
}

function renderTree(details) {
  const tree = ui.management.getInstanceTree(rootOf(details));
  $('tree').replaceChildren(treeNode(tree));
  $('tree-graph').replaceChildren(renderTreeGraph(tree, ui.instance, select));
}

export function renderDetails() {
  $('details-id').textContent = ui.instance || '—';
  if (!ui.instance) {
    ui.shownHistory = null;
    $('details-body').hidden = true;
    $('details-empty').hidden = false;
    $('details-empty').textContent = 'Select an instance.';
    return;
  }
  let details;
  try {
    details = ui.management.getInstanceDetails(ui.instance);
  } catch (error) {
    ui.shownHistory = null;  // nothing shown: nothing for the code panel to replay
    $('details-body').hidden = true;
    $('details-empty').hidden = false;
    $('details-empty').textContent = error.kind === 'NotFound'
      ? `Instance ${ui.instance} is not in this database (yet).` : error.message;
    return;
  }
  $('details-body').hidden = false;
  $('details-empty').hidden = true;
  renderSummary(details);
  renderPending(details);
  const shown = ui.execution || details.current_execution;
  renderExecutions(details, shown);
  renderStatsAndValues();
  renderTree(details);
  renderHistory(details, shown);
}

function renderSummary(details) {
  const summary = $('details-summary');
  summary.replaceChildren();
  const add = (term, value, testid) => summary.append(el('dt', {}, term), el('dd', testid ? { 'data-testid': testid } : {}, value));
  add('status', details.status, 'details-status');
  add('orchestration', `${details.orchestration} ${details.version}`);
  if (details.output !== null) add('output', details.output, 'details-output');
  if (details.error) {
    add('error', details.error.message, 'details-error');
    const place = placeOfError(ui.instance, details.error.message);
    if (place) add('thrown at', `line ${place.line}:${place.column} of the Code panel's code`, 'details-error-place');
  }
  add('custom status', details.custom_status ?? '—', 'details-custom-status');
  if (details.parent) add('parent', details.parent);
  add('created', new Date(details.created_at_ms).toISOString());
  add('updated', new Date(details.updated_at_ms).toISOString());
}

function renderPending(details) {
  const pending = $('pending').tBodies[0];
  pending.replaceChildren();
  for (const work of details.pending) {
    const detail = work.kind === 'timer' ? `fires at ${new Date(work.fire_at_ms).toISOString()}`
      : work.instance || (work.input_truncated ? `${work.input}… (cut; event ${work.scheduled_event_id} holds it whole)` : work.input);
    // A tagged activity waits for a worker that takes its tag, a session's activity for the
    // runtime that owns its session: say which.
    const routes = [work.tag ? `tag ${work.tag}` : '', work.session_id ? `session ${work.session_id}` : ''].filter(Boolean);
    const kind = routes.length ? `${work.kind} [${routes.join(', ')}]` : work.kind;
    const name = work.version ? `${work.name}@${work.version}` : work.name;  // a child pinned to a version
    pending.append(el('tr', {}, el('td', {}, kind), el('td', {}, name), el('td', {}, detail)));
  }
  if (details.pending_total > details.pending.length) {
    pending.append(el('tr', {}, el('td', { colSpan: 3, class: 'hint', 'data-testid': 'pending-more' },
      `and ${details.pending_total - details.pending.length} more (${details.pending_total} pending in all)`)));
  }
  if (details.pending.length === 0) pending.append(el('tr', {}, el('td', { colSpan: 3, class: 'hint' }, 'nothing pending')));
}

function renderExecutions(details, shown) {
  const executions = $('executions');
  executions.replaceChildren();
  for (const execution of details.execution_list) {
    executions.append(el('button', {
      'data-testid': `execution-${execution.execution}`,
      class: execution.execution === shown ? 'active' : '',
      title: execution.pinned_version ? `started by a runtime of build ${execution.pinned_version}` : 'pinned to no build',
      onclick: () => select(ui.instance, execution.execution),
    }, `#${execution.execution} ${execution.status}${execution.continued_as_new ? ' (continued)' : ''} · ${execution.events} events`));
  }
}

// The shown execution's history in the chosen view: its first ui.historyShown events.
function renderHistory(details, shown) {
  for (const tab of document.querySelectorAll('.tabs button')) tab.classList.toggle('active', tab.dataset.view === ui.view);
  // Another execution shown (a selection, a link, another database): its first page.
  const showing = `${ui.instance}\u0000${shown}`;
  if (ui.historyFor !== showing) {
    ui.historyFor = showing;
    ui.historyShown = HISTORY_PAGE;
  }
  const limit = ui.historyShown;
  const history = readEvents(ui.instance, shown, limit + 1);
  ui.shownComplete = history.length <= limit;
  if (!ui.shownComplete) history.length = limit;
  ui.shownHistory = history;
  ui.shownExecution = shown;
  const box = $('history');
  box.replaceChildren(ui.view === 'json' ? el('pre', { 'data-testid': 'history-json' }, JSON.stringify(history, null, 2))
    : ui.view === 'timeline' ? renderGantt(history, ui.runtime.nowMs(), !ui.shownComplete) : renderCompact(history));
  if (!ui.shownComplete) box.append(moreHistory(details.execution_list.find((e) => e.execution === shown)?.events, limit));
}

// The first `count` events of an execution, read in the store's pages (10,000 at most).
function readEvents(instance, execution, count) {
  const events = [];
  let fromEventId = 0;
  while (events.length < count) {
    const limit = Math.min(10000, count - events.length);
    const page = ui.management.readExecution(instance, execution, { fromEventId, limit });
    for (const event of page) events.push(event);
    if (page.length < limit) break;
    fromEventId = page[page.length - 1].event_id + 1;
  }
  return events;
}

// The line under a history shown in part: how much is shown, and a button for a page more.
function moreHistory(total, limit) {
  return el('div', { class: 'hint', 'data-testid': 'history-more' },
    `the first ${limit.toLocaleString('en')} of ${total ? total.toLocaleString('en') : 'more'} events `,
    el('button', {
      'data-testid': 'history-more-button',
      onclick: action(() => { ui.historyShown = limit + HISTORY_PAGE; }),
    }, `show ${HISTORY_PAGE.toLocaleString('en')} more`));
}

// The whole execution the details panel shows (what a replay of it needs), read again
// when the panel shows only its first events.
export function wholeShownHistory() {
  if (ui.shownComplete) return ui.shownHistory;
  return ui.management.readExecution(ui.instance, ui.shownExecution);
}

export function initDetails() {
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
}
