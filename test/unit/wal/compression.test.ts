/**
 * Image decompressors: hand-made pglz and LZ4 streams byte for byte, round trips through tiny
 * compressors written here from the format descriptions, a zstd frame made by the zstd tool, and
 * corrupt inputs that must fail with PS_ERR_WAL_CORRUPT instead of producing a wrong page.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import { lz4Decompress, pglzDecompress, zstdDecompressInto } from '../../../src/wal/compression.js';
import { filler } from './wal-builder.js';

const text = (value: string) => new TextEncoder().encode(value);
const hex = (value: string) => Uint8Array.from(value.match(/../g)!.map((pair) => parseInt(pair, 16)));

/** Greedy pglz: literal bytes, or back-references of 3..273 bytes within 4095 bytes. */
function pglzCompress(input: Uint8Array): Uint8Array {
  const output: number[] = [];
  let controlIndex = -1;
  let item = 8;
  const emit = (isReference: boolean, bytes: number[]) => {
    if (item === 8) { controlIndex = output.length; output.push(0); item = 0; }
    if (isReference) output[controlIndex]! |= 1 << item;
    output.push(...bytes);
    item++;
  };
  let index = 0;
  while (index < input.length) {
    let bestLength = 0;
    let bestOffset = 0;
    for (let offset = 1; offset <= Math.min(index, 4095); offset++) {
      let length = 0;
      while (length < 273 && index + length < input.length && input[index + length] === input[index + length - offset]) length++;
      if (length > bestLength) { bestLength = length; bestOffset = offset; }
    }
    if (bestLength >= 3) {
      const nibble = Math.min(bestLength - 3, 15);
      const bytes = [((bestOffset >> 4) & 0xf0) | nibble, bestOffset & 0xff];
      if (nibble === 15) bytes.push(bestLength - 18);
      emit(true, bytes);
      index += bestLength;
    } else {
      emit(false, [input[index]!]);
      index++;
    }
  }
  return Uint8Array.from(output);
}

/** Greedy LZ4 block: matches of at least 4 bytes, the last five bytes always literals. */
function lz4Compress(input: Uint8Array): Uint8Array {
  const output: number[] = [];
  const writeLength = (extra: number) => {
    while (extra >= 255) { output.push(255); extra -= 255; }
    output.push(extra);
  };
  let anchor = 0;
  let index = 0;
  const matchLimit = input.length - 5;
  while (index < matchLimit) {
    let bestLength = 0;
    let bestOffset = 0;
    for (let offset = 1; offset <= Math.min(index, 65535); offset += offset < 64 ? 1 : 61) {
      let length = 0;
      while (index + length < matchLimit && input[index + length] === input[index + length - offset]) length++;
      if (length > bestLength) { bestLength = length; bestOffset = offset; }
    }
    if (bestLength < 4) { index++; continue; }
    const literals = index - anchor;
    const matchExtra = bestLength - 4;
    output.push((Math.min(literals, 15) << 4) | Math.min(matchExtra, 15));
    if (literals >= 15) writeLength(literals - 15);
    for (let at = anchor; at < index; at++) output.push(input[at]!);
    output.push(bestOffset & 0xff, bestOffset >> 8);
    if (matchExtra >= 15) writeLength(matchExtra - 15);
    index += bestLength;
    anchor = index;
  }
  const literals = input.length - anchor;
  output.push(Math.min(literals, 15) << 4);
  if (literals >= 15) writeLength(literals - 15);
  for (let at = anchor; at < input.length; at++) output.push(input[at]!);
  return Uint8Array.from(output);
}

function pageLike(): Uint8Array {
  const page = new Uint8Array(8000);
  page.set(filler(300, 5), 0);
  for (let at = 300; at + 40 <= 8000; at += 40) page.set(text(`tuple ${at} with some repeated text`).subarray(0, 40), at);
  page.set(filler(200, 9), 7800);
  return page;
}

function expectCorrupt(action: () => void, label: string): void {
  try {
    action();
  } catch (error) {
    assert.ok(isStrataError(error, 'PS_ERR_WAL_CORRUPT'), `${label}: wrong error ${String(error)}`);
    return;
  }
  assert.unreachable(`${label}: no error`);
}

test('pglz: hand-made stream with literals and a short back-reference', () => {
  const target = new Uint8Array(12);
  assert.is(pglzDecompress(hex('086162630603'), target, 0, 12), 12);
  assert.equal(target, text('abcabcabcabc'));
});

test('pglz: a long run uses the extra length byte and overlaps its own output', () => {
  const target = new Uint8Array(41);
  pglzDecompress(hex('02610f0116'), target, 0, 41);
  assert.equal(target, text('a'.repeat(41)));
});

