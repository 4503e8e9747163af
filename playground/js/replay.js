// The step-through replay: the engine replays a history (the shown execution
// or a file) and the scrubber walks its steps.
import { $, el, readFile } from './dom.js';
import { dx } from './engine.js';
import { ui } from './state.js';
import { writeHash } from './hash.js';
import { action } from './refresh.js';
import { describeEvent, wholeShownHistory } from './details.js';

// The first divergence, side by side: what the history has and what the code did.
function divergence(mismatch) {
  return el('table', { class: 'divergence', 'data-testid': 'replay-divergence' },
    el('thead', {}, el('tr', {}, el('th', {}, 'event'), el('th', {}, 'the history has'), el('th', {}, 'the code did'))),
    el('tbody', {}, el('tr', {},
      el('td', {}, mismatch.event_id ? `#${mismatch.event_id} (index ${mismatch.event_index})` : `after index ${mismatch.event_index - 1}`),
      el('td', { 'data-testid': 'divergence-expected' }, mismatch.expected),
      el('td', { 'data-testid': 'divergence-actual' }, mismatch.actual))));
}

// An engine error object as one line ("unregistered orchestration: G 1.0.0").
function errorText(error) {
  if (!error) return 'unknown error';
  const what = error.message || String(error.kind ?? 'error').replaceAll('_', ' ');
  return error.resource && !error.message ? `${what}: ${error.resource}` : what;
}

// `options`: dx.replayHistory's: instance and execution (whose history it is) and
// orchestrations (code that replaces the catalog's for this replay; by default the code
// the code panel registered, which is what runs the instances).
export function startReplay(history, source, fromInstance, index = 0, options = {}) {
  const code = ui.program ? { orchestrations: ui.program.orchestrations } : {};
  const report = dx.replayHistory(history, { ...code, ...options });
  ui.replay = { report, index: Math.min(Math.max(0, index), Math.max(0, report.steps.length - 1)), fromInstance,
    instance: fromInstance ? ui.instance : '', execution: fromInstance ? ui.execution : 0 };
  $('replay-panel').hidden = false;
  $('replay-source').textContent = source;
  $('scrubber').max = String(Math.max(0, report.steps.length - 1));
  $('scrubber').value = String(ui.replay.index);
  $('replay-count').textContent = String(report.steps.length);
  const verdict = $('replay-verdict');
  verdict.replaceChildren();
  if (report.deterministic) {
    verdict.className = 'ok';
    verdict.textContent = `deterministic: the code reproduces all ${report.events} events`;
  } else if (report.mismatch) {
    verdict.className = 'bad';
    verdict.append(`nondeterministic: the code diverges from the history at event index ${report.mismatch.event_index}`,
      divergence(report.mismatch));
  } else {
    verdict.className = 'bad';
    verdict.textContent = `cannot replay: ${errorText(report.error)}`;
  }
  renderReplayStep();
  writeHash();
}

// Replays the execution the details panel shows, from the given step.
export function replayShownExecution(index = 0) {
  startReplay(wholeShownHistory(), `${ui.instance} execution ${ui.execution || 'current'}`, true, index,
    { instance: ui.instance, execution: ui.shownExecution });
}

function renderReplayStep() {
  const { report, index } = ui.replay;
  const step = report.steps[index];
  if (!step) {
    // No events: nothing to step through, and nothing left of the replay before it.
    $('replay-index').textContent = '0';
    $('replay-event').textContent = 'no events to step through';
    $('replay-state').replaceChildren();
    $('replay-pending').replaceChildren();
    $('replay-logs').replaceChildren();
    return;
  }
  $('replay-index').textContent = String(index + 1);
  $('replay-event').textContent = `#${step.event.event_id} ${describeEvent(step.event)}`;
  const state = $('replay-state');
  state.replaceChildren(
    el('dt', {}, 'state'), el('dd', { 'data-testid': 'replay-status' }, step.state),
    el('dt', {}, 'custom status'), el('dd', { 'data-testid': 'replay-custom-status' }, step.custom_status ?? '—'),
    el('dt', {}, 'cancel requested'), el('dd', {}, String(step.cancel_requested)));
  const pending = step.pending.map((w) => el('li', {}, `${w.kind} ${w.name}${w.input ? ` (${w.input})` : ''}`));
  if (step.pending_total > step.pending.length) {
    pending.push(el('li', { class: 'hint' }, `and ${(step.pending_total - step.pending.length).toLocaleString('en')} more`));
  }
  $('replay-pending').replaceChildren(...(pending.length ? pending : [el('li', { class: 'hint' }, 'nothing pending')]));
  $('replay-logs').replaceChildren(...(step.logs.length ? step.logs.map((l) =>
    el('li', {}, typeof l === 'string' ? l : `${l.level ?? ''} ${l.message ?? JSON.stringify(l)}`)) : [el('li', { class: 'hint' }, 'no log lines')]));
}

export function initReplay() {
  $('scrubber').addEventListener('input', () => {
    ui.replay.index = Number($('scrubber').value);
    renderReplayStep();
    writeHash();
  });
  $('replay-this').addEventListener('click', action(() => replayShownExecution()));
  $('replay-file').addEventListener('change', action(async (event) => {
    const file = await readFile(event.target);
    const text = await file.text();
    startReplay(text, file.name, false);
  }));
}
