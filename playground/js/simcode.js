// Simulating the code panel's code: the workload editor, runs of one seed or a search
// for a failing one (shrunk to its smallest case), the reproduce link, and opening a
// seed's final database in the inspector.
import { $, el, lineNumbers } from './dom.js';
import { dx } from './engine.js';
import { ui } from './state.js';
import { openRuntime } from './runtime.js';
import { addStartable } from './start.js';
import { evaluate, evaluateWorkload, saveSource } from './usercode.js';
import { decodeShared, encodeShared } from './share.js';
import { action } from './refresh.js';

export const exampleWorkload = `// workload(client, sim): what the clients of the simulated world do. sim.at(step)
// sets the phase-1 step of the operations after it; sim.random() and
// sim.randomInt(n) are seeded by the seed.
function workload(client, sim) {
  for (let i = 0; i < 3; i++) {
    sim.at(i * 40);
    client.startOrchestration(\`hello-\${i}\`, 'HelloWorld', \`user \${i}\`);
  }
}

// check(end): the problems with one started instance's end, [] when it is fine.
// end: {instanceId, orchestration, input, status, output, error, executions, ...}
function check(end) {
  return end.status === 'Completed' ? [] : [\`\${end.instanceId} ended \${end.status}\`];
}
`;

// A workload generated from the editor's code: each registered orchestration started
// twice at seeded steps (the catalog sample's example input where it has one, else null),
// every event name the code waits for raised on each instance later, two messages sent to
// every queue it reads, and a seeded one in four of the instances cancelled; the check
// holds every instance to Completed but the cancelled ones, which may end Failed.
export function generatedWorkload(program, source, catalog) {
  const literals = (call) => [...new Set([...source.matchAll(new RegExp(`${call}\\(\\s*['"\`]([^'"\`]+)['"\`]`, 'g'))].map((m) => m[1]))];
  const starts = [...new Set(program.orchestrations.map((o) => o.name))].map((name) => {
    const sample = catalog.find((s) => s.name === name);
    return { name, input: sample ? sample.example_input : null };
  });
  return `// Generated from the code: starts of ${starts.map((s) => s.name).join(', ')}; events ${literals('waitForEvent').join(', ') || 'none'};
// queues ${literals('dequeueEvent').join(', ') || 'none'}. Edit it freely.
const starts = ${JSON.stringify(starts)};
const events = ${JSON.stringify(literals('waitForEvent'))};
const queues = ${JSON.stringify(literals('dequeueEvent'))};
const cancelled = new Set();

function workload(client, sim) {
  let n = 0;
  for (const { name, input } of starts) {
    for (let copy = 0; copy < 2; copy++) {
      const id = \`\${name.toLowerCase()}-\${++n}\`;
      const at = sim.randomInt(Math.max(1, Math.floor(sim.steps / 4)));
      sim.at(at);
      client.startOrchestration(id, name, input);
      for (const event of events) { sim.at(at + 1 + sim.randomInt(200)); client.raiseEvent(id, event, \`\${event} for \${id}\`); }
      for (const queue of queues) for (let m = 0; m < 2; m++) { sim.at(at + 1 + sim.randomInt(200)); client.enqueueEvent(id, queue, \`message \${m}\`); }
      if (sim.randomInt(4) === 0) { sim.at(at + sim.randomInt(300)); client.cancelInstance(id, 'generated cancel'); cancelled.add(id); }
    }
  }
}

function check(end) {
  if (end.status === 'Completed') return [];
  if (cancelled.has(end.instanceId) && end.status === 'Failed') return [];
  return [\`\${end.instanceId} ended \${end.status}: \${end.error ?? ''}\`];
}
`;
}

let renderGutter = () => {};  // set by initSimCode (dom.js: lineNumbers)

// The fault kinds ticked in the simulation panel.
export const checkedFaults = () => [...$('sim-faults').querySelectorAll('input:checked')].map((box) => box.value);

// The case to simulate: the editors' code and workload, the panel's settings.
function currentCase(seed) {
  const program = evaluate($('code-text').value);
  const { workload, check } = evaluateWorkload($('sim-workload').value);
  const faults = checkedFaults();
  return {
    program,
    options: {
      orchestrations: program.orchestrations, activities: program.activities, workload, check, seed, faults,
      steps: Number($('sim-steps').value), nodes: Number($('sim-nodes').value),
      ...(ui.simOps ? { ops: ui.simOps } : {}),
    },
  };
}

const describeOp = (op) => `step ${op.step}: ${op.kind} ${op.instanceId}${op.name ? ` ${op.name}` : ''}${op.data ? ` ${op.data}` : ''}`;

// The link that reopens this case in another browser: code, workload, seed, settings, operations.
async function reproduceLink(options, ops) {
  const shared = await encodeShared({
    code: $('code-text').value, workload: $('sim-workload').value,
    seed: options.seed, steps: options.steps, nodes: options.nodes, faults: options.faults, ops,
  });
  return `${location.origin}${location.pathname}#repro=${shared}`;
}

