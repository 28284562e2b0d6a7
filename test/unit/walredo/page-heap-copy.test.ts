/** page-heap copyBytes (tuple bytes into pages) gives the bytes target.set would, whatever the alignments, lengths and buffers. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyBytes } from '../../../src/walredo/page-heap.js';

function filled(buffer: ArrayBufferLike, seed: number): Uint8Array {
  const bytes = new Uint8Array(buffer);
  for (let index = 0; index < bytes.length; index++) bytes[index] = (index * 31 + seed) & 0xff;
  return bytes;
}

test('every source and target alignment and length up to and past the short-copy limit', () => {
  for (const shared of [true, false]) {
    const source = filled(shared ? new SharedArrayBuffer(4096) : new ArrayBuffer(4096), 7).subarray(1);
    for (let length = 0; length <= 300; length += length < 12 ? 1 : 37) {
      for (const start of [0, 1, 2, 3, 4, 9]) {
        for (const at of [0, 1, 2, 3, 8, 13]) {
          const expected = filled(new ArrayBuffer(length + 32), 3).subarray(2);
          expected.set(source.subarray(start, start + length), at);
          const actual = filled(new ArrayBuffer(length + 32), 3).subarray(2);
          copyBytes(actual, at, source, start, length);
          assert.ok(Buffer.from(actual).equals(Buffer.from(expected)), `shared ${shared} length ${length} start ${start} at ${at}`);
        }
      }
    }
  }
});

test('alternating among more buffers than the view cache holds still copies from and into the right ones', () => {
  const sources = [1, 2, 3].map((seed) => filled(new SharedArrayBuffer(256), seed));
  const targets = [4, 5, 6].map(() => new Uint8Array(256));
  for (let round = 0; round < 3; round++) {
    for (let index = 0; index < 3; index++) copyBytes(targets[index]!, index, sources[(index + round) % 3]!, 0, 100);
    for (let index = 0; index < 3; index++) {
      assert.ok(Buffer.from(targets[index]!.subarray(index, index + 100)).equals(Buffer.from(sources[(index + round) % 3]!.subarray(0, 100))), `round ${round} target ${index}`);
    }
  }
});

test('a range past either end throws as TypedArray.set does, and writes nothing', () => {
  const target = new Uint8Array(64);
  assert.throws(() => copyBytes(target, 60, new Uint8Array(64), 0, 8), RangeError);
  assert.ok(target.every((byte) => byte === 0));
});

test.run();
