// The sample catalog (core/hosts/samples.cpp, docs/samples.md) as editable JavaScript:
// each example registers the sample under its own name and version, so registering it
// replaces the catalog's C++ code in this page. Written against the engine API's text
// convention (dx.encodeText / dx.decodeText), a port that issues the same commands
// replays the catalog's histories deterministically; the comments say where one cannot.
const asText = `// An event or message arrives as a value: JSON when it parses, else text.
const asText = (value) => (value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value));
`;

const firstFailure = `// ctx.all answers [{ok: value} | {err: message}]; the first failure fails the whole.
const values = (results) => results.map((result) => {
  if ('err' in result) throw new Error(result.err);
  return result.ok;
});
`;

export const examples = {
  HelloWorld: `// One activity Hello(name); version 2.0.0 answers without an activity.
registerActivity('Hello', (ctx, name) => \`Hello, \${name}!\`);

registerOrchestration('HelloWorld', function* (ctx, name) {
  return yield ctx.scheduleActivity('Hello', name);
});

registerOrchestrationVersioned('HelloWorld', '2.0.0', function* (ctx, name) {
  return \`Hi, \${name}!\`;
});
`,
  FanOutFanIn: `${firstFailure}
// One Hello per name, all at once, joined in input order.
registerOrchestration('FanOutFanIn', function* (ctx, names) {
  return values(yield ctx.all(names.map((name) => ctx.scheduleActivity('Hello', name))));
});
`,
  Chain: `// N sequential AddOne activities, each result feeding the next.
registerOrchestration('Chain', function* (ctx, input) {
  let current = input.value;
  for (let i = 0; i < input.steps; i++) {
    current = yield ctx.scheduleActivity('AddOne', current);
  }
  return current;
});
`,
  Approval: `${asText}
// Waits for the event Approve, or gives up when the timer fires first.
registerOrchestration('Approval', function* (ctx, input) {
  const winner = yield ctx.race(ctx.waitForEvent('Approve'), ctx.scheduleTimer(input.timeout_ms));
  if (winner.index === 1) return 'timeout';
  return \`approved:\${asText(winner.value)}\`;
});
`,
  Counter: `// AddOne, then continue as new with the next count until the limit.
registerOrchestration('Counter', function* (ctx, input) {
  if (input.count >= input.limit) return input.limit;
  const next = yield ctx.scheduleActivity('AddOne', input.count);
  yield ctx.continueAsNew({ count: next, limit: input.limit });
});
`,
  Parent: `${firstFailure}
// One HelloWorld sub-orchestration per name.
registerOrchestration('Parent', function* (ctx, names) {
  return values(yield ctx.all(names.map((name) => ctx.scheduleSubOrchestration('HelloWorld', name))));
});
`,
  RetryFlaky: `// The catalog's C++ passes each attempt's number in that attempt's input; a retry
// policy here has one input for every attempt, so this port's activity counts its
// own calls (activities may keep state, orchestrations may not) and its history
// differs from the catalog's.
const calls = new Map();
registerActivity('FlakyCounted', (ctx, input) => {
  const call = (calls.get(ctx.instanceId) ?? 0) + 1;
  calls.set(ctx.instanceId, call);
  if (call <= input.fail_times) throw new Error(\`flaky failure \${call}\`);
  return 'ok';
});

registerOrchestration('RetryFlaky', function* (ctx, input) {
  yield ctx.scheduleActivityWithRetry('FlakyCounted', { fail_times: input.fail_times },
    { maxAttempts: input.max_attempts, backoff: 'fixed', initialDelayMs: 10 });
  return \`ok after \${input.fail_times} failures\`;
});
`,
  Saga: `// Debit, then Credit; a failed Credit is compensated by a Refund.
registerOrchestration('Saga', function* (ctx, input) {
  yield ctx.scheduleActivity('Debit', input.amount);
  try {
    yield ctx.scheduleActivity('Credit', { amount: input.amount, fail: input.fail_credit === true });
    return 'committed';
  } catch (error) {
    yield ctx.scheduleActivity('Refund', input.amount);
    return 'compensated';
  }
});
`,
  Mailbox: `${asText}
// Takes N messages from the queue inbox, in order, and joins them.
registerOrchestration('Mailbox', function* (ctx, input) {
  const messages = [];
  for (let i = 0; i < input.messages; i++) messages.push(asText(yield ctx.dequeueEvent('inbox')));
  return messages.join(',');
});
`,
  LongTimer: `// Custom status "waiting", then a one-hour durable timer.
registerOrchestration('LongTimer', function* (ctx) {
  ctx.setCustomStatus('waiting');
  yield ctx.scheduleTimer(60 * 60 * 1000);
  return 'done';
});
`,
  Fails: `// Activity Fail(error), not caught: the instance fails with its message.
registerOrchestration('Fails', function* (ctx, error) {
  return yield ctx.scheduleActivity('Fail', error);
});
`,
};
