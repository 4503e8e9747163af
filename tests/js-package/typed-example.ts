// A typed program against duroxide-wasm's declarations: tsc must accept it (run.sh).
import {
  SqliteProvider, Client, Runtime, OrchestrationContext, ActivityContext, createDuroxide, runSimulation,
  type SimulationEnd,
  type OrchestrationStatus, type RaceResult, type JoinResult, type RetryPolicy, type LogEntry,
} from 'duroxide-wasm';

interface Order { id: string; items: number[] }

const retry: RetryPolicy = { maxAttempts: 3, timeoutMs: 1000, backoff: 'exponential' };

async function main(): Promise<void> {
  const provider: SqliteProvider = await SqliteProvider.open('sqlite::memory:', { clock: 'virtual' });
  const runtime = new Runtime(provider, {
    workerConcurrency: 4,
    workerNodeId: 'pod-1',
    maxSessionsPerRuntime: 4,
    sessionIdleTimeoutMs: 60_000,
    logger: (entry: LogEntry) => console.log(entry.level, entry.message),
  });
  runtime.registerActivity('Price', async (ctx: ActivityContext, item: number): Promise<number> => {
    if (ctx.isCancelled()) throw new Error('cancelled');
    const session: string | null = ctx.sessionId;
    ctx.traceInfo(`pricing ${item} for ${ctx.instanceId} in session ${session ?? 'none'}`);
    return item * 2;
  });
  runtime.registerOrchestration('Checkout', function* (ctx: OrchestrationContext, order: Order) {
    ctx.setCustomStatus('pricing');
    const prices = (yield ctx.all(order.items.map((i) => ctx.scheduleActivity('Price', i)))) as JoinResult<number>[];
    const total = prices.reduce((sum, p) => sum + (p.ok ?? 0), 0);
    const decision = (yield ctx.race(ctx.waitForEvent('approve'), ctx.scheduleTimer(60_000))) as RaceResult<string>;
    const checked = (yield ctx.scheduleActivityWithRetry('Price', total, retry)) as number;
    const rechecked = (yield ctx.scheduleActivityWithRetryOnSession('Price', checked, retry, order.id)) as number;
    const inSession = (yield ctx.scheduleActivityOnSession('Price', 1, order.id)) as number;
    const viaOption = (yield ctx.scheduleActivity('Price', 2, { sessionId: order.id })) as number;
    const when = (yield ctx.utcNow()) as number;
    return { total, checked, rechecked, inSession, viaOption, approved: decision.index === 0, when, replaying: ctx.isReplaying };
  });
  const client = new Client(provider);
  await client.startOrchestration('order-1', 'Checkout', { id: 'order-1', items: [1, 2, 3] } satisfies Order);
  await runtime.runUntilIdle();
  await client.raiseEvent('order-1', 'approve', 'yes');
  await runtime.advanceTime(1);
  const status: OrchestrationStatus = await client.getStatus('order-1');
  const output = await client.waitForOrchestrationTyped<{ total: number }>('order-1', 1000);
  console.log(status.status, output.total, runtime.metricsSnapshot().orchCompletions);
  const engine = await createDuroxide();
  console.log(engine.catalog().length);
  await runtime.shutdown();
  provider.close();

  const simulated = await runSimulation({
    seed: 7,
    faults: ['node-crash'],
    setup(rt) {
      rt.registerActivity('Double', (ctx, n: number) => n * 2);
      rt.registerOrchestration('Twice', function* (ctx: OrchestrationContext, n: number) {
        return (yield ctx.scheduleActivity('Double', n)) as number;
      });
    },
    workload(sim_client, sim) {
      sim.at(sim.randomInt(100));
      void sim_client.startOrchestration('t-1', 'Twice', 21);
    },
    check: (end: SimulationEnd) => (end.output === 42 ? [] : [`got ${String(end.output)}`]),
  });
  console.log(simulated.hash, simulated.ok, simulated.violations.length);
}

void main();
