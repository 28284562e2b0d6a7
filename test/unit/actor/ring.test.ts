/**
 * SharedRing: records wrap around the end of the buffer intact, a full ring refuses writes
 * (callers fall back to MessagePort), oversize messages are refused, and bytes cross threads
 * exactly (a worker echoes 2,000 messages of varied sizes through two rings).
 */
import { Worker } from 'node:worker_threads';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SharedRing } from '../../../src/actor/ring.js';

function patterned(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let index = 0; index < length; index++) bytes[index] = (index * 31 + seed * 7) & 0xff;
  return bytes;
}

test('messages wrap around the end of the buffer byte for byte', () => {
  const ring = SharedRing.create(256, 100);
  for (let round = 0; round < 50; round++) {
    const length = 1 + ((round * 37) % 100);
    const message = patterned(length, round);
    assert.ok(ring.tryWrite(message), `write ${round}`);
    assert.equal(ring.read(), message);
    assert.is(ring.usedBytes, 0);
  }
  assert.is(ring.read(), undefined);
});

test('a full ring refuses a write until the reader frees space', () => {
  const ring = SharedRing.create(64, 28);
  assert.ok(ring.tryWrite(patterned(28, 1))); // 32 bytes with prefix
  assert.ok(ring.tryWrite(patterned(28, 2))); // 64: full
  assert.not.ok(ring.tryWrite(patterned(1, 3)), 'no room left');
  assert.equal(ring.read(), patterned(28, 1));
  assert.ok(ring.tryWrite(patterned(28, 4)), 'room again after a read');
  assert.equal(ring.read(), patterned(28, 2));
  assert.equal(ring.read(), patterned(28, 4));
});

test('a message above messageBytesMax is refused (MessagePort fallback)', () => {
  const ring = SharedRing.create(256, 100);
  assert.not.ok(ring.tryWrite(new Uint8Array(101)));
  assert.ok(ring.tryWriteParts(new Uint8Array(40), new Uint8Array(60)));
  assert.is(ring.read()?.byteLength, 100);
});

test('bytes cross threads exactly, through wrap-arounds, in order', async () => {
  const count = 2_000;
  const inbound = SharedRing.create(4096, 1000);
  const outbound = SharedRing.create(4096, 1000);
  const peer = new Worker(new URL('./fixtures/ring-peer.js', import.meta.url), {
    workerData: { inbound: inbound.buffer, outbound: outbound.buffer, count, messageBytesMax: 1000 },
  });
  const exited = new Promise<number>((resolve) => peer.on('exit', resolve));
  let sent = 0;
  let received = 0;
  // Bounded by `count` round trips; each wait is bounded.
  while (received < count) {
    while (sent < count && inbound.tryWrite(patterned((sent * 13) % 1000, sent))) sent += 1;
    const echoed = outbound.read();
    if (echoed === undefined) {
      await outbound.waitForDataAsync(1_000);
      continue;
    }
    assert.equal(echoed, patterned((received * 13) % 1000, received), `message ${received}`);
    received += 1;
  }
  assert.is(await exited, 0);
});

test.run();