test('pglz: round trip of a page-like buffer through a greedy compressor', () => {
  const page = pageLike();
  const compressed = pglzCompress(page);
  assert.ok(compressed.length < page.length / 2, `compressed to ${compressed.length}`);
  const target = new Uint8Array(8192);
  pglzDecompress(compressed, target, 100, page.length);
  assert.equal(target.subarray(100, 100 + page.length), page);
});

test('pglz: a reference before the start, a short output or leftover input is corrupt', () => {
  expectCorrupt(() => pglzDecompress(hex('0105'), new Uint8Array(10), 0, 10), 'reference before start');
  expectCorrupt(() => pglzDecompress(hex('086162630603'), new Uint8Array(13), 0, 13), 'short output');
  expectCorrupt(() => pglzDecompress(hex('00616263'), new Uint8Array(2), 0, 2), 'leftover input');
});

test('lz4: hand-made block with a match and a literal-only last sequence', () => {
  const target = new Uint8Array(17);
  assert.is(lz4Decompress(hex('4461626364040050' + '58595a3132'), target, 0, 17), 17);
  assert.equal(target, text('abcdabcdabcdXYZ12'));
});

test('lz4: extended literal and match lengths (255-valued bytes)', () => {
  // 20 literals (15 + 5), then a 300-byte match at offset 1 (4 + 15 + 255 + 26), then 5 literals.
  const literals = text('0123456789abcdefghij');
  const block = Uint8Array.from([0xff, 5, ...literals, 1, 0, 255, 26, 0x50, ...text('tail!')]);
  const target = new Uint8Array(325);
  lz4Decompress(block, target, 0, 325);
  assert.equal(target.subarray(0, 20), literals);
  assert.equal(target.subarray(20, 320), new Uint8Array(300).fill('j'.charCodeAt(0)));
  assert.equal(target.subarray(320), text('tail!'));
});

test('lz4: round trip of a page-like buffer through a greedy compressor', () => {
  const page = pageLike();
  const compressed = lz4Compress(page);
  assert.ok(compressed.length < page.length / 2, `compressed to ${compressed.length}`);
  const target = new Uint8Array(8192);
  lz4Decompress(compressed, target, 0, page.length);
  assert.equal(target.subarray(0, page.length), page);
});

test('lz4: offset zero, offset before start and truncation are corrupt', () => {
  expectCorrupt(() => lz4Decompress(hex('1461000050'), new Uint8Array(20), 0, 20), 'offset zero');
  expectCorrupt(() => lz4Decompress(hex('1461050050'), new Uint8Array(20), 0, 20), 'offset before start');
  expectCorrupt(() => lz4Decompress(hex('446162'), new Uint8Array(17), 0, 17), 'truncated');
});

const ZSTD_FRAME =
  '28b52ffd609c1ef50b00c6a03d14a027c56200e625f79d00c04e2bbb3737af574d1c45003c003900344b380c6745b384' +
  '379c15cd12da7056344b58c359d12c210d6745b384337cdb353dbf1cfb7056344b28c359d12c610c6745b3040120a030' +
  '40281814080c0a08120e040802122a0e6745b384c37056344b78c359d12ca10d6745b384359c15cd12d27056344b38c3' +
  'b75dd3f3cbb10f6745b384329c15cd12c67056344b68389c55ee8aa2288aa2288aa2288a324b78c359d12ca10d6745b3' +
  '84359c15cd12d27056344b38c3b75dd3f3cbb10f6745b384329c15cd12c670563407bbbbbbbbbbbbbbbbbbbbbbbbbbbb' +
  'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb7b8171a821983cb467f14bdb011120040a4142b04200fb01568477988ff1' +
  '0ef363bcc37c8c77988fe91de663bcc37c8cf7301fe31d466b6c42e0fc5d0bd2528199c00618ccc77848ed4873f932e5' +
  '7f432b47f6d00f5c711ba4a5021bac8c7768d4a4aef5d1ad52bfa12d477ae8075e710bd252111b2cc63b346aa5aefae8' +
  '16ff4aae15e0aa01';

test('zstd: a frame made by `zstd -19` decompresses to its 8092-byte input', () => {
  const rows = Array.from({ length: 405 }, (_, row) => `row ${String(row).padStart(5, '0')} strata page `).join('');
  const expected = text(rows.slice(0, 8092));
  const target = new Uint8Array(8192);
  zstdDecompressInto(hex(ZSTD_FRAME), target, 0, 8092);
  assert.equal(target.subarray(0, 8092), expected);
  expectCorrupt(() => zstdDecompressInto(hex(ZSTD_FRAME), target, 0, 8000), 'wrong expected length');
  expectCorrupt(() => zstdDecompressInto(hex(ZSTD_FRAME).subarray(0, 100), target, 0, 8092), 'truncated frame');
});

test.run();
