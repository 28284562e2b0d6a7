/**
 * Sequence redo (src/walredo/sequence.ts) on hand-built records: XLOG_SEQ_LOG rebuilds the page
 * from nothing (magic in the special space, the logged tuple at offset 1, the record's end LSN),
 * whatever the page held before. The broad WAL of /work/briefs/cwal checks it byte for byte.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import { SEQ_MAGIC, sequenceRedo } from '../../../src/walredo/sequence.js';
import {
  BLCKSZ, pageGetItem, pageGetLower, pageGetLsn, pageGetMaxOffsetNumber, pageGetSpecial, pageGetUpper, readU32,
} from '../../../src/walredo/page.js';
import { redoBlock } from '../../../src/walredo/redo.js';
import type { DecodedBlock, DecodedRecord } from '../../../src/wal/types.js';
import { testBlock, testRecord } from './redo-fixtures.js';

const SEQUENCE = 15;
const END_LSN = 0x55f1_0e10 + 8296;

function block(willInit: boolean): DecodedBlock {
  return testBlock({ blockId: 0, blockNumber: 0, relNode: 16482, willInit });
}

/** An XLOG_SEQ_LOG record: RelFileNode (12 bytes), then the tuple. */
function record(tuple: Uint8Array, info = 0x00): DecodedRecord {
  const main = new Uint8Array(12 + tuple.length);
  main.set([0x7f, 0x06, 0, 0, 5, 0, 0, 0, 0x62, 0x40, 0, 0]);
  main.set(tuple, 12);
  return testRecord({ rmgrId: SEQUENCE, info, mainData: main, blocks: [block(true)], endLsn: END_LSN, length: 8296, xid: 13819 });
}

function tuple(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, index) => (index * 7 + 3) & 0xff);
}

test('LOG lays out a sequence page: magic, one tuple against the special space, LSN', () => {
  const page = new Uint8Array(BLCKSZ);
  const logged = tuple(41);
  sequenceRedo.redo(page, record(logged), 0);
  assert.is(pageGetSpecial(page), BLCKSZ - 8, 'sizeof(sequence_magic) 4, MAXALIGNed to 8');
  assert.is(readU32(page, BLCKSZ - 8), SEQ_MAGIC);
  assert.is(pageGetMaxOffsetNumber(page), 1);
  assert.is(pageGetLower(page), 28);
  const item = pageGetItem(page, 1);
  assert.is(item.offset, BLCKSZ - 8 - 48, 'the 41-byte tuple takes 48 aligned bytes');
  assert.is(item.length, 41);
  assert.equal([...page.subarray(item.offset, item.offset + 41)], [...logged]);
  assert.is(pageGetUpper(page), item.offset);
  assert.is(pageGetLsn(page), END_LSN);
});

test('LOG replaces whatever the page held before (the dispatcher zeroes it: will-init)', () => {
  const page = new Uint8Array(BLCKSZ).fill(0xee);
  redoBlock(page, record(tuple(24)), 0);
  const fresh = new Uint8Array(BLCKSZ);
  sequenceRedo.redo(fresh, record(tuple(24)), 0);
  assert.equal(Buffer.from(page).equals(Buffer.from(fresh)), true);
});

test('a record type other than LOG is refused', () => {
  try {
    sequenceRedo.redo(new Uint8Array(BLCKSZ), record(tuple(24), 0x10), 0);
    assert.unreachable('must throw');
  } catch (error) {
    assert.ok(isStrataError(error), String(error));
  }
});

test.run();
