/**
 * CRC-32C: known vectors, the JS fast path (word loads at any alignment) against a bitwise
 * reference written from the definition, and the native path (@node-rs/crc32, used for long
 * ranges) against both: the native and the JS path must agree on every length, alignment,
 * buffer kind and running value, and native must really be in use where its module loads.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  crc32c, crc32cFinish, crc32cImplementation, crc32cOfRecord, crc32cUpdate, CRC32C_INIT, forceJsCrc32cForTesting,
} from '../../../src/wal/crc32c.js';
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

/** Runs `body` with the JS path forced for every length, then restores the default dispatch. */
function withJsPath<T>(body: () => T): T {
  forceJsCrc32cForTesting(true);
  try {
    assert.is(crc32cImplementation(), 'js');
    return body();
  } finally {
    forceJsCrc32cForTesting(false);
  }
}

/** A seeded xorshift generator, so that a failure reproduces. */
function randomSource(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>>= 0);
  };
}

/** Lengths around zero, the native crossover (~350 bytes), words, pages and 1 MiB. */
const LENGTHS = [
  0, 1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 64, 100, 255, 256, 257,
  ...Array.from({ length: 121 }, (_, index) => 300 + index),
  511, 512, 513, 1000, 4095, 4096, 8191, 8192, 8193, 65536 + 3, 1 << 20,
];

test('the native module is in use wherever @node-rs/crc32 loads (a silent fallback fails here)', () => {
  let loadable = false;
  try {
    loadable = typeof (createRequire(import.meta.url)('@node-rs/crc32') as { crc32c?: unknown }).crc32c === 'function';
  } catch {
    loadable = false;
  }
  assert.is(crc32cImplementation(), loadable ? 'native' : 'js');
});

test('forcing the JS path switches the implementation and restoring it switches back', () => {
  const before = crc32cImplementation();
  withJsPath(() => assert.is(crc32cImplementation(), 'js'));
  assert.is(crc32cImplementation(), before);
});

test('both paths give the bitwise reference on random inputs of many lengths and alignments', () => {
  const next = randomSource(42);
  const data = new Uint8Array((1 << 20) + 64);
  for (let index = 0; index < data.length; index++) data[index] = next() & 0xff;
  for (const length of LENGTHS) {
    const start = next() % 8;
    const slice = data.subarray(start, start + length);
    const expected = referenceCrc32c(slice);
    assert.is(crc32c(data, start, start + length), expected, `default path, start ${start} length ${length}`);
    assert.is(crc32c(slice), expected, `default path on a subarray, start ${start} length ${length}`);
    assert.is(withJsPath(() => crc32c(data, start, start + length)), expected, `JS path, start ${start} length ${length}`);
  }
});

test('every alignment of ranges across the crossover agrees between the paths', () => {
  const data = filler(1200, 21);
  for (let start = 0; start < 8; start++) {
    for (let length = 320; length <= 400; length++) {
      const native = crc32c(data, start, start + length);
      assert.is(withJsPath(() => crc32c(data, start, start + length)), native, `start ${start} length ${length}`);
      assert.is(native, referenceCrc32c(data.subarray(start, start + length)), `reference, start ${start} length ${length}`);
    }
  }
});

test('SharedArrayBuffer-backed inputs give the same checksums on both paths', () => {
  const shared = new Uint8Array(new SharedArrayBuffer(20_000));
  shared.set(filler(shared.length, 5));
  for (const [start, length] of [[0, 0], [1, 1], [3, 100], [5, 352], [2, 8192], [7, 19_990]] as const) {
    const view = new Uint8Array(shared.buffer, start, length);
    const expected = referenceCrc32c(view);
    assert.is(crc32c(view), expected, `default path, start ${start} length ${length}`);
    assert.is(crc32c(shared, start, start + length), expected, `range, start ${start} length ${length}`);
    assert.is(withJsPath(() => crc32c(view)), expected, `JS path, start ${start} length ${length}`);
  }
});

