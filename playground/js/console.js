// The console panel: every RuntimeClient and ManagementClient operation of the command
// table (dx.commands(), the same table as the CLI and the JS API), each with its
// arguments as a JSON object pre-filled from the table's defaults; Run sends it and shows
// the JSON answer, or the engine's error. A paged command runs one page (pass its
// continuation back to go on); the panels redraw after every run.
import { $, el } from './dom.js';
import { ui } from './state.js';
import { dx } from './engine.js';
import { markDirty, work } from './runtime.js';
import { action } from './refresh.js';

const table = dx.commands();
const placeholders = { integer: 0, duration: 0, boolean: false, 'string[]': [], 'integer[]': [], filter: {} };

// The arguments a command starts with: required ones as placeholders of their type, the
// others at their defaults; the selected instance fills an "instance" argument.
function skeleton(command) {
  const args = {};
  for (const arg of command.args) {
    if (arg.name === 'instance' && ui.instance) args.instance = ui.instance;
    else if (arg.default !== undefined) args[arg.name] = arg.default;
    else if (arg.required) args[arg.name] = placeholders[arg.type] ?? '';
  }
  return JSON.stringify(args, null, 2);
}

function describe(command) {
  const args = command.args.map((arg) => `${arg.name}${arg.required ? '' : '?'}: ${arg.help}`).join('\n');
  return `${command.help}\nreturns: ${command.returns}${args ? `\n${args}` : ''}`;
}

function fill() {
  const command = table.find((c) => c.name === $('console-command').value);
  $('console-args').value = skeleton(command);
  $('console-help').textContent = describe(command);
}

function run() {
  const command = table.find((c) => c.name === $('console-command').value);
  let args;
  try {
    args = JSON.parse($('console-args').value || '{}');
  } catch (error) {
    throw new Error(`the arguments are not JSON: ${error.message}`);
  }
  $('console-result').textContent = '';
  const result = ui.runtime._command(command.name, args);
  $('console-result').textContent = JSON.stringify(result, null, 2);
  markDirty();  // a management call may have deleted, purged or imported
  if (command.client === 'runtime') work();
}

export function initConsole() {
  const groups = ['runtime', 'management'].map((client) => el('optgroup', { label: `${client} client` },
    ...table.filter((c) => c.client === client).map((c) => el('option', { value: c.name }, `${c.name} (${c.method})`))));
  $('console-command').replaceChildren(...groups);
  $('console-command').addEventListener('change', fill);
  $('console-fill').addEventListener('click', fill);
  $('console-run').addEventListener('click', action(run));
  fill();
}
