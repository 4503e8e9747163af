// The code panel: write orchestrations and activities in JavaScript, register them
// beside the catalog (or in place of its code), and replay the selected instance's
// history against the code in the editor before registering it.
import { $, el, lineNumbers } from './dom.js';
import { ui } from './state.js';
import { openRuntime, work } from './runtime.js';
import { action, refresh } from './refresh.js';
import { examples } from './examples.js';
import { evaluate, savedSource, saveSource } from './usercode.js';
import { addStartable } from './start.js';
import { startReplay } from './replay.js';
import { wholeShownHistory } from './details.js';
import { downloadProject } from './project.js';
import { decodeShared, encodeShared } from './share.js';
import { writeHash } from './hash.js';

let renderGutter = () => {};  // set by initCode (dom.js: lineNumbers)

function say(text, bad = false) {
  const result = $('code-result');
  result.textContent = text;
  result.className = bad ? 'bad' : 'ok';
}

function describe(program) {
  const orchestrations = program.orchestrations.map((o) => `${o.name} ${o.version}`).join(', ') || 'none';
  const activities = program.activities.map((a) => a.name).join(', ') || 'none';
  return `orchestrations: ${orchestrations}; activities: ${activities}`;
}

// Evaluates the editor's code and makes it the page's code: the database reopens
// with the catalog and this code registered (what an earlier registration added and
// this code lacks is gone), at the same virtual time. Every runtime opened later gets
// it too, and the code is kept for the next visit.
async function register() {
  const source = $('code-text').value;
  let program;
  try {
    program = evaluate(source);
  } catch (error) {
    say(error.message, true);
    return;
  }
  const bytes = ui.runtime.saveDatabase();
  const now = ui.runtime.nowMs();
  ui.program = program;
  openRuntime(bytes, now, true);
  saveSource(source);
  for (const { name } of program.orchestrations) addStartable(name);
  say(`registered ${describe(program)}`);
  work();
  refresh();
  await putCodeInHash(source);
}

// The registered code lives in the URL, so a link to any view carries it.
async function putCodeInHash(source) {
  ui.codeParam = source ? await encodeShared({ code: source }) : '';
  writeHash();
}

// Replays the shown execution against the editor's code, registered or not.
function replayAgainstCode() {
  if (!ui.instance || !ui.shownHistory) throw new Error('select an instance to replay first');
  let program;
  try {
    program = evaluate($('code-text').value);
  } catch (error) {
    say(error.message, true);
    return;
  }
  say(`replayed ${ui.instance} against ${describe(program)}`);
  startReplay(wholeShownHistory(), `${ui.instance} against the code panel's code`, true, 0,
    { instance: ui.instance, execution: ui.shownExecution, orchestrations: program.orchestrations });
}

// Evaluates the code kept from the last visit, before the saved database opens, so
// its instances find their code; an error is shown, and the catalog runs alone.
function restoreSavedCode() {
  const source = savedSource();
  $('code-text').value = source || examples.HelloWorld;
  renderGutter();
  if (!source) return;
  try {
    ui.program = evaluate(source);
    for (const { name } of ui.program.orchestrations) addStartable(name);
    say(`registered ${describe(ui.program)} (kept from the last visit)`);
    // Into the hash with the next write: the page reads the incoming hash first.
    encodeShared({ code: source }).then((param) => { ui.codeParam = param; });
  } catch (error) {
    say(`the kept code does not register: ${error.message}`, true);
  }
}

// A link to this view with the editor's code in it (share.js), shown to copy.
async function shareLink() {
  const params = new URLSearchParams(location.hash.slice(1));
  params.delete('repro');
  params.set('code', await encodeShared({ code: $('code-text').value }));
  $('code-link').href = `${location.origin}${location.pathname}#${params.toString()}`;
  $('code-link').textContent = `${location.origin}${location.pathname}#…code (${params.get('code').length} characters)`;
  $('code-link-line').hidden = false;
}

// A link's code: when it is not the code registered here, into the editor, not
// registered until the user says so.
export async function openSharedCode(text) {
  const shared = await decodeShared(text);
  if (String(shared.code ?? '') === savedSource()) return;
  $('code-text').value = String(shared.code ?? '');
  renderGutter();
  say('a link opened this code: read it, then Register');
}

export function initCode() {
  for (const name of Object.keys(examples)) $('code-example').append(el('option', { value: name }, name));
  $('code-open-example').addEventListener('click', () => {
    $('code-text').value = examples[$('code-example').value];
    renderGutter();
    say(`the ${$('code-example').value} example: edit it, then Register or Replay`);
  });
  renderGutter = lineNumbers($('code-text'), $('code-gutter'));
  $('code-register').addEventListener('click', action(register));
  $('code-replay').addEventListener('click', action(replayAgainstCode));
  $('code-project').addEventListener('click', action(downloadProject));
  $('code-share').addEventListener('click', action(shareLink));
  restoreSavedCode();
}
