// The simulation panel: runs one seed of the deterministic simulator in the
// page and shows its verdict, trace hash, faults and trace.
import { $, el } from './dom.js';
import { dx } from './engine.js';
import { ui } from './state.js';
import { writeHash } from './hash.js';
import { action } from './refresh.js';
import { checkedFaults, findFailingSeed, initSimCode, runCodeSeed } from './simcode.js';

// Runs the seed in the world chosen: the catalog (the native simulator's workload) or the
// code panel's code with the workload editor's (simcode.js).
export async function runSeed() {
  const seed = Number($('sim-seed').value);
  if (!Number.isInteger(seed) || seed < 0) throw new Error('the seed must be a non-negative integer');
  ui.simSeed = seed;
  writeHash();
  if ($('sim-world').value === 'code') {
    await runCodeSeed(seed, renderResult);
    return;
  }
  renderResult(dx.runSimulation({
    seed, faults: checkedFaults(),
    steps: Number($('sim-steps').value), nodes: Number($('sim-nodes').value), instances: Number($('sim-instances').value),
  }));
}

function renderResult(result) {
  const box = $('sim-result');
  const faultRows = Object.entries(result.faults_injected).map(([kind, count]) =>
    el('tr', {}, el('td', {}, kind), el('td', { 'data-testid': `fault-${kind}` }, String(count)),
      el('td', { class: 'hint' }, `${result.fault_ppm[kind]} ppm`)));
  box.replaceChildren(
    el('p', { class: result.ok ? 'ok' : 'bad', 'data-testid': 'sim-verdict' },
      result.ok ? `seed ${result.seed}: no violation` : `seed ${result.seed}: ${result.violations.length} violation(s)`),
    el('p', {}, 'trace hash ', el('code', { 'data-testid': 'sim-hash' }, result.hash),
      ` · ${result.steps} steps · ${result.instances} instances (${result.completed} completed, ${result.failed} failed) · ${result.node_restarts} node restarts · ${result.virtual_ms} ms virtual` +
      (result.checks_waived ? ` · ${result.checks_waived} check(s) waived: their instance's tree was corrupted` : '')),
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

export function initSimulation() {
  const defaultFaults = new Set(dx.defaultFaultKinds());
  for (const kind of dx.faultKinds()) {
    $('sim-faults').append(el('label', {}, el('input', { type: 'checkbox', value: kind, checked: defaultFaults.has(kind) }), ` ${kind}`));
  }
  $('sim-run').addEventListener('click', action(runSeed));
  $('sim-find').addEventListener('click', action(() => findFailingSeed(renderResult)));
  initSimCode();
}
