// The start panel: pick a sample orchestration, edit its input, start it.
import { $, el } from './dom.js';
import { catalog } from './engine.js';
import { ui } from './state.js';
import { work } from './runtime.js';
import { action } from './refresh.js';
import { select } from './details.js';

export function fillStartForm() {
  const sample = catalog.find((s) => s.name === $('start-name').value) ?? catalog[0];
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
