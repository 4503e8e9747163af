// The instance list: counts by status, filters, and cursor paging.
import { $, el } from './dom.js';
import { catalog } from './engine.js';
import { ui } from './state.js';
import { refresh } from './refresh.js';
import { select } from './details.js';

// The list's filter, which the bulk actions act on too.
export function currentFilter() {
  const filter = {};
  if ($('filter-status').value) filter.states = [$('filter-status').value];
  if ($('filter-name').value) filter.name = $('filter-name').value;
  if ($('filter-prefix').value.trim()) filter.prefix = $('filter-prefix').value.trim();
  if ($('filter-contains').value) filter.contains = $('filter-contains').value;
  return filter;
}

function resetPaging() {
  ui.cursors = [''];
  ui.page = 0;
}

export function initList() {
  for (const sample of catalog) $('filter-name').append(el('option', { value: sample.name }, sample.name));
  for (const id of ['filter-status', 'filter-name', 'page-size', 'sort']) {
    $(id).addEventListener('change', () => { resetPaging(); refresh(); });
  }
  for (const id of ['filter-prefix', 'filter-contains']) {
    $(id).addEventListener('input', () => { resetPaging(); refresh(); });
  }
  $('page-next').addEventListener('click', () => {
    if (!ui.nextCursor) return;
    ui.cursors[ui.page + 1] = ui.nextCursor;
    ui.page += 1;
    refresh();
  });
  $('page-prev').addEventListener('click', () => {
    if (ui.page > 0) ui.page -= 1;
    refresh();
  });
}

export function renderCounts() {
  const counts = ui.management.countByStatus(currentFilter().name ? { name: currentFilter().name } : {});
  const box = $('counts');
  box.replaceChildren();
  for (const state of ['Running', 'Completed', 'Failed']) {
    box.append(el('button', {
      class: `chip status-${state}`, 'data-testid': `count-${state}`, title: `list the ${state} instances`,
      onclick: () => { $('filter-status').value = state; resetPaging(); refresh(); },
    }, `${state} ${counts[state] ?? 0}`));
  }
}

export function renderList() {
  const limit = Number($('page-size').value);
  const page = ui.management.listInstances(currentFilter(),
    { cursor: ui.cursors[ui.page] ?? '', limit, sort: $('sort').value });
  ui.nextCursor = page.next_cursor;
  const body = $('instances').tBodies[0];
  // The row the keyboard is on keeps the focus across the redraw.
  const focused = document.activeElement && document.activeElement.closest ? document.activeElement.closest('#instances tr') : null;
  const focusedInstance = focused ? focused.dataset.instance : undefined;
  body.replaceChildren();
  for (const summary of page.instances) {
    // A row is a link for the keyboard too: Tab reaches it, Enter or Space opens it.
    const row = el('tr', { 'data-instance': summary.instance, tabIndex: 0, onclick: () => select(summary.instance) },
      el('td', {}, summary.instance),
      el('td', {}, summary.orchestration),
      el('td', { class: `status-${summary.status}` }, summary.status),
      el('td', { class: 'result', title: summary.preview }, summary.preview || summary.custom_status || ''));
    row.setAttribute('aria-label', `${summary.instance}, ${summary.orchestration}, ${summary.status}`);
    row.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter' && event.key !== ' ') return;
      event.preventDefault();
      select(summary.instance);
    });
    if (summary.instance === ui.instance) row.classList.add('selected');
    body.append(row);
    if (summary.instance === focusedInstance) row.focus();
  }
  if (currentFilter().contains && page.next_cursor && page.instances.length < limit) {
    // A search reads a bounded window of instances per call (docs/management.md, "Search and sort").
    body.append(el('tr', {}, el('td', { colSpan: 4, class: 'hint', 'data-testid': 'search-window' },
      'the search read its window of instances here; Next searches on')));
  } else if (page.instances.length === 0) {
    body.append(el('tr', {}, el('td', { colSpan: 4, class: 'hint' }, 'no instances')));
  }
  $('page-label').textContent = `page ${ui.page + 1}`;
  $('page-prev').disabled = ui.page === 0;
  $('page-next').disabled = !page.next_cursor;
}
