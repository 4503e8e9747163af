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

export function renderMetrics() {
  const series = ui.management.getTimeSeries(metricsQuery());
  const metric = $('metrics-metric').value;
  const value = (p) => (metric === 'duration' ? p.duration_avg_ms : p[metric]);
  const values = series.points.map(value);
  const max = Math.max(1, ...values);
  const width = 600 / series.points.length;
  const chart = $('metrics-chart');
  chart.replaceChildren(...series.points.map((p, i) => {
    const rect = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
    const height = (values[i] / max) * 110;
    rect.setAttribute('x', String(i * width + 0.5));
    rect.setAttribute('y', String(118 - height));
    rect.setAttribute('width', String(Math.max(1, width - 1)));
    rect.setAttribute('height', String(height));
    if (metric === 'failures') rect.setAttribute('class', 'failures');
    const title = document.createElementNS('http://www.w3.org/2000/svg', 'title');
    title.textContent = `${new Date(p.bucket_start_ms).toISOString()}: ${values[i]}`;
    rect.append(title);
    return rect;
  }));
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
