// The playground: the unchanged engine (WebAssembly) in the page, no server.
// Each panel's module exports an init (its listeners) and its renderers; this
// module wires them up in order, then opens the saved database and reopens
// what the URL hash names. The state they share is in state.js.
import { $ } from './dom.js';
import { ui } from './state.js';
import { readHash } from './hash.js';
import { action, refresh } from './refresh.js';
import { initDatabaseFiles, initImport, openSavedDatabase, startAutoSave } from './database.js';
import { initControl, startAutoRun } from './control.js';
import { fillStartForm, initStart } from './start.js';
import { initList } from './list.js';
import { initDetails } from './details.js';
import { initReplay, replayShownExecution } from './replay.js';
import { initMetrics } from './metrics.js';
import { initSimulation, runSeed } from './simulation.js';
import { initBulk } from './bulk.js';
import { initOperations } from './operations.js';
import { initConsole } from './console.js';
import { initNotices } from './notices.js';
import { initCode, openSharedCode } from './code.js';
import { openSharedCase } from './simcode.js';

startAutoRun();
startAutoSave();
initStart();
initList();
initDetails();
initReplay();
initImport();
initDatabaseFiles();
initControl();
initSimulation();
initMetrics();
initBulk();
initOperations();
initConsole();
initNotices();
initCode();

window.addEventListener('hashchange', () => {
  readHash();
  refresh();
});

await openSavedDatabase();
fillStartForm();
const initial = readHash();
refresh();
if (initial.repro) await action(() => openSharedCase(initial.repro))();
if (initial.code) await action(() => openSharedCode(initial.code))();
// A seed in the link runs at once, unless the link also brings a case's code: that code is
// the link author's, and runs only when the reader clicks Run seed or Register.
if (initial.seed !== null && /^\d+$/.test(initial.seed) && !initial.repro) action(runSeed)();
if (initial.step !== null && ui.instance && ui.shownHistory) replayShownExecution(Math.trunc(Number(initial.step)) || 0);
$('loading').textContent = 'ready';
document.body.dataset.ready = 'true';
keepForOffline();

// Registers the service worker (sw.js) and hands it every file this page loaded, so the
// next visit works without a network; body[data-offline] says when that is done.
async function keepForOffline() {
  if (!('serviceWorker' in navigator)) return;
  try {
    const registration = await navigator.serviceWorker.register(new URL('../sw.js', import.meta.url));
    const worker = registration.active ?? (await navigator.serviceWorker.ready).active;
    navigator.serviceWorker.addEventListener('message', (event) => {
      document.body.dataset.offline = event.data?.cached ? 'ready' : 'failed';
    });
    worker.postMessage({ cache: [location.href.split('#')[0], ...performance.getEntriesByType('resource').map((entry) => entry.name)] });
  } catch (error) {
    document.body.dataset.offline = 'failed';  // file: pages and some browsers have no service workers
    console.warn('offline use is not available here:', error);
  }
}
