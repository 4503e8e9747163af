// Bulk actions over the instance list's filter: cancel, raise, enqueue (running
// matches), delete (finished roots) and purge (finished longer ago than an age).
// "Preview" walks a dry run and shows how many instances the action would touch;
// only then "Confirm" runs it, batch by batch, with a progress line.
import { $ } from './dom.js';
import { ui } from './state.js';
import { action } from './refresh.js';
import { currentFilter } from './list.js';

// The action's <method>All walk (wasm/duroxide.d.ts) for the form's values.
function walk(extra) {
  const filter = currentFilter();
  const text = $('bulk-text').value;
  const data = $('bulk-data').value;
  switch ($('bulk-action').value) {
    case 'cancel': return ui.client.cancelInstancesAll(filter, text || 'canceled', { batch: 100, ...extra });
    case 'raise': return ui.client.raiseEventBulkAll(filter, text, data, { batch: 100, ...extra });
    case 'enqueue': return ui.client.enqueueEventBulkAll(filter, text, data, { batch: 100, ...extra });
    case 'delete': return ui.management.deleteInstancesAll({ filter, limit: 100, ...extra });
    default: return ui.management.purgeCompletedAll(text, { limit: 100, ...extra });
  }
}

const touched = (total) => total.succeeded ?? total.instances ?? 0;

function describe(total, done) {
  const verb = total.dry_run ? 'would touch' : (done ? 'touched' : 'touching');
  const failed = total.failed ? `, ${total.failed} not touched (${total.failures[0].instance}: ${total.failures[0].error})` : '';
  return `${verb} ${touched(total)} instance(s) in ${total.pages} call(s)${failed}`;
}

// The text field's meaning per action.
const kTextLabels = { cancel: 'reason', raise: 'event name', enqueue: 'queue name', delete: '(unused)', purge: 'older than (e.g. 7d, 30s)' };

function resetConfirmation() {
  $('bulk-confirm').disabled = true;
  $('bulk-progress').textContent = '';
  $('bulk-text').setAttribute('aria-label', kTextLabels[$('bulk-action').value]);
  $('bulk-text').placeholder = kTextLabels[$('bulk-action').value];
}

export function initBulk() {
  for (const id of ['bulk-action', 'bulk-text', 'bulk-data', 'filter-status', 'filter-name', 'filter-prefix']) {
    $(id).addEventListener('input', resetConfirmation);
  }
  resetConfirmation();
  $('bulk-preview').addEventListener('click', action(async () => {
    resetConfirmation();
    const total = await walk({ dryRun: true });
    $('bulk-progress').textContent = describe(total, true);
    $('bulk-confirm').disabled = touched(total) === 0;
  }));
  $('bulk-confirm').addEventListener('click', action(async () => {
    $('bulk-confirm').disabled = true;
    const total = await walk({ onProgress: (t) => { $('bulk-progress').textContent = describe(t, false); } });
    $('bulk-progress').textContent = describe(total, true);
  }));
}
