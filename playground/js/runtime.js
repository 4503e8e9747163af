// The open runtime: opening a database, running it, and noting unsaved changes.
import { dx } from './engine.js';
import { ui } from './state.js';

export function markDirty() {
  ui.dirty = true;
  document.body.dataset.saved = 'no';
}

export function openRuntime(bytes) {
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

export function work() {
  const steps = ui.runtime.runUntilIdle(100_000);
  if (steps > 0) markDirty();
  return steps;
}
