// Bulk actions over the instance list's filter: cancel, raise, enqueue (running
// matches) and delete (finished roots), each previewed as a dry run before it runs
// (confirm.js). Purging by age and pruning executions are in the retention tab
// (operations.js).
import { $ } from './dom.js';
import { ui } from './state.js';
import { currentFilter } from './list.js';
import { confirmable } from './confirm.js';

// The action's <method>All walk (wasm/duroxide.d.ts) for the form's values.
function walk(extra) {
  const filter = currentFilter();
  const text = $('bulk-text').value;
  const data = $('bulk-data').value;
  switch ($('bulk-action').value) {
    case 'cancel': return ui.client.cancelInstancesAll(filter, text || 'canceled', { batch: 100, ...extra });
    case 'raise': return ui.client.raiseEventBulkAll(filter, text, data, { batch: 100, ...extra });
    case 'enqueue': return ui.client.enqueueEventBulkAll(filter, text, data, { batch: 100, ...extra });
    default: return ui.management.deleteInstancesAll({ filter, limit: 100, ...extra });
  }
}

// The text field's meaning per action.
const kTextLabels = { cancel: 'reason', raise: 'event name', enqueue: 'queue name', delete: '(unused)' };

export function initBulk() {
  confirmable({
    preview: $('bulk-preview'), confirm: $('bulk-confirm'), progress: $('bulk-progress'),
    inputs: ['bulk-action', 'bulk-text', 'bulk-data', 'filter-status', 'filter-name', 'filter-prefix', 'filter-contains']
      .map($),
    walk,
    onReset: () => {
      $('bulk-text').setAttribute('aria-label', kTextLabels[$('bulk-action').value]);
      $('bulk-text').placeholder = kTextLabels[$('bulk-action').value];
    },
  });
}
