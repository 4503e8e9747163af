// Redrawing every panel from the store, and running a user action with its
// error shown in the page, then a redraw and a save.
import { $ } from './dom.js';
import { ui } from './state.js';
import { persist } from './database.js';
import { renderCounts, renderList } from './list.js';
import { renderDetails } from './details.js';
import { renderMetrics } from './metrics.js';
import { renderOperations } from './operations.js';
import { renderNotices } from './notices.js';

export function showError(error) {
  const box = $('error');
  box.textContent = error ? (error.message ?? String(error)) : '';
  box.hidden = !error;
}

export function action(fn) {
  return async (event) => {
    try {
      showError(null);
      await fn(event);
    } catch (error) {
      console.error(error);
      showError(error);
    }
    refresh();
    await persist();
  };
}

export function refresh() {
  if (!ui.runtime) return;
  try {
    $('clock').textContent = new Date(ui.runtime.nowMs()).toISOString();
    renderCounts();
    renderList();
    renderDetails();
    renderMetrics();
    renderOperations();
    renderNotices();
  } catch (error) {
    console.error(error);
    showError(error);
  }
}
