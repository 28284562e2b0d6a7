/** Storage's CRC-32C wrapper over src/wal/crc32c.ts: standard value, continuation, ranges. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { crc32c, crc32cOfRange } from '../../../src/storage/checksum.js';
import { seededRandom } from './storage-harness.js';

test('crc32c of "123456789" is the standard check value 0xE3069283', () => {
  assert.is(crc32c(Buffer.from('123456789', 'latin1')), 0xe3069283);
  assert.is(crc32c(new Uint8Array(0)), 0);
});

test('crc32c continues a running checksum across any split, at any alignment', () => {
  const random = seededRandom(7);
  const bytes = Uint8Array.from({ length: 1000 }, () => Math.floor(random() * 256));
  const whole = crc32c(bytes);
  for (const split of [0, 1, 3, 7, 31, 32, 33, 500, 999, 1000]) {
    assert.is(crc32c(bytes.subarray(split), crc32c(bytes.subarray(0, split))), whole, `split at ${split}`);
  }
});

test('crc32cOfRange equals the checksum of the same subarray', () => {
  const random = seededRandom(11);
  const bytes = Uint8Array.from({ length: 9000 }, () => Math.floor(random() * 256));
  for (const [start, end] of [[0, 9000], [1, 8193], [5, 6], [3, 40], [4000, 4000]] as const) {
    assert.is(crc32cOfRange(bytes, start, end), crc32c(bytes.subarray(start, end)), `range ${start}-${end}`);
  }
});

test.run();
