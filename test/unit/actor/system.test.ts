/**
 * ActorSystem across threads: a fixed pool of exactly `threads` workers hosts many actors,
 * placement is stable (fnv1a32(placementKey) % threads), asks cross threads, askBytes uses the
 * ring (and MessagePort above the ring bound), actors ask actors on other threads, and
 * broadcast reaches every thread.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { threadForKey } from '../../../src/actor/placement.js';
import { ActorSystem } from '../../../src/actor/system.js';
import { limits } from '../../../src/limits.js';
import { silentLogger } from '../../../src/observability/log.js';

const behaviors = new URL('./fixtures/behaviors.js', import.meta.url);
const threads = 2;
let system: ActorSystem;

test.before(async () => {
  system = await ActorSystem.start({ threads, logger: silentLogger() });
});

test.after(async () => {
  await system.stop();
});

test('eight actors share a fixed pool of exactly two threads, placed by placement key', async () => {
  const poolIds = system.threadIds;
  assert.is(poolIds.length, threads);
  const seen = new Set<number>();
  for (let index = 0; index < 8; index++) {
    const address = `tenant/t${index}`;
    await system.spawn({ address, module: behaviors, exportName: 'echo', args: { index } });
    const expected = threadForKey(address, threads);
    assert.is(system.placementOf(address), expected);
    const reply = await system.ask<{ value: string; threadId: number; args: { index: number }; self: string }>(address, { kind: 'echo', value: 'hi' });
    assert.equal(reply, { value: 'hi', threadId: poolIds[expected], args: { index }, self: address });
    seen.add(reply.threadId);
  }
  assert.is(seen.size, threads, 'both threads used, and no more');
  assert.equal(system.threadIds, poolIds, 'no thread was added');
});

test('placement is stable and shared by a placement key', async () => {
  assert.is(threadForKey('tenant/abc', 7), threadForKey('tenant/abc', 7));
  await system.spawn({ address: 'timeline/k/1', module: behaviors, exportName: 'echo', placementKey: 'k' });
  await system.spawn({ address: 'timeline/k/2', module: behaviors, exportName: 'echo', placementKey: 'k' });
  assert.is(system.placementOf('timeline/k/1'), system.placementOf('timeline/k/2'));
  assert.is(system.placementOf('timeline/k/1'), system.threadForKey('k'));
});

test('askBytes returns exact bytes over the ring (8 KiB) and over MessagePort (above the bound)', async () => {
  await system.spawn({ address: 'pages/reverser', module: behaviors, exportName: 'reverser' });
  const thread = system.placementOf('pages/reverser');
  assert.type(thread, 'number');
  for (const length of [8192, limits.ringMessageBytesMax + 1]) {
    const request = new Uint8Array(length).map((_, index) => index * 7);
    const reply = await system.askBytes('pages/reverser', request);
    assert.is(reply.byteLength, length + 1);
    assert.is(reply[0], request[length - 1]);
    assert.is(reply[length - 1], request[0]);
    assert.is(reply[length], system.threadIds[thread as number]! & 0xff);
  }
  const many = await Promise.all(Array.from({ length: 200 }, (_, index) => system.askBytes('pages/reverser', new Uint8Array([index & 0xff, 1]))));
  many.forEach((reply, index) => assert.equal([...reply.subarray(0, 2)], [1, index & 0xff]));
});

test('an actor on one thread asks an actor on another thread through the main thread', async () => {
  let first = 'x/0';
  let second = 'x/1';
  for (let index = 2; system.threadForKey(first) === system.threadForKey(second); index++) second = `x/${index}`;
  await system.spawn({ address: first, module: behaviors, exportName: 'echo' });
  await system.spawn({ address: second, module: behaviors, exportName: 'echo' });
  const reply = await system.ask<{ value: string; threadId: number; self: string }>(first, { kind: 'forward', to: second, value: 'via uplink' });
  assert.is(reply.value, 'via uplink');
  assert.is(reply.self, second);
  assert.is(reply.threadId, system.threadIds[system.threadForKey(second)]);
  first = '';
});

test('broadcast reaches every thread and returns their replies in thread order', async () => {
  const pings = (await system.broadcast({ kind: 'ping' })) as { threadId: number }[];
  assert.equal(pings.map((ping) => ping.threadId), system.threadIds);
  const metrics = await system.broadcast({ kind: 'metrics' });
  assert.is(metrics.length, threads);
  assert.ok(metrics.every((perThread) => Array.isArray(perThread)));
  const failpoints = await system.broadcast({ kind: 'failpoints', spec: '' });
  assert.is(failpoints.length, threads);
});

test.run();
