// State that a link should reopen (selected instance, execution, history view,
// simulation seed, replay step) lives in the URL hash; a simulation's reproduce link
// carries its whole case as "repro"; "code" is the registered code (share.js), so any
// link to the page carries it; both are read once when the page opens.
import { $ } from './dom.js';
import { ui } from './state.js';

// Copies the hash into ui (and the seed into its input); returns the seed and
// replay step for the first load to act on.
export function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  ui.instance = params.get('instance') ?? '';
  ui.execution = Number(params.get('execution') ?? 0) || 0;
  ui.view = ['compact', 'timeline', 'json'].includes(params.get('view')) ? params.get('view') : 'compact';
  const seed = params.get('seed');
  if (seed !== null && /^\d+$/.test(seed)) $('sim-seed').value = seed;
  return { seed, step: params.get('step'), repro: params.get('repro'), code: params.get('code') };
}

export function writeHash() {
  const params = new URLSearchParams();
  if (ui.instance) params.set('instance', ui.instance);
  if (ui.instance && ui.execution) params.set('execution', String(ui.execution));
  if (ui.view !== 'compact') params.set('view', ui.view);
  if (ui.simSeed !== undefined) params.set('seed', String(ui.simSeed));
  if (ui.replay && ui.replay.fromInstance) params.set('step', String(ui.replay.index));
  if (ui.codeParam) params.set('code', ui.codeParam);
  const hash = params.toString();
  history.replaceState(null, '', hash ? `#${hash}` : location.pathname);
}
