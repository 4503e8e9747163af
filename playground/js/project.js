// "Download as a project": the code panel's code and the simulation workload as a
// node project that runs them with the duroxide-wasm npm package: the code registers
// on the package's Runtime, and a node:test file simulates the workload over seeds.
import { $ } from './dom.js';
import { download } from './dom.js';
import { evaluate, evaluateWorkload } from './usercode.js';
import { zip } from './zip.js';

const indent = (text) => text.split('\n').map((line) => (line ? `  ${line}` : line)).join('\n');

function files(code, workload, version) {
  return [
    { name: 'package.json', text: `${JSON.stringify({
      name: 'duroxide-playground-project', private: true, type: 'module',
      scripts: { test: 'node --test' },
      dependencies: { 'duroxide-wasm': `^${version}` },
    }, null, 2)}\n` },
    { name: 'orchestrations.mjs', text: `// The playground's code: register(runtime) puts its orchestrations and activities on a
// duroxide-wasm Runtime (or runSimulation's setup registrar).
export function register(runtime) {
  const registerOrchestration = (name, fn) => runtime.registerOrchestration(name, fn);
  const registerOrchestrationVersioned = (name, version, fn) => runtime.registerOrchestrationVersioned(name, version, fn);
  const registerActivity = (name, fn) => runtime.registerActivity(name, fn);

${indent(code)}
}
` },
    { name: 'workload.mjs', text: `// The playground's simulation workload: workload(client, sim) and check(end).
${workload}
const checkOrNone = typeof check === 'function' ? check : undefined;
export { workload, checkOrNone as check };
` },
    { name: 'orchestrations.test.mjs', text: `// Simulates the workload on the code under the simulator's default faults, seed by seed
// (node --test; the seeds and steps as in the playground).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSimulation } from 'duroxide-wasm';
import { register } from './orchestrations.mjs';
import { workload, check } from './workload.mjs';

test('the workload passes simulated seeds 1 to 20', async () => {
  for (let seed = 1; seed <= 20; seed++) {
    const result = await runSimulation({ seed, steps: 2000, setup: register, workload, check });
    assert.equal(result.ok, true, \`seed \${seed}: \${JSON.stringify(result.violations)}\`);
  }
});
` },
    { name: 'README.md', text: `# A duroxide playground project

\`orchestrations.mjs\` holds the code written in the playground, \`workload.mjs\` its simulation
workload, and \`orchestrations.test.mjs\` simulates one on the other over 20 seeds.

    npm install <path>/duroxide-wasm-${version}.tgz   # npm pack build/wasm/package in the duroxide tree
    npm test

The npm package passes values as JSON where the playground passes strings as text: what the code
reads and returns is the same, the stored histories differ (the playground's docs/playground.md).
` },
  ];
}

export async function downloadProject() {
  const code = $('code-text').value;
  const workload = $('sim-workload').value;
  evaluate(code);             // refuse code that does not register, naming the line
  evaluateWorkload(workload);
  const version = (await (await fetch(new URL('../package/package.json', import.meta.url))).json()).version;
  download('duroxide-project.zip', zip(files(code, workload, version)), 'application/zip');
}
