/**
 * ActorSystem failures and shutdown: a worker that dies rejects its pending asks with
 * PS_ERR_ACTOR_STOPPED, its actors are reported Broken, and the thread is replaced (same pool
 * size); an actor whose start() keeps failing ends Broken; stop() with messages in flight lets
 * the in-flight message finish and rejects the queued ones with PS_ERR_SHUTTING_DOWN.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ActorSystem } from '../../../src/actor/system.js';
import { isStrataError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/observability/log.js';

const behaviors = new URL('./fixtures/behaviors.js', import.meta.url);

async function eventually(condition: () => boolean, what: string): Promise<void> {
  for (let attempt = 0; attempt < 500; attempt++) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`never happened: ${what}`);
}

test('a dying worker rejects pending asks, reports its actors broken and is replaced', async () => {
  const broken: string[] = [];
  const system = await ActorSystem.start({ threads: 1, logger: silentLogger(), onBroken: (address) => broken.push(address) });
  try {
    await system.spawn({ address: 'doomed/a', module: behaviors, exportName: 'echo' });
    await system.spawn({ address: 'doomed/b', module: behaviors, exportName: 'echo' });
    const oldThreadId = system.threadIds[0];
    const pending = system.ask('doomed/b', { kind: 'sleep', ms: 5_000, value: 'never' }).then(() => 'resolved', (error: unknown) => error);
    system.tell('doomed/a', { kind: 'die' });
    const outcome = await pending;
    assert.ok(isStrataError(outcome, 'PS_ERR_ACTOR_STOPPED'), String(outcome));
    assert.equal(broken.sort(), ['doomed/a', 'doomed/b']);
    await system.ask('doomed/a', { kind: 'echo', value: 1 }).then(() => assert.unreachable('broken'), (error: unknown) => assert.ok(isStrataError(error, 'PS_ERR_BROKEN')));
    await eventually(() => system.threadIds[0] !== oldThreadId, 'thread replaced');
    assert.is(system.threadIds.length, 1);
    await system.spawn({ address: 'doomed/a', module: behaviors, exportName: 'echo' });
    const reply = await system.ask<{ threadId: number }>('doomed/a', { kind: 'echo', value: 2 });
    assert.is(reply.threadId, system.threadIds[0]);
  } finally {
    await system.stop();
  }
});

test('an actor whose start() always fails is spawned Broken after its restart budget', async () => {
  const system = await ActorSystem.start({ threads: 1, logger: silentLogger() });
  try {
    const outcome = await system.spawn({ address: 'bad/start', module: behaviors, exportName: 'failingStart' }).then(() => 'spawned', (error: unknown) => error);
    assert.ok(isStrataError(outcome, 'PS_ERR_BROKEN'), String(outcome));
    const missing = await system.spawn({ address: 'bad/export', module: behaviors, exportName: 'nope' }).then(() => 'spawned', (error: unknown) => error);
    assert.ok(isStrataError(missing, 'PS_ERR_BAD_REQUEST'), String(missing));
  } finally {
    await system.stop();
  }
});

test('stop() with messages in flight: in-flight completes, queued are rejected, stop resolves', async () => {
  const system = await ActorSystem.start({ threads: 1, logger: silentLogger() });
  await system.spawn({ address: 'busy/remote', module: behaviors, exportName: 'echo' });
  await system.spawnLocal<string>({ address: 'busy/local', behavior: { receive: async (message) => { await new Promise((resolve) => setTimeout(resolve, 100)); return message; } } });
  const settle = (promise: Promise<unknown>) => promise.then((value) => ({ value }), (error: unknown) => ({ error }));
  const remoteInFlight = settle(system.ask('busy/remote', { kind: 'sleep', ms: 150, value: 'finished' }));
  const remoteQueued = settle(system.ask('busy/remote', { kind: 'echo', value: 'queued' }));
  const localInFlight = settle(system.ask('busy/local', 'local finished'));
  const localQueued = settle(system.ask('busy/local', 'local queued'));
  await new Promise((resolve) => setTimeout(resolve, 30));
  await system.stop();
  const remote = await remoteInFlight;
  assert.equal(remote, { value: { value: 'finished', threadId: (remote as { value: { threadId: number } }).value.threadId } });
  assert.equal(await localInFlight, { value: 'local finished' });
  for (const queued of [await remoteQueued, await localQueued]) {
    assert.ok('error' in queued && isStrataError(queued.error, 'PS_ERR_SHUTTING_DOWN'), JSON.stringify(queued));
  }
  const after = await settle(system.ask('busy/remote', { kind: 'echo', value: 'late' }));
  assert.ok('error' in after);
});

test.run();
