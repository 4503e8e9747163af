// The runtime's notices, newest first: the code's log lines (orchestrations' through the
// engine, activities' from their context) and what the runtime could not do (messages it
// dropped, poison, code not registered here, locks lost, store errors). What a stuck
// instance's details cannot say is often here.
import { $, el } from './dom.js';
import { ui } from './state.js';
import { select } from './details.js';

// The most notices kept; older ones go.
const KEPT = 500;

function keep(newestFirst) {
  if (!newestFirst.length) return;
  ui.notices = [...newestFirst, ...ui.notices].slice(0, KEPT);
  ui.noticesAdded += newestFirst.length;
}

// Takes what the runtime noted since the last call.
function collect() {
  if (ui.runtime) keep(ui.runtime.takeLogs().reverse());
}

// An activity's log line (ctx.traceInfo and the like), as a notice of its instance: after
// what the runtime noted before it ran.
export function noteActivityLine(level, instance, activity, message) {
  collect();
  const at_ms = ui.runtime ? ui.runtime.nowMs() : 0;
  keep([{ kind: 'log', instance, message: `[${level}] activity ${activity}: ${message}`, at_ms }]);
}

function row(notice) {
  const instance = notice.instance
    ? el('button', { 'data-testid': 'notice-instance', onclick: () => select(notice.instance) }, notice.instance)
    : '';
  return el('li', { class: `notice notice-${notice.kind}`, 'data-kind': notice.kind },
    el('time', {}, new Date(notice.at_ms).toISOString().slice(11, 23)), ' ',
    el('b', {}, notice.kind), ' ', instance, ' ', el('span', { 'data-testid': 'notice-message' }, notice.message));
}

// Takes what the runtime noted since the last call, then draws what changed: the notices
// that came since the last draw go above the rows already drawn, and the rows of notices no
// longer kept go, so a notice costs one row whatever the list holds. The whole list is drawn
// again when it was cleared (the list no longer holds what was drawn) or nothing of it stays.
export function renderNotices() {
  collect();
  const list = $('notices');
  const added = ui.noticesAdded;
  const kept = ui.notices.length;
  const drawnAdded = Number(list.dataset.added ?? -1);
  const drawnKept = Number(list.dataset.kept ?? -1);
  if (drawnAdded === added && drawnKept === kept) return;
  const fresh = added - drawnAdded;
  const stays = Math.min(drawnKept, kept - fresh);  // rows already drawn that are still kept
  if (drawnAdded >= 0 && fresh > 0 && stays > 0 && kept === Math.min(KEPT, drawnKept + fresh)) {
    list.prepend(...ui.notices.slice(0, fresh).map(row));
    while (list.children.length > kept) list.lastElementChild.remove();
  } else {
    list.replaceChildren(...(kept ? ui.notices.map(row) : [el('li', { class: 'hint' }, 'no notices')]));
  }
  // Noted once drawn (every row is built before the list changes): a draw that failed is
  // tried again at the next call.
  list.dataset.added = String(added);
  list.dataset.kept = String(kept);
}

export function initNotices() {
  $('notices-clear').addEventListener('click', () => {
    ui.notices = [];
    renderNotices();
  });
}
