// Puts native and wasm bench reports side by side: the wasm/native ratio of every
// workload (time in wasm ÷ time natively; the target is ≤ 1.5), and sanity checks of
// every report (every workload finished, the activities counted are the ones each
// instance runs, every replay deterministic, management counts add up). Throughput
// compares the step driver with the step driver (the cost of wasm itself); wasm beside
// the native threaded driver is listed after, for information. Given several pairs (runs
// that alternated, bench/wasm-ratio.sh), each row's ratio is taken within each pair and
// the row reports their median and every pair's ratio: a machine whose speed drifts
// between runs moves a lone pair's ratios by more than the difference being measured.
// Ends with "N passed, M failed" (the checks; the performance targets are reported, not
// asserted).
//   node bench/compare.mjs native.json wasm.json [native2.json wasm2.json ...] [out.md]
import { readFileSync, writeFileSync } from 'node:fs';

const args = process.argv.slice(2);
const outFile = args.length % 2 === 1 && args[args.length - 1].endsWith('.md') ? args.pop() : undefined;
if (args.length < 2 || args.length % 2 !== 0) {
  console.error('usage: node bench/compare.mjs native.json wasm.json [native2.json wasm2.json ...] [out.md]');
  process.exit(2);
}
const pairs = [];
for (let i = 0; i < args.length; i += 2) {
  pairs.push({ native: JSON.parse(readFileSync(args[i], 'utf8')), wasm: JSON.parse(readFileSync(args[i + 1], 'utf8')) });
}

let passed = 0;
let failed = 0;
const check = (ok, what) => {
  if (ok) passed += 1;
  else failed += 1;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
};

for (const [index, report] of pairs.flatMap((pair) => [pair.native, pair.wasm]).entries()) {
  const name = pairs.length > 1 ? `${report.platform} (pair ${Math.floor(index / 2) + 1})` : report.platform;
  check(report.commit_rate.NORMAL > 0 && report.commit_rate.FULL > 0, `${name}: raw commit rates measured`);
  // A run of some sections (--only) is checked for those it holds.
  if (report.throughput) {
    check(report.throughput.length > 0 && report.throughput.every((row) => row.complete),
      `${name}: every throughput workload finished all its instances`);
    const activitiesEach = { 'HelloWorld 1.0.0': 1, 'HelloWorld 2.0.0': 0, 'FanOutFanIn 1.0.0': 5 };
    check(report.throughput.every((row) => row.activities === row.finished * activitiesEach[row.workload]),
      `${name}: the activity completions counted are each workload's activities per instance × instances finished`);
  }
  if (report.replay) check(report.replay.every((row) => row.deterministic), `${name}: every replayed history is deterministic`);
  if (report.management) {
    check(report.management.every((row) => row.checks.first_page_rows > 0 && row.checks.children_found > 0 &&
      Object.entries(row.expected).every(([key, value]) => row.checks[key] === value)),
      `${name}: every management read found what the loaded instances hold (counts, events, durations, children, a filtered page)`);
    check(report.management.every((row) => row.purged > 0), `${name}: purge removed the finished instances before the cut-off`);
  }
  if (report.simulation) check(report.simulation.failing === 0, `${name}: simulation seeds found no violation`);
  if (report.beside_management && 'complete' in report.beside_management) {
    check(report.beside_management.complete && report.beside_management.management_loops > 0,
      `${name}: HelloWorld beside looping management reads finished every instance while the reads ran`);
  }
  if (report.beside_stranded_tag) {
    check(report.beside_stranded_tag.complete && report.beside_stranded_tag.left_queued === report.beside_stranded_tag.stranded_rows,
      `${name}: HelloWorld beside a tag no worker takes finished every instance and left that tag's rows queued`);
  }
  if (report.soak) check(report.soak.instances > 0, `${name}: the soak finished instances`);
}

