// The start panel: pick a sample orchestration, edit its input, start it.
import { $, el } from './dom.js';
import { catalog } from './engine.js';
import { ui } from './state.js';
import { work } from './runtime.js';
import { action } from './refresh.js';
import { select } from './details.js';

// An orchestration the code panel registered: startable from the form too.
export function addStartable(name) {
  if ([...$('start-name').options].some((option) => option.value === name)) return;
  $('start-name').append(el('option', { value: name }, name));
}

export function fillStartForm() {
  const name = $('start-name').value;
  const sample = catalog.find((s) => s.name === name) ??
    { name, example_input: '', description: 'registered in the code panel' };
  $('start-input').value = sample.example_input;
  $('start-description').textContent = sample.description;
  $('start-id').value = `${sample.name.toLowerCase()}-${Date.now().toString(36)}-${++ui.started}`;
}

export function initStart() {
  for (const sample of catalog) $('start-name').append(el('option', { value: sample.name }, sample.name));
  $('start-name').addEventListener('change', fillStartForm);

  $('start').addEventListener('click', action(() => {
    const instance = $('start-id').value.trim();
    ui.client.startOrchestration(instance, $('start-name').value, $('start-input').value,
      { version: $('start-version').value.trim() });
    work();
    select(instance);
    fillStartForm();
  }));
}
