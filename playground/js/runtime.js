// The open runtime: opening a database, running it, and noting unsaved changes.
import { $ } from './dom.js';
import { dx } from './engine.js';
import { ui } from './state.js';
import { apply } from './usercode.js';

export function markDirty() {
  ui.dirty = true;
  document.body.dataset.saved = 'no';
}

// Hides the step-through replay (replay.js) and forgets it.
export function closeReplay() {
  ui.replay = null;
  $('replay-panel').hidden = true;
}

// `startMs`: the virtual clock's start (default: now). The playground's one runtime stands for a
// whole deployment, so its workers take every tag (a `withTag` activity runs here too).
// `sameDatabase`: the bytes are the open database's own (new code registered), so a replay of
// one of its executions stays open. A preview's count is disarmed either way.
export function openRuntime(bytes, startMs = undefined, sameDatabase = false) {
  const runtime = new dx.Runtime({
    ...(bytes ? { database: bytes } : {}), ...(startMs !== undefined ? { startMs } : {}), workerTagFilter: 'any',
  });
  if (ui.program) apply(runtime, ui.program);  // the code panel's registered code
  if (ui.runtime) ui.runtime.close();
  ui.runtime = runtime;
  ui.client = new dx.RuntimeClient(runtime);
  ui.management = new dx.ManagementClient(runtime);
  ui.cursors = [''];
  ui.page = 0;
  ui.metricsCursor = 0;
  ui.metricsFeed = [];
  ui.historyFor = '';  // the history view starts at its first page
  ui.notices = [];
  if (!sameDatabase && ui.replay?.fromInstance) closeReplay();
  for (const disarm of ui.disarms) disarm();
  markDirty();
}

export function work() {
  const steps = ui.runtime.runUntilIdle(100_000);
  if (steps > 0) markDirty();
  return steps;
}