function openDatabase(result, program) {
  ui.program = program;  // the instances' code, so their histories replay in the inspector
  saveSource($('code-text').value);
  for (const { name } of program.orchestrations) addStartable(name);
  openRuntime(result.database);
}

// Renders a code run of `options` (its seed and settings): the summary, the shrunk case
// when `runs` says shrinking took some, the link, the database.
async function renderCodeRun(render, { result, ops, options, program, runs }) {
  render(result);
  const box = $('sim-result');
  const extra = [];
  if (runs) {
    extra.push(el('h3', {}, `Shrunk case (${runs} runs)`),
      el('pre', { 'data-testid': 'sim-shrunk' }, [
        `seed ${options.seed} · ${options.steps} steps · ${options.nodes} node(s) · faults: ${options.faults.join(', ') || 'none'}`,
        ...ops.map(describeOp),
        ...result.violations.map((v) => `violation: ${v.invariant} ${v.instance}: ${v.detail}`),
      ].join('\n')));
  }
  const link = await reproduceLink(options, ops);
  extra.push(el('p', {}, el('a', { href: link, 'data-testid': 'sim-link' }, 'reproduce link'),
    ' (code, workload, seed, settings and the planned operations)'));
  if (result.database && result.database.length) {
    extra.push(el('button', {
      'data-testid': 'sim-open-db',
      onclick: action(() => openDatabase(result, program)),
      title: "replaces the page's database (download it first to keep it)",
    }, "Open this seed's final database in the inspector"));
  }
  box.children[1].after(...extra);  // below the verdict and hash, above the fault table and trace
}

export async function runCodeSeed(seed, render) {
  const { program, options } = currentCase(seed);
  const { result, ops } = await dx.simulateCode({ ...options, keepDatabase: true });
  await renderCodeRun(render, { result, ops, options, program });
}

// Tries seeds from the seed field on; the first failure is shrunk and shown.
export async function findFailingSeed(render) {
  const first = Number($('sim-seed').value);
  const tries = Number($('sim-tries').value);
  if (!Number.isInteger(tries) || tries < 1 || tries > 1000) throw new Error('seeds to try: 1 to 1000');
  for (let seed = first; seed < first + tries; seed++) {
    const { program, options } = currentCase(seed);
    const shrunk = await dx.shrinkSimulation(options);  // a passing seed costs its one run
    if (shrunk.result.ok) continue;
    $('sim-seed').value = String(seed);
    const kept = await dx.simulateCode({ ...shrunk.options, keepDatabase: true });
    await renderCodeRun(render, { result: kept.result, ops: shrunk.ops, options: shrunk.options, program, runs: shrunk.runs });
    return;
  }
  $('sim-result').replaceChildren(el('p', { class: 'ok', 'data-testid': 'sim-verdict' },
    `seeds ${first} to ${first + tries - 1}: no violation`));
}

// A reproduce link's case: into the editors and settings; the operations replace the
// workload's until it is edited. The code is not registered until the user says so.
export async function openSharedCase(text) {
  const shared = await decodeShared(text);
  $('code-text').value = String(shared.code ?? '');
  $('code-text').dispatchEvent(new Event('input'));
  $('sim-workload').value = String(shared.workload ?? '');
  renderGutter();
  $('sim-world').value = 'code';
  $('sim-code').hidden = false;
  if (Number.isInteger(shared.seed)) $('sim-seed').value = String(shared.seed);
  if (Number.isInteger(shared.steps)) $('sim-steps').value = String(shared.steps);
  if (Number.isInteger(shared.nodes)) $('sim-nodes').value = String(shared.nodes);
  if (Array.isArray(shared.faults)) {
    for (const box of $('sim-faults').querySelectorAll('input')) box.checked = shared.faults.includes(box.value);
  }
  ui.simOps = Array.isArray(shared.ops) && shared.ops.length ? shared.ops : null;
  $('sim-ops-note').hidden = !ui.simOps;
  $('sim-ops-note').textContent = ui.simOps
    ? `the link's ${ui.simOps.length} planned operation(s) replace the workload's until you edit it` : '';
  $('code-result').textContent = 'a link opened this code: read it, then Register or Run seed';
}

export function initSimCode() {
  $('sim-workload').value = exampleWorkload;
  renderGutter = lineNumbers($('sim-workload'), $('sim-workload-gutter'));
  $('sim-generate').addEventListener('click', action(() => {
    const source = $('code-text').value;
    $('sim-workload').value = generatedWorkload(evaluate(source), source, dx.catalog());
    $('sim-workload').dispatchEvent(new Event('input'));
  }));
  $('sim-workload').addEventListener('input', () => {
    ui.simOps = null;
    $('sim-ops-note').hidden = true;
  });
  $('sim-world').addEventListener('change', () => { $('sim-code').hidden = $('sim-world').value !== 'code'; });
}
