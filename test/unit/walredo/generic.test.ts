/**
 * Generic WAL redo (src/walredo/generic.ts) on hand-built deltas: fragments are copied at their
 * offsets, the hole between pd_lower and pd_upper is zeroed afterwards, the LSN set; a delta that
 * runs past the page is refused. The broad WAL (bloom indexes) checks it byte for byte.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import { genericRedo } from '../../../src/walredo/generic.js';
import { BLCKSZ, pageGetLower, pageGetLsn, pageGetUpper, pageInit, pageSetLsn, writeU16 } from '../../../src/walredo/page.js';
import type { DecodedBlock, DecodedRecord } from '../../../src/wal/types.js';
import { testBlock, testRecord } from './redo-fixtures.js';

const GENERIC = 20;
const END_LSN = 0x56a2_2060;

function block(blockId: number, data: Uint8Array): DecodedBlock {
  return testBlock({ blockId, blockNumber: blockId + 1, relNode: 16515, data });
}

function record(blocks: DecodedBlock[]): DecodedRecord {
  return testRecord({ rmgrId: GENERIC, info: 0, mainData: new Uint8Array(0), blocks, endLsn: END_LSN });
}

/** A delta: each fragment as (offset u16, length u16, bytes). */
function delta(...fragments: [number, Uint8Array][]): Uint8Array {
  const out = new Uint8Array(fragments.reduce((sum, [, bytes]) => sum + 4 + bytes.length, 0));
  let position = 0;
  for (const [offset, bytes] of fragments) {
    writeU16(out, position, offset);
    writeU16(out, position + 2, bytes.length);
    out.set(bytes, position + 4);
    position += 4 + bytes.length;
  }
  return out;
}

function page(): Uint8Array {
  const result = new Uint8Array(BLCKSZ);
  pageInit(result, 8);
  pageSetLsn(result, 0x10);
  return result;
}

test('fragments are copied at their offsets and the LSN is set', () => {
  const target = page();
  const upper = new Uint8Array(2);
  writeU16(upper, 0, BLCKSZ - 8 - 16);
  const tupleBytes = new Uint8Array(16).fill(0xab);
  genericRedo.redo(target, record([block(0, delta([14, upper], [BLCKSZ - 24, tupleBytes]))]), 0);
  assert.is(pageGetUpper(target), BLCKSZ - 24);
  assert.equal([...target.subarray(BLCKSZ - 24, BLCKSZ - 8)], [...tupleBytes]);
  assert.is(pageGetLsn(target), END_LSN);
});

test('the hole between pd_lower and pd_upper is zeroed after the delta', () => {
  const target = page();
  target.fill(0x55, 100, 200);
  genericRedo.redo(target, record([block(0, delta([BLCKSZ - 8, new Uint8Array([1, 2])]))]), 0);
  assert.ok(pageGetLower(target) < 100 && pageGetUpper(target) > 200);
  assert.is(target.subarray(pageGetLower(target), pageGetUpper(target)).some((byte) => byte !== 0), false);
  assert.equal([...target.subarray(BLCKSZ - 8, BLCKSZ - 6)], [1, 2]);
});

test('each block applies its own delta', () => {
  const first = page();
  const second = page();
  const both = record([block(0, delta([BLCKSZ - 4, new Uint8Array([9])])), block(1, delta([BLCKSZ - 3, new Uint8Array([7])]))]);
  genericRedo.redo(first, both, 0);
  genericRedo.redo(second, both, 1);
  assert.equal([first[BLCKSZ - 4], first[BLCKSZ - 3]], [9, 0]);
  assert.equal([second[BLCKSZ - 4], second[BLCKSZ - 3]], [0, 7]);
});

test('a fragment running past the page is refused', () => {
  try {
    genericRedo.redo(page(), record([block(0, delta([BLCKSZ - 2, new Uint8Array(4)]))]), 0);
    assert.unreachable('must throw');
  } catch (error) {
    assert.ok(isStrataError(error), String(error));
  }
});

test.run();