// The ratio rows of one pair, and the wasm step driver beside the native threaded one.
function ratioRows({ native, wasm }) {
  const rows = [];
  const besideThreaded = [];
  check(native.sqlite_alone && wasm.sqlite_alone && native.sqlite_alone.rows === wasm.sqlite_alone.rows &&
    native.sqlite_alone.range_counted > 0 && native.sqlite_alone.range_counted === wasm.sqlite_alone.range_counted &&
    native.sqlite_alone.text_matched === 1 && wasm.sqlite_alone.text_matched === 1,
    'SQLite alone counted the same index range and matched the one text row in both builds');

  if (native.postgres) {
    check(native.postgres.commit_rate > 0 && native.postgres.throughput.length > 0 &&
      native.postgres.throughput.every((row) => row.complete),
      'native: every PostgreSQL throughput workload finished all its instances');
  }

  const ratio = (nativeRate, wasmRate) => nativeRate / wasmRate;  // wasm time ÷ native time
  rows.push(['raw commits, WAL NORMAL', ratio(native.commit_rate.NORMAL, wasm.commit_rate.NORMAL)]);
  rows.push(['raw commits, WAL FULL', ratio(native.commit_rate.FULL, wasm.commit_rate.FULL)]);
  const alone = (report) => report.sqlite_alone;
  const rowsText = alone(native).rows.toLocaleString('en-US');
  rows.push([`SQLite alone: COUNT(*) of an index range (${alone(native).range_counted.toLocaleString('en-US')} entries of ${rowsText} rows)`,
    alone(wasm).range_count_ms / alone(native).range_count_ms]);
  rows.push([`SQLite alone: LIKE '%…%' over ${rowsText} rows`, alone(wasm).text_scan_ms / alone(native).text_scan_ms]);
  const nativeRow = (w, driver) => (native.throughput ?? []).find((row) => row.workload === w.workload &&
    row.sync === w.sync && row.driver === driver && row.options === w.options);
  const sections = (section) => [native[section] ?? [], wasm[section] ?? []];
  const [, wasmThroughput] = sections('throughput');
  for (const w of wasmThroughput) {
    const n = nativeRow(w, w.driver);
    if (n) rows.push([`${w.workload} ${w.sync} ${w.driver} driver, ${w.options}`, ratio(n.orchestrations_per_s, w.orchestrations_per_s)]);
  }
  check(wasmThroughput.every((w) => nativeRow(w, w.driver)),
    'every wasm throughput workload has a native run on the same driver');
  for (const w of wasmThroughput) {
    const n = nativeRow(w, 'threaded 1/1');
    if (n) besideThreaded.push([`${w.workload} ${w.sync}, ${w.options}`, ratio(n.orchestrations_per_s, w.orchestrations_per_s)]);
  }
  const [nativeReplay, wasmReplay] = sections('replay');
  for (const w of wasmReplay) {
    const n = nativeReplay.find((row) => row.events === w.events);
    if (n) rows.push([`replay ${w.events} events`, ratio(n.events_per_s, w.events_per_s)]);
  }
  const [nativeManagement, wasmManagement] = sections('management');
  for (const w of wasmManagement) {
    const n = nativeManagement.find((row) => row.instances === w.instances);
    if (!n) continue;
    for (const read of w.reads) {
      const other = n.reads.find((r) => r.read === read.read);
      if (other) rows.push([`${read.read} at ${w.instances}`, read.ms / other.ms]);
    }
    rows.push([`purge_completed at ${w.instances}`, ratio(n.purge_per_s, w.purge_per_s)]);
  }
  if (native.simulation && wasm.simulation) {
    rows.push(['simulation seeds', ratio(native.simulation.seeds_per_minute, wasm.simulation.seeds_per_minute)]);
  }
  return { rows, besideThreaded };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
// Rows by name, in the first pair's order, with each pair's ratio; a row some pair
// lacks is a failed check (the runs did not measure the same things).
const merge = (lists) => {
  const byName = new Map();
  for (const list of lists) {
    for (const [name, value] of list) {
      if (!byName.has(name)) byName.set(name, []);
      byName.get(name).push(value);
    }
  }
  check([...byName.values()].every((values) => values.length === lists.length),
    'every pair measured the same rows');
  return [...byName].map(([name, values]) => [name, median(values), values]);
};
check(pairs.every((pair) => pair.native.mode === pairs[0].native.mode && pair.wasm.mode === pairs[0].native.mode),
  `every report is of one size (${pairs[0].native.mode})`);
const perPair = pairs.map(ratioRows);
const rows = merge(perPair.map((pair) => pair.rows));
const besideThreaded = merge(perPair.map((pair) => pair.besideThreaded));
const { native, wasm } = pairs[0];
const spread = (values) => (pairs.length > 1 ? ` | ${values.map((value) => value.toFixed(2)).join(' · ')}` : '');
const spreadHead = pairs.length > 1 ? ' | each pair' : '';
const spreadRule = pairs.length > 1 ? '---|' : '';

const judged = pairs.length > 1 ? `median of ${pairs.length} pairs of runs that alternated` : 'one pair of runs';
let md = `# wasm ÷ native (${native.mode} run; time in wasm ÷ time natively, target ≤ 1.5; ${judged})\n\n` +
  `native: ${native.runtime}; wasm: ${wasm.runtime}\n\n| workload | ratio | ≤ 1.5${spreadHead} |\n|---|---|---|${spreadRule}\n`;
for (const [name, value, values] of rows) {
  md += `| ${name} | ${value.toFixed(2)} | ${value <= 1.5 ? 'yes' : '**no**'}${spread(values)} |\n`;
}
md += '\nThe "SQLite alone" rows are SQLite without the store, the same build of it: a management read that ' +
  'is mostly a scan of that kind (a count over a creation window, a text search) runs in wasm at about their ratio.\n';
if (besideThreaded.length > 0) {
  md += '\nFor information: the wasm step driver ÷ the native threaded driver at 1/1 (wasm has no threads)\n\n' +
    `| workload | ratio${spreadHead} |\n|---|---|${spreadRule}\n`;
  for (const [name, value, values] of besideThreaded) md += `| ${name} | ${value.toFixed(2)}${spread(values)} |\n`;
}
console.log(md);
if (outFile) writeFileSync(outFile, md);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