test('two-piece running updates agree between the paths for random splits and running values', () => {
  const next = randomSource(7);
  const data = filler(20_000, 9);
  for (let round = 0; round < 200; round++) {
    const start = next() % 16;
    const end = start + (next() % (data.length - start));
    const split = start + (next() % (end - start + 1));
    const initial = round === 0 ? CRC32C_INIT : round === 1 ? 0 : next();
    const twoPieces = (): number => crc32cUpdate(crc32cUpdate(initial, data, start, split), data, split, end);
    const native = twoPieces();
    assert.is(withJsPath(twoPieces), native, `round ${round}: ${start}..${split}..${end} from ${initial}`);
    assert.is(withJsPath(() => crc32cUpdate(initial, data, start, end)), native, `round ${round}: one pass`);
    assert.ok(native >= 0 && native <= 0xffffffff && Number.isInteger(native), 'an unsigned 32-bit result');
  }
});

test('a record checksummed in two pieces like PostgreSQL (data after the header, then the header)', () => {
  for (const length of [24, 64, 400, 8192 + 24]) {
    const record = filler(length, length);
    const crc = crc32cFinish(crc32cUpdate(crc32cUpdate(CRC32C_INIT, record, 24, length), record, 0, 20));
    const reordered = new Uint8Array(length - 4);
    reordered.set(record.subarray(24), 0);
    reordered.set(record.subarray(0, 20), length - 24);
    assert.is(crc, referenceCrc32c(reordered), `length ${length}`);
    assert.is(withJsPath(() => crc32cFinish(crc32cUpdate(crc32cUpdate(CRC32C_INIT, record, 24, length), record, 0, 20))), crc);
  }
});

test('crc32cOfRecord equals the two-piece record checksum for every length and offset, on both paths', () => {
  const buffer = filler(20_000, 77);
  for (const offset of [0, 1, 2, 3, 4, 8, 13, 1000]) {
    for (const length of [24, 25, 27, 28, 31, 32, 40, 63, 64, 100, 351, 352, 353, 1000, 8216]) {
      const reordered = new Uint8Array(length - 4);
      reordered.set(buffer.subarray(offset + 24, offset + length), 0);
      reordered.set(buffer.subarray(offset, offset + 20), length - 24);
      const expected = referenceCrc32c(reordered);
      assert.is(crc32cOfRecord(buffer, offset, length), expected, `offset ${offset} length ${length}`);
      assert.is(withJsPath(() => crc32cOfRecord(buffer, offset, length)), expected, `JS: offset ${offset} length ${length}`);
      const shifted = buffer.subarray(5);
      assert.is(crc32cOfRecord(shifted, offset, length), crc32cOfRecord(buffer, offset + 5, length), 'a view at a byte offset');
    }
  }
});

test('without a loadable @node-rs/crc32 the module falls back to JS silently, with right checksums', () => {
  const directory = mkdtempSync(join(tmpdir(), 'crc32c-test-'));
  try {
    // Preloaded into a child process: resolving the native package fails as on a platform without a binary.
    const preload = join(directory, 'hide-native.cjs');
    writeFileSync(preload, `const Module = require('node:module');
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request.startsWith('@node-rs/crc32')) throw new Error('hidden by the test');
  return resolve.call(this, request, ...rest);
};
`);
    const moduleUrl = new URL('../../../src/wal/crc32c.js', import.meta.url).href;
    const script = `const m = await import(${JSON.stringify(moduleUrl)});
const bytes = new Uint8Array(100000).map((_, i) => (i * 7) & 255);
process.stdout.write(JSON.stringify([m.crc32cImplementation(), m.crc32c(new TextEncoder().encode('123456789')), m.crc32c(bytes, 3, 99000)]));`;
    const child = spawnSync(process.execPath, ['--require', preload, '--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.is(child.status, 0, child.stderr);
    assert.is(child.stderr, '');
    const bytes = new Uint8Array(100000).map((_, index) => (index * 7) & 255);
    assert.equal(JSON.parse(child.stdout), ['js', 0xe3069283, referenceCrc32c(bytes.subarray(3, 99000))]);
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});

test.run();
