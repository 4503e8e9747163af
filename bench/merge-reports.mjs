// Joins the reports of one build's bench runs, each of other sections (--only), into
// the report one run of all those sections would have written, for bench/compare.mjs.
// Every part measures the raw commit rates and SQLite alone before its section; the
// joined report takes the commit rates of the part that ran throughput (the rates its
// rows are divided by; else the first part's) and, of SQLite alone, each read's
// fastest time over the parts (each already the fastest of its windows). Refuses parts
// of different builds or sizes, and a section that two parts both ran.
//   node bench/merge-reports.mjs OUT.json PART.json [PART.json ...]
import { readFileSync, writeFileSync } from 'node:fs';

const [outFile, ...partFiles] = process.argv.slice(2);
if (!outFile || partFiles.length === 0) {
  console.error('usage: node bench/merge-reports.mjs OUT.json PART.json [PART.json ...]');
  process.exit(2);
}
const fail = (message) => {
  console.error(`merge-reports: ${message}`);
  process.exit(1);
};
const parts = partFiles.map((file) => ({ file, report: JSON.parse(readFileSync(file, 'utf8')) }));

// Measured by every part whatever its section; joined as the header says.
const shared = new Set(['platform', 'runtime', 'mode', 'commit_rate', 'sqlite_alone', 'targets']);
const first = parts[0].report;
for (const { file, report } of parts) {
  for (const key of ['platform', 'runtime', 'mode']) {
    if (JSON.stringify(report[key]) !== JSON.stringify(first[key])) {
      fail(`${file}: ${key} ${JSON.stringify(report[key])} differs from ${JSON.stringify(first[key])} (${parts[0].file})`);
    }
  }
  if (!report.commit_rate || !report.sqlite_alone) fail(`${file}: no commit rates or SQLite alone`);
}

const merged = { platform: first.platform, runtime: first.runtime, mode: first.mode };
const withThroughput = parts.find(({ report }) => 'throughput' in report);
merged.commit_rate = (withThroughput ?? parts[0]).report.commit_rate;

const alone = { ...first.sqlite_alone };
for (const { file, report } of parts) {
  const other = report.sqlite_alone;
  if (other.rows !== alone.rows || other.range_counted !== alone.range_counted || other.text_matched !== alone.text_matched) {
    fail(`${file}: SQLite alone counted other rows than ${parts[0].file}`);
  }
  alone.range_count_ms = Math.min(alone.range_count_ms, other.range_count_ms);
  alone.text_scan_ms = Math.min(alone.text_scan_ms, other.text_scan_ms);
}
alone.parts = parts.length;  // the fastest of this many runs' fastest windows
merged.sqlite_alone = alone;

merged.targets = [];
for (const { file, report } of parts) {
  for (const [key, value] of Object.entries(report)) {
    if (shared.has(key)) continue;
    if (key in merged) fail(`${file}: section ${key} is also in an earlier part`);
    merged[key] = value;
  }
  merged.targets.push(...(report.targets ?? []));
}
writeFileSync(outFile, JSON.stringify(merged, null, 2));
