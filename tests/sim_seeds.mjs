// CI's simulation suite: many seeds natively, some under wasm, and a fixed set
// of seeds whose trace hashes must be identical in both builds.
//   node tests/sim_seeds.mjs <native duroxide-sim> <wasm duroxide-sim.js> [--with-scenarios]
// Ends with "N passed, M failed", counting one check per seed run and one per
// cross-checked seed. --with-scenarios adds seeds of every scenario workload
// under every fault, corruption and node-shutdown included (docs/semantics.md,
// last section), natively and cross-checked in wasm, and a cross-check of seeds
// that shut nodes down. Always: the generated workload (docs/simulator.md):
// 2,000 seeds natively, 300 under every fault, 200 in wasm, 50 cross-checked;
// a construct of the generated language or a fault kind that no seed of a run
// exercised fails that run (one check each).
import { spawnSync } from 'node:child_process';

const withScenarios = process.argv.includes('--with-scenarios');
const [nativeSim, wasmSim] = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
if (!nativeSim || !wasmSim) {
  console.error('usage: node tests/sim_seeds.mjs <native duroxide-sim> <wasm duroxide-sim.js> [--with-scenarios]');
  process.exit(2);
}

let passed = 0;
let failed = 0;

function run(label, command, args) {
  const started = Date.now();
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  const seconds = (Date.now() - started) / 1000;
  if (result.stderr) process.stdout.write(result.stderr);
  let summary;
  try {
    summary = JSON.parse(result.stdout);
  } catch {
    console.log(`FAIL ${label}: no JSON summary (exit ${result.status})`);
    failed += 1;
    return null;
  }
  for (const seedRun of summary.runs) {
    if (seedRun.ok) passed += 1;
    else failed += 1;
  }
  const perMinute = Math.round((summary.runs.length / seconds) * 60);
  console.log(`${summary.failing_seeds === 0 ? 'ok  ' : 'FAIL'} ${label}: ${summary.runs.length} seeds, ` +
              `${summary.failing_seeds} failing, ${summary.steps} steps, ${seconds.toFixed(1)} s ` +
              `(${perMinute} seeds/min); faults ${JSON.stringify(summary.faults_injected)}`);
  for (const violation of summary.violations.slice(0, 10)) {
    console.log(`     seed ${violation.seed}: ${violation.invariant} ${violation.instance}: ${violation.detail}`);
  }
  return summary;
}

run('native seeds 1..300', nativeSim, ['--seed', '1', '--seeds', '300', '--quiet']);
run('native seeds 5001..5050, 6 nodes, 40 instances, 10000 steps', nativeSim,
    ['--seed', '5001', '--seeds', '50', '--nodes', '6', '--instances', '40', '--steps', '10000', '--quiet']);
run('wasm seeds 1001..1040', 'node', [wasmSim, '--seed', '1001', '--seeds', '40', '--quiet']);

// The cross-check: the same seeds, the same hashes, natively and in wasm.
function crossCheck(label, args) {
  const native = run(`${label} native`, nativeSim, args);
  const wasm = run(`${label} wasm`, 'node', [wasmSim, ...args]);
  if (!native || !wasm) return;
  for (let i = 0; i < native.runs.length; i++) {
    const a = native.runs[i];
    const b = wasm.runs[i];
    if (b && a.seed === b.seed && a.hash === b.hash) {
      passed += 1;
    } else {
      failed += 1;
      console.log(`FAIL seed ${a.seed}: native hash ${a.hash}, wasm hash ${b ? b.hash : 'missing'}`);
    }
  }
  console.log(`${label}: ${native.runs.length} seeds compared`);
}

crossCheck('cross-check 77..101', ['--seed', '77', '--seeds', '25', '--quiet']);
if (withScenarios) {
  const scenarios = ['--scenarios', 'all', '--faults', 'all', '--quiet'];
  run('native scenario seeds 2001..2300, every scenario and fault', nativeSim,
      ['--seed', '2001', '--seeds', '300', ...scenarios]);
  run('native scenario seeds 9001..9030, 6 nodes, 40 instances, 10000 steps', nativeSim,
      ['--seed', '9001', '--seeds', '30', '--nodes', '6', '--instances', '40', '--steps', '10000', ...scenarios]);
  crossCheck('scenario cross-check 301..306', ['--seed', '301', '--seeds', '6', ...scenarios]);
  // Seeds that shut nodes down (node-shutdown is opt-in, and rare in the seeds above).
  crossCheck('shutdown cross-check 1..12', ['--seed', '1', '--seeds', '12', '--faults', 'node-shutdown', '--quiet']);
}
// The generated workload, with its coverage: every construct and every fault
// kind the run enables must be exercised by some seed of it.
function requireCoverage(label, summary, faults) {
  if (!summary) return;
  const never = summary.never_exercised || [];
  const quiet = faults.filter((kind) => !(summary.faults_injected[kind] > 0));
  if (never.length === 0 && quiet.length === 0) {
    passed += 1;
    console.log(`ok   ${label}: every construct and fault kind exercised`);
  } else {
    failed += 1;
    console.log(`FAIL ${label}: never exercised: ${[...never, ...quiet.map((kind) => `fault ${kind}`)].join(', ')}`);
  }
}
const defaultFaults = ['node-crash', 'commit-crash', 'clock-jump', 'node-pause', 'duplicate', 'transient',
                       'disk-error', 'activity-failure', 'slow-activity'];
const generated = ['--workload', 'generated', '--quiet'];
const nativeJobs = ['--jobs', '2'];  // natively on two threads: the same output, half the time
requireCoverage('generated coverage, seeds 1..2000',
                run('native generated seeds 1..2000', nativeSim, ['--seed', '1', '--seeds', '2000', ...generated, ...nativeJobs]),
                defaultFaults);
requireCoverage('generated coverage under every fault, seeds 20001..20300',
                run('native generated seeds 20001..20300, every fault', nativeSim,
                    ['--seed', '20001', '--seeds', '300', '--faults', 'all', ...generated, ...nativeJobs]),
                [...defaultFaults, 'corruption', 'node-shutdown']);
run('wasm generated seeds 3001..3200', 'node', [wasmSim, '--seed', '3001', '--seeds', '200', ...generated]);
crossCheck('generated cross-check 401..450', ['--seed', '401', '--seeds', '50', '--faults', 'all', ...generated]);

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
