/**
 * Supervision: a crashing actor is restarted (fresh behavior from its factory, start() again),
 * and after `restartsMax` restarts within `restartWindowMs` it is marked Broken: new messages
 * reject with PS_ERR_BROKEN carrying the reason. Time is a SimulatedClock.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from '../../../src/actor/clock.js';
import { ActorRegistry } from '../../../src/actor/registry.js';
import type { ActorContext, Behavior } from '../../../src/actor/types.js';
import { StrataError, isStrataError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/observability/log.js';

async function eventually(condition: () => boolean, what: string): Promise<void> {
  for (let attempt = 0; attempt < 2_000; attempt++) {
    if (condition()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`never happened: ${what}`);
}

function crashyHarness() {
  const clock = new SimulatedClock();
  const registry = new ActorRegistry({ logger: silentLogger(), clock, restartPolicy: { restartsMax: 2, restartWindowMs: 1_000 } });
  const counters = { starts: 0, stops: 0 };
  const factory = (): Behavior<string> => {
    let count = 0;
    return {
      start() { counters.starts += 1; },
      stop() { counters.stops += 1; },
      receive(message) {
        if (message === 'crash') throw new Error('boom');
        if (message === 'missing') throw new StrataError('PS_ERR_NOT_FOUND', 'no such thing');
        count += 1;
        return count;
      },
    };
  };
  return { clock, registry, counters, factory };
}

test('a crash restarts the actor: state reset, start() called again', async () => {
  const { registry, counters, factory } = crashyHarness();
  await registry.spawn({ address: 'test/crashy', factory });
  assert.is(await registry.ask('test/crashy', 'inc'), 1);
  assert.is(await registry.ask('test/crashy', 'inc'), 2);
  registry.tell('test/crashy', 'crash');
  await eventually(() => counters.starts === 2, 'restart');
  assert.is(counters.stops, 1);
  assert.is(await registry.ask('test/crashy', 'inc'), 1);
  await registry.stopAll();
});

test('after restartsMax restarts within the window the actor is Broken with its reason', async () => {
  const { registry, counters, factory } = crashyHarness();
  await registry.spawn({ address: 'test/crashy', factory });
  for (let crash = 1; crash <= 2; crash++) {
    registry.tell('test/crashy', 'crash');
    await eventually(() => counters.starts === crash + 1, `restart ${crash}`);
  }
  registry.tell('test/crashy', 'crash');
  await eventually(() => registry.stateOf('test/crashy')?.kind === 'Broken', 'broken');
  assert.is(counters.starts, 3);
  try {
    await registry.ask('test/crashy', 'inc');
    assert.unreachable('a broken actor must reject');
  } catch (error) {
    assert.ok(isStrataError(error, 'PS_ERR_BROKEN'), String(error));
    assert.is((error as StrataError).context['reason'], 'boom');
  }
  await registry.stopAll();
});

test('restarts older than the window no longer count', async () => {
  const { clock, registry, counters, factory } = crashyHarness();
  await registry.spawn({ address: 'test/crashy', factory });
  for (let crash = 1; crash <= 4; crash++) {
    registry.tell('test/crashy', 'crash');
    await eventually(() => counters.starts === crash + 1, `restart ${crash}`);
    clock.advance(600);
  }
  assert.is(registry.stateOf('test/crashy')?.kind, 'Running');
  await registry.stopAll();
});

test('an operating error answering an ask does not restart the actor', async () => {
  const { registry, counters, factory } = crashyHarness();
  await registry.spawn({ address: 'test/crashy', factory });
  assert.is(await registry.ask('test/crashy', 'inc'), 1);
  try {
    await registry.ask('test/crashy', 'missing');
    assert.unreachable('the ask must reject');
  } catch (error) {
    assert.ok(isStrataError(error, 'PS_ERR_NOT_FOUND'));
  }
  assert.is(await registry.ask('test/crashy', 'inc'), 2);
  assert.is(counters.starts, 1);
  await registry.stopAll();
});

test('escalate fails the parent, whose restart re-creates the child', async () => {
  const clock = new SimulatedClock();
  const registry = new ActorRegistry({ logger: silentLogger(), clock });
  let parentStarts = 0;
  const parent = (): Behavior<string> => ({
    supervisorStrategy: () => 'escalate',
    async start(context: ActorContext) {
      parentStarts += 1;
      await context.spawn<string>({ address: 'test/child', behavior: { receive(message) { if (message === 'crash') throw new Error('child boom'); return 'ok'; } } });
    },
    receive: () => 'parent',
  });
  await registry.spawn({ address: 'test/parent', factory: parent });
  registry.tell('test/child', 'crash');
  await eventually(() => parentStarts === 2 && registry.stateOf('test/child')?.kind === 'Running', 'parent restart');
  assert.is(await registry.ask('test/child', 'hello'), 'ok');
  await registry.stopAll();
  assert.is(registry.size, 0);
});

test('a stop decision stops the child and rejects its queued messages', async () => {
  const registry = new ActorRegistry({ logger: silentLogger() });
  await registry.spawn({
    address: 'test/strict-parent',
    factory: () => ({
      supervisorStrategy: () => 'stop',
      async start(context: ActorContext) {
        await context.spawn<string>({ address: 'test/fragile', behavior: { receive() { throw new Error('fragile'); } } });
      },
      receive: () => undefined,
    }),
  });
  registry.tell('test/fragile', 'anything');
  await eventually(() => !registry.has('test/fragile'), 'child stopped');
  assert.is(registry.stateOf('test/strict-parent')?.kind, 'Running');
  await registry.stopAll();
});

test.run();
