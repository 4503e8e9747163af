// The preview-then-confirm flow every destructive action of the playground uses:
// "Preview" walks the action as a dry run and shows how many instances it would
// touch; only then is the confirm button enabled, and it runs the action batch by
// batch with a progress line. Changing any of the action's inputs asks for a new
// preview. `walk(extra)` is a `<method>All` walk (wasm/duroxide.d.ts) with `extra`
// ({dryRun} or {onProgress}) merged into its options.
import { action } from './refresh.js';
import { markDirty } from './runtime.js';
import { ui } from './state.js';

const touched = (total) => total.succeeded ?? total.instances ?? 0;

export function describeWalk(total, done) {
  const verb = total.dry_run ? 'would touch' : (done ? 'touched' : 'touching');
  const pruned = total.executions_pruned === undefined ? ''
    : `, ${total.executions_pruned} execution(s) (${total.events_pruned} event(s)) ${total.dry_run ? 'to prune' : 'pruned'}`;
  const failed = total.failed ? `, ${total.failed} not touched (${total.failures[0].instance}: ${total.failures[0].error})` : '';
  return `${verb} ${touched(total)} instance(s) in ${total.pages} call(s)${pruned}${failed}`;
}

export function confirmable({ preview, confirm, progress, inputs, walk, onReset }) {
  const reset = () => {
    confirm.disabled = true;
    progress.textContent = '';
    if (onReset) onReset();
  };
  for (const input of inputs) input.addEventListener('input', reset);
  ui.disarms.push(reset);
  reset();
  preview.addEventListener('click', action(async () => {
    reset();
    const total = await walk({ dryRun: true });
    progress.textContent = describeWalk(total, true);
    confirm.disabled = touched(total) === 0;
  }));
  confirm.addEventListener('click', action(async () => {
    confirm.disabled = true;
    try {
      const total = await walk({ onProgress: (t) => { progress.textContent = describeWalk(t, false); } });
      progress.textContent = describeWalk(total, true);
    } finally {
      markDirty();  // saved with the page's database, even when a batch failed part way
    }
  }));
}
