/**
 * CRC-32C: known vectors, and the fast path (word loads at any alignment) against a bitwise
 * reference written from the definition.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { crc32c, crc32cFinish, crc32cUpdate, CRC32C_INIT } from '../../../src/wal/crc32c.js';
import { filler } from './wal-builder.js';

function referenceCrc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

test('"123456789" gives the check value 0xE3069283', () => {
  assert.is(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
});

test('the empty input gives 0 and 32 zero bytes give 0x8A9136AA', () => {
  assert.is(crc32c(new Uint8Array(0)), 0);
  assert.is(crc32c(new Uint8Array(32)), 0x8a9136aa);
});

test('every length and alignment matches the bitwise reference', () => {
  const data = filler(300, 7);
  for (let start = 0; start < 9; start++) {
    for (let length = 0; length < 200; length += 7) {
      const slice = data.subarray(start, start + length);
      assert.is(crc32c(slice), referenceCrc32c(slice), `start ${start} length ${length}`);
      assert.is(crc32c(data, start, start + length), referenceCrc32c(slice), `range ${start} length ${length}`);
    }
  }
});

test('updating in two pieces equals one pass (PostgreSQL checksums records in two pieces)', () => {
  const data = filler(1000, 3);
  const whole = crc32c(data);
  for (const split of [0, 1, 24, 333, 999, 1000]) {
    const running = crc32cUpdate(crc32cUpdate(CRC32C_INIT, data, 0, split), data, split, data.length);
    assert.is(crc32cFinish(running), whole, `split at ${split}`);
  }
});

test('alternating between several buffers (the cached word views) keeps every result right', () => {
  const buffers = [filler(500, 11), filler(700, 12), filler(900, 13)];
  for (let round = 0; round < 4; round++) {
    for (const [index, buffer] of buffers.entries()) {
      const start = (round + index) % 5;
      const slice = buffer.subarray(start, buffer.length - round);
      assert.is(crc32c(buffer, start, buffer.length - round), referenceCrc32c(slice), `buffer ${index} round ${round}`);
    }
  }
});

test.run();
