// The header's run controls: real-time running, run until idle, and moving
// the virtual clock forward.
import { $ } from './dom.js';
import { ui } from './state.js';
import { work } from './runtime.js';
import { action, refresh } from './refresh.js';

export function startAutoRun() {
  setInterval(() => {
    if (!ui.runtime || !$('auto-run').checked) return;
    ui.runtime.advanceTime(250);
    if (work() > 0) refresh();
    else $('clock').textContent = new Date(ui.runtime.nowMs()).toISOString();
  }, 250);
}

export function initControl() {
  $('run-idle').addEventListener('click', action(() => work()));
  $('advance-minute').addEventListener('click', action(() => { ui.runtime.advanceTime(60_000); work(); }));
  $('advance-hour').addEventListener('click', action(() => { ui.runtime.advanceTime(3_600_000); work(); }));
}
