// The timeline of one execution as a Gantt chart: a bar per activity, timer, event or
// queue wait and sub-orchestration from the event that began it to the one that ended
// it, under the execution's own bar, on a time axis with units; zoomable.
import { el } from './dom.js';
import { ui } from './state.js';

const SVG = 'http://www.w3.org/2000/svg';
const svg = (tag, attributes = {}, ...children) => {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  for (const child of children) node.append(child instanceof Node ? child : String(child));
  return node;
};

const TERMINAL = new Set(['OrchestrationCompleted', 'OrchestrationFailed', 'OrchestrationContinuedAsNew']);
const kMaxBars = 2000;  // a longer history shows its first 2,000 operations and says so

// A duration as its largest fitting unit: 850 ms, 12.5 s, 3 min 20 s, 2 h 5 min.
export function formatDuration(ms) {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${Number((ms / 1000).toFixed(ms < 10_000 ? 2 : 1))} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min${ms % 60_000 >= 1000 ? ` ${Math.floor((ms % 60_000) / 1000)} s` : ''}`;
  return `${Math.floor(ms / 3_600_000)} h${ms % 3_600_000 >= 60_000 ? ` ${Math.floor((ms % 3_600_000) / 60_000)} min` : ''}`;
}

// The operations of `history`: [{kind, label, start, end, state}] with state done, failed,
// pending (still open in a running execution), dropped (open when the execution ended) or,
// when `partial` (the execution's first events only), beyond (open at the last event shown).
export function spans(history, nowMs, partial = false) {
  const out = [];
  const byId = new Map();
  const waiting = { event: new Map(), queue: new Map() };  // name -> open spans, oldest first
  const open = (span, id) => { out.push(span); if (id !== undefined) byId.set(id, span); return span; };
  const close = (span, at, state) => { if (span && span.state === 'open') { span.end = at; span.state = state; } };
  const queueFor = (kind, name) => {
    if (!waiting[kind].has(name)) waiting[kind].set(name, []);
    return waiting[kind].get(name);
  };
  let ended = null;
  for (const e of history) {
    const at = e.timestamp_ms;
    const source = byId.get(e.source_event_id);
    switch (e.kind) {
      case 'OrchestrationStarted': open({ kind: 'orchestration', label: `${e.name} ${e.version ?? ''}`.trim(), start: at, end: at, state: 'open' }); break;
      case 'ActivityScheduled': open({ kind: 'activity', label: `activity ${e.name}`, start: at, end: at, state: 'open' }, e.event_id); break;
      case 'ActivityCompleted': close(source, at, 'done'); break;
      case 'ActivityFailed': close(source, at, 'failed'); break;
      case 'TimerCreated': open({ kind: 'timer', label: `timer to +${formatDuration(Math.max(0, e.fire_at_ms - at))}`, start: at, end: at, state: 'open' }, e.event_id); break;
      case 'TimerFired': close(source, at, 'done'); break;
      case 'ExternalSubscribed': queueFor('event', e.name).push(open({ kind: 'wait', label: `event ${e.name}`, start: at, end: at, state: 'open' })); break;
      case 'ExternalEvent': close(queueFor('event', e.name).shift(), at, 'done'); break;
      case 'QueueSubscribed': queueFor('queue', e.name).push(open({ kind: 'wait', label: `queue ${e.name}`, start: at, end: at, state: 'open' })); break;
      case 'QueueEventDelivered': close(queueFor('queue', e.name).shift(), at, 'done'); break;
      case 'SubOrchestrationScheduled': open({ kind: 'sub', label: `sub ${e.name} ${e.instance}`, start: at, end: at, state: 'open' }, e.event_id); break;
      case 'SubOrchestrationCompleted': close(source, at, 'done'); break;
      case 'SubOrchestrationFailed': close(source, at, 'failed'); break;
      default:
        if (TERMINAL.has(e.kind)) ended = { at, failed: e.kind === 'OrchestrationFailed' };
    }
  }
  const lastShown = history.length ? history[history.length - 1].timestamp_ms : 0;
  for (const span of out) {
    if (span.kind === 'orchestration' && ended) close(span, ended.at, ended.failed ? 'failed' : 'done');
    else if (ended) close(span, ended.at, 'dropped');
    else if (partial) close(span, Math.max(span.start, lastShown), 'beyond');
    else close(span, Math.max(span.start, nowMs), 'pending');
  }
  return out;
}

// Axis ticks: about six, at a round step in the span's unit.
function ticks(span) {
  const steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000,
    300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 21_600_000, 43_200_000, 86_400_000];
  const step = steps.find((s) => span / s <= 6) ?? Math.ceil(span / 6 / 86_400_000) * 86_400_000;
  const out = [];
  for (let t = 0; t <= span; t += step) out.push(t);
  return out;
}

// What a bar's duration says of a span not done or failed.
const SUFFIX = { pending: ' so far', dropped: ' (ended unfinished)', beyond: ' (open past the events shown)' };

// The chart: `history` one execution's events (its first ones only when `partial`), `nowMs`
// the clock for what is still open.
export function renderGantt(history, nowMs, partial = false) {
  const all = spans(history, nowMs, partial);
  const shown = all.slice(0, kMaxBars);
  const start = shown.length ? Math.min(...shown.map((s) => s.start)) : 0;
  const span = Math.max(1, ...shown.map((s) => s.end - start));
  const rowHeight = 18;
  const labelWidth = 260;
  const box = el('div', { class: 'gantt', 'data-testid': 'history-timeline' });
  const zoom = el('input', { type: 'range', min: '0', max: '6', value: ui.ganttZoom, 'aria-label': 'timeline zoom', 'data-testid': 'gantt-zoom' });
  const zoomText = el('span', { class: 'hint', 'data-testid': 'gantt-scale' });
  const scroller = el('div', { class: 'gantt-scroll' });
  const draw = () => {
    const factor = 2 ** Number(zoom.value);
    const width = 640 * factor;
    zoomText.textContent = `${factor}× · ${formatDuration(span)} across`;
    const x = (t) => labelWidth + ((t - start) / span) * width;
    const chart = svg('svg', { width: labelWidth + width + 90, height: (shown.length + 1) * rowHeight + 8, role: 'img',
      'aria-label': `timeline of ${shown.length} operations over ${formatDuration(span)}` });
    for (const t of ticks(span)) {
      chart.append(svg('line', { x1: x(start + t), x2: x(start + t), y1: 14, y2: (shown.length + 1) * rowHeight + 4, class: 'gantt-grid' }),
        svg('text', { x: x(start + t) + 2, y: 11, class: 'gantt-axis' }, `+${formatDuration(t)}`));
    }
    shown.forEach((s, i) => {
      const y = (i + 1) * rowHeight;
      const duration = s.end - s.start;
      const bar = svg('rect', { x: x(s.start), y: y + 3, width: Math.max(2, x(s.end) - x(s.start)), height: rowHeight - 6, rx: 2,
        class: `gantt-bar gantt-${s.kind} gantt-${s.state}`, 'data-testid': 'gantt-bar' },
      svg('title', {}, `${s.label}: ${formatDuration(duration)} (${s.state}), from +${formatDuration(s.start - start)}`));
      chart.append(svg('text', { x: 4, y: y + rowHeight - 5, class: 'gantt-label' }, s.label.length > 40 ? `${s.label.slice(0, 39)}…` : s.label),
        bar, svg('text', { x: x(s.end) + 4, y: y + rowHeight - 5, class: 'gantt-duration', 'data-testid': 'gantt-duration' },
          `${formatDuration(duration)}${SUFFIX[s.state] ?? ''}`));
    });
    scroller.replaceChildren(chart);
  };
  zoom.addEventListener('input', () => { ui.ganttZoom = zoom.value; draw(); });
  draw();
  box.append(el('div', { class: 'gantt-bar-line' }, el('label', {}, 'zoom ', zoom), ' ', zoomText,
    all.length > shown.length ? el('span', { class: 'hint' }, ` · first ${kMaxBars} of ${all.length} operations`) : ''), scroller);
  return box;
}
