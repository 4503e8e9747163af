// The database: kept in IndexedDB so a reload or a shared link in the same
// browser finds the same instances; opened from, downloaded to and replaced
// by files; instance exports imported into it.
import { $, download, readFile } from './dom.js';
import { ui } from './state.js';
import { markDirty, openRuntime } from './runtime.js';
import { action, showError } from './refresh.js';
import { select } from './details.js';

function idb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open('duroxide-playground', 1);
    request.onupgradeneeded = () => request.result.createObjectStore('files');
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function idbGet(key) {
  const db = await idb();
  return new Promise((resolve, reject) => {
    const request = db.transaction('files').objectStore('files').get(key);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function idbPut(key, value) {
  const db = await idb();
  return new Promise((resolve, reject) => {
    const tx = db.transaction('files', 'readwrite');
    tx.objectStore('files').put(value, key);
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
}

// Saves are chained so none overlaps another; body[data-saved] tells tests
// (and anyone curious) whether IndexedDB holds the latest state.
export function persist() {
  ui.saveChain = ui.saveChain.then(async () => {
    if (!ui.dirty) return;
    ui.dirty = false;
    try {
      await idbPut('database', ui.runtime.saveDatabase());
    } catch (error) {
      // Still unsaved: said in the page, and the next save tries again.
      ui.dirty = true;
      showError(new Error(`the database could not be kept in this browser (IndexedDB): ${error.message ?? error}`));
    }
  }).finally(() => {
    document.body.dataset.saved = ui.dirty ? 'no' : 'yes';
  });
  return ui.saveChain;
}

export function startAutoSave() {
  setInterval(persist, 1000);
}

// Opens the database IndexedDB holds, or a new one when there is none or it
// cannot be opened.
export async function openSavedDatabase() {
  let saved = null;
  try {
    saved = await idbGet('database');
  } catch (error) {
    console.warn('IndexedDB unavailable; the database lives only in this page', error);
  }
  try {
    openRuntime(saved ?? null);
  } catch (error) {
    showError(new Error(`the saved database could not be opened (${error.message}); starting a new one`));
    openRuntime(null);
  }
}

export function initImport() {
  $('import-instance').addEventListener('change', action(async (event) => {
    const file = await readFile(event.target);
    const instance = ui.management.importInstance(await file.text());
    markDirty();
    select(instance);
  }));
}

export function initDatabaseFiles() {
  $('open-db').addEventListener('change', action(async (event) => {
    const file = await readFile(event.target);
    openRuntime(new Uint8Array(await file.arrayBuffer()));
    select('');
  }));
  $('download-db').addEventListener('click', action(() => {
    download('duroxide.db', ui.runtime.saveDatabase(), 'application/vnd.sqlite3');
  }));
  $('new-db').addEventListener('click', action(() => {
    openRuntime(null);
    select('');
  }));
}
