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

// The element with the keyboard focus as a selector that finds its redrawn twin: the
// nearest container with an id, then the element's tag and identifying attributes; null
// when nothing (or nothing a redraw replaces) has it.
const IDENTIFYING = ['data-testid', 'data-instance', 'data-execution', 'data-event', 'data-view'];
function focusedSelector() {
  const focused = document.activeElement;
  if (!focused || focused === document.body || focused.id) return null;  // an id survives redraws
  const attributes = IDENTIFYING.filter((name) => focused.hasAttribute(name));
  const scope = focused.parentElement ? focused.parentElement.closest('[id]') : null;
  if (!attributes.length || !scope) return null;
  return `#${CSS.escape(scope.id)} ${focused.tagName.toLowerCase()}` +
    attributes.map((name) => `[${name}="${CSS.escape(focused.getAttribute(name))}"]`).join('');
}

export function refresh() {
  if (!ui.runtime) return;
  const selector = focusedSelector();
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
  // A redraw replaced the focused element: the keyboard goes on from its twin, when the
  // selector names one element only (not, say, one of many alike).
  if (selector && (!document.activeElement || document.activeElement === document.body)) {
    const twins = document.querySelectorAll(selector);
    if (twins.length === 1) twins[0].focus();
  }
}
