// The step-through replay: the engine replays a history (the shown execution
// or a file) and the scrubber walks its steps.
import { $, el, readFile } from './dom.js';
import { dx } from './engine.js';
import { ui } from './state.js';
import { writeHash } from './hash.js';
import { action } from './refresh.js';
import { describeEvent } from './details.js';

export function startReplay(history, source, fromInstance, index = 0) {
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

// Replays the execution the details panel shows, from the given step.
export function replayShownExecution(index = 0) {
  startReplay(ui.shownHistory, `${ui.instance} execution ${ui.execution || 'current'}`, true, index);
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
