/** copyBytes gives the bytes target.set would, from shared and plain memory, at every alignment and length. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyBytes } from '../../../src/wal/shared-copy.js';

function filled(buffer: ArrayBufferLike): Uint8Array {
  const bytes = new Uint8Array(buffer);
  for (let index = 0; index < bytes.length; index++) bytes[index] = (index * 31 + 7) & 0xff;
  return bytes;
}

test('every source and target alignment, short and long (beyond the scratch buffer) copies', () => {
  for (const shared of [true, false]) {
    const source = filled(shared ? new SharedArrayBuffer(200_000) : new ArrayBuffer(200_000));
    for (const length of [0, 1, 255, 256, 8192, 70_000]) {
      for (const start of [0, 1, 3, 8, 13]) {
        for (const at of [0, 2, 5, 8]) {
          const expected = new Uint8Array(length + 16);
          expected.set(source.subarray(start, start + length), at);
          const actual = new Uint8Array(length + 16);
          copyBytes(source, start, length, actual, at);
          assert.ok(Buffer.from(actual).equals(Buffer.from(expected)), `shared ${shared} length ${length} start ${start} at ${at}`);
        }
      }
    }
  }
});

test('views with their own byte offsets are honoured on both sides', () => {
  const source = filled(new SharedArrayBuffer(20_000)).subarray(3);
  const target = new Uint8Array(10_000).subarray(5);
  copyBytes(source, 10, 8192, target, 1);
  assert.ok(Buffer.from(target.subarray(1, 8193)).equals(Buffer.from(source.subarray(10, 8202))));
  assert.is(target[0], 0);
});

test.run();
