// The metrics panel. The chart re-reads the store's buckets; the feed keeps its
// own cursor into the change feed (ui.metricsCursor, reset with the database),
// as a dashboard would.
import { $, el, download } from './dom.js';
import { catalog } from './engine.js';
import { ui } from './state.js';
import { action, refresh } from './refresh.js';

function metricsQuery() {
  return {
    metric: $('metrics-metric').value === 'duration' ? 'duration' : 'all',
    orchestration: $('metrics-name').value,
    bucket: $('metrics-bucket').value,
  };
}

const SVG = 'http://www.w3.org/2000/svg';
const svg = (tag, attributes, text) => {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
};

// A round top for the y axis: 1, 2 or 5 times a power of ten, at least `max`.
function roundUp(max) {
  const power = 10 ** Math.floor(Math.log10(Math.max(1, max)));
  return [1, 2, 5, 10].map((m) => m * power).find((top) => top >= max);
}

// Bars of `values` over the series' buckets, with a y axis (0, half, top, in `unit`) and an
// x axis of bucket times (UTC), in a 660 by 150 view box.
function drawChart(series, values, unit, barClass) {
  const left = 46, right = 650, top = 12, bottom = 118;
  const ceiling = roundUp(Math.max(1, ...values));
  const width = (right - left) / Math.max(1, series.points.length);
  const y = (v) => bottom - (v / ceiling) * (bottom - top);
  const parts = [];
  for (const v of [0, ceiling / 2, ceiling]) {
    parts.push(svg('line', { x1: left, x2: right, y1: y(v), y2: y(v), class: 'chart-grid' }),
      svg('text', { x: left - 4, y: y(v) + 3, class: 'chart-axis', 'text-anchor': 'end', 'data-testid': 'chart-y-tick' }, String(v)));
  }
  parts.push(svg('text', { x: 2, y: 8, class: 'chart-axis', 'data-testid': 'chart-unit' }, unit));
  series.points.forEach((p, i) => {
    const rect = svg('rect', { x: left + i * width + 0.5, y: y(values[i]), width: Math.max(1, width - 1), height: bottom - y(values[i]),
      class: barClass });
    rect.append(svg('title', {}, `${new Date(p.bucket_start_ms).toISOString()}: ${values[i]} ${unit}`));
    parts.push(rect);
  });
  const every = Math.max(1, Math.ceil(series.points.length / 6));
  series.points.forEach((p, i) => {
    if (i % every !== 0) return;
    const at = new Date(p.bucket_start_ms).toISOString();
    parts.push(svg('text', { x: left + i * width, y: bottom + 14, class: 'chart-axis', 'data-testid': 'chart-x-tick' },
      series.bucket === 'day' ? at.slice(5, 10) : at.slice(11, 16)));
  });
  parts.push(svg('text', { x: right, y: bottom + 28, class: 'chart-axis', 'text-anchor': 'end' },
    `${series.bucket === 'day' ? 'date' : 'time'} (UTC), one bar per ${series.bucket}`));
  $('metrics-chart').replaceChildren(...parts);
}

export function renderMetrics() {
  const series = ui.management.getTimeSeries(metricsQuery());
  const metric = $('metrics-metric').value;
  const value = (p) => (metric === 'duration' ? p.duration_avg_ms : p[metric]);
  const values = series.points.map(value);
  const max = Math.max(1, ...values);
  drawChart(series, values, metric === 'duration' ? 'ms (average)' : `${metric} per ${series.bucket}`,
    metric === 'failures' ? 'failures' : '');
  const sum = (key) => series.points.reduce((n, p) => n + (p[key] ?? 0), 0);
  $('metrics-totals').textContent = metric === 'duration'
    ? `finished ${sum('duration_count')}, average ${sum('duration_count') ? Math.round(sum('duration_sum_ms') / sum('duration_count')) : 0} ms, peak bucket average ${max} ms`
    : `starts ${sum('starts')} · completions ${sum('completions')} · failures ${sum('failures')} · peak ${max} ${metric} per ${series.bucket}`;

  for (let round = 0; round < 10; round++) {
    const page = ui.management.watchMetrics(ui.metricsCursor, 200);
    ui.metricsCursor = page.next_cursor;
    for (const d of page.deltas) {
      const finish = d.completions ? `completed in ${d.duration_ms} ms` : d.failures ? `failed after ${d.duration_ms} ms` : '';
      const what = d.starts && finish ? `started and ${finish}` : d.starts ? 'started' : finish;
      ui.metricsFeed.unshift(`#${d.seq} ${d.orchestration} ${d.instance} ${what}`);
    }
    if (page.deltas.length < 200) break;
  }
  ui.metricsFeed.length = Math.min(ui.metricsFeed.length, 50);
  $('metrics-feed').replaceChildren(...ui.metricsFeed.map((line) => el('li', {}, line)));
}

function downloadMetricsCsv() {
  const series = ui.management.getTimeSeries({ ...metricsQuery(), metric: 'all' });
  const columns = ['bucket_start_ms', 'starts', 'completions', 'failures', 'duration_count', 'duration_sum_ms', 'duration_avg_ms'];
  const quote = (v) => (/[",\r\n]/.test(String(v)) ? `"${String(v).replaceAll('"', '""')}"` : String(v));
  const lines = [columns.join(','), ...series.points.map((p) => columns.map((c) => quote(p[c] ?? '')).join(','))];
  download('duroxide-timeseries.csv', lines.join('\r\n') + '\r\n', 'text/csv');
}

export function initMetrics() {
  for (const sample of catalog) $('metrics-name').append(el('option', { value: sample.name }, sample.name));
  for (const id of ['metrics-metric', 'metrics-name', 'metrics-bucket']) $(id).addEventListener('change', () => refresh());
  $('metrics-csv').addEventListener('click', action(downloadMetricsCsv));
}
