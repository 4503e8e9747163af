// DBOS Transact's one-step workflow, the peer of Duroxide's HelloWorld 1.0.0 (one
// activity): N workflows started one after another by one process (each start
// awaited, as the Duroxide bench's thread starts its instances), running
// concurrently, each one step that returns a greeting. Prints {"workflows", "seconds", "workflows_per_s",
// "version"} as JSON; the time runs from before the first start to the last
// result, so the starts are inside it.
// Usage: node dbos_one_step.mjs SYSTEM_DATABASE_URL N
import { readFileSync } from 'node:fs';
import { DBOS } from '@dbos-inc/dbos-sdk';

const [url, countText] = process.argv.slice(2);
const count = Number(countText);
if (!url || !Number.isInteger(count) || count < 1) {
  console.error('usage: node dbos_one_step.mjs SYSTEM_DATABASE_URL N');
  process.exit(2);
}

async function greet(name) {
  return `Hello, ${name}!`;
}

const hello = DBOS.registerWorkflow(async (name) => DBOS.runStep(() => greet(name), { name: 'greet' }),
                                    { name: 'hello' });

DBOS.setConfig({ name: 'duroxide-peers', systemDatabaseUrl: url, logLevel: 'error' });
await DBOS.launch();
const run = `r${Date.now()}`;
const started = performance.now();
const handles = [];
for (let i = 0; i < count; i++) {
  handles.push(await DBOS.startWorkflow(hello, { workflowID: `${run}-${i}` })(`user ${i}`));
}
const results = await Promise.all(handles.map((handle) => handle.getResult()));
const seconds = (performance.now() - started) / 1000;
await DBOS.shutdown();
const wrong = results.filter((result, i) => result !== `Hello, user ${i}!`).length;
if (wrong > 0) {
  console.error(`dbos_one_step: ${wrong} of ${count} results are wrong`);
  process.exit(1);
}
// The script runs from the directory npm installed the SDK into (bench/peers/run.sh).
const sdk = new URL('./node_modules/@dbos-inc/dbos-sdk/package.json', import.meta.url);
const version = JSON.parse(readFileSync(sdk, 'utf8')).version;
console.log(JSON.stringify({ workflows: count, seconds, workflows_per_s: count / seconds, version }));
