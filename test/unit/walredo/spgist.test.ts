/**
 * SP-GiST redo (src/walredo/spgist.ts) on hand-built pages and records: one test per record type
 * (ADD_LEAF, MOVE_LEAFS, ADD_NODE, SPLIT_TUPLE, PICKSPLIT, VACUUM_LEAF, VACUUM_ROOT,
 * VACUUM_REDIRECT), checking tuples, dead-tuple states, special-space counts and downlinks.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  formDeadTuple, SPGIST_DEAD, SPGIST_LEAF, SPGIST_LIVE, SPGIST_NULLS, SPGIST_PLACEHOLDER, SPGIST_REDIRECT, spgistGetCount,
  spgistInitPage, spgistAddCount,
} from '../../../src/walredo/page-spgist.js';
import { BLCKSZ, pageAddItem, pageGetItem, pageGetLsn, pageGetMaxOffsetNumber, pageSetLsn, readU16, readU32 } from '../../../src/walredo/page.js';
import { redoBlock } from '../../../src/walredo/redo.js';
import { spgistRedo } from '../../../src/walredo/spgist.js';
import type { DecodedBlock, DecodedRecord } from '../../../src/wal/types.js';
import { concat, struct, testBlock, testRecord } from './redo-fixtures.js';

const SPGIST = 16;
const END_LSN = 0x2_0000_1000;
const XID = 0x4d2;

function leaf(size: number, next: number, fill: number): Uint8Array {
  const bytes = new Uint8Array(size).fill(fill);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, (SPGIST_LIVE | (size << 2)) >>> 0, true);
  view.setUint16(4, 0x8000 | next, true);
  return bytes;
}

/** An inner tuple without prefix and `nodes` nodes of 8 bytes (downlinks invalid). */
function inner(nodes: number, fill = 0): Uint8Array {
  const size = 8 + nodes * 8;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, (SPGIST_LIVE | (nodes << 3)) >>> 0, true);
  view.setUint16(4, size, true);
  for (let node = 0; node < nodes; node++) {
    view.setUint16(8 + node * 8, 0xffff, true);
    view.setUint16(8 + node * 8 + 2, 0xffff, true);
    view.setUint16(8 + node * 8 + 6, 8, true);
  }
  if (fill !== 0) bytes[7] = fill;
  return bytes;
}

function u16s(...values: number[]): Uint8Array {
  return struct(...values.map((value): [number, number] => [2, value]));
}

function block(blockId: number, blockNumber: number, willInit = false): DecodedBlock {
  return testBlock({ blockId, blockNumber, relNode: 16418, willInit });
}

function record(info: number, mainData: Uint8Array, blocks: DecodedBlock[]): DecodedRecord {
  return testRecord({ rmgrId: SPGIST, info, mainData, blocks, endLsn: END_LSN, xid: XID });
}

function pageWith(flags: number, tuples: Uint8Array[]): Uint8Array {
  const page = new Uint8Array(BLCKSZ);
  spgistInitPage(page, flags);
  tuples.forEach((tuple, index) => assert.is(pageAddItem(page, tuple, 0, 0), index + 1));
  pageSetLsn(page, 0x100);
  return page;
}

function item(page: Uint8Array, offsetNumber: number): Uint8Array {
  const { offset, length } = pageGetItem(page, offsetNumber);
  return page.subarray(offset, offset + length);
}

function state(page: Uint8Array, offsetNumber: number): number {
  return item(page, offsetNumber)[0]! & 3;
}

/** Block and offset of a dead tuple's pointer, or of node `node` of an inner tuple. */
function pointer(bytes: Uint8Array, at: number): [number, number] {
  return [readU16(bytes, at) * 0x10000 + readU16(bytes, at + 2), readU16(bytes, at + 4)];
}

const stateSrc = (isBuild: boolean): [number, number][] => [[4, XID], [1, isBuild ? 1 : 0], [1, 0], [2, 0]];

test('ADD_LEAF on a new page initializes it as a leaf page and adds the tuple', () => {
  const tuple = leaf(24, 0, 7);
  const main = concat(struct([1, 1], [1, 1], [2, 1], [2, 0], [2, 0], [2, 0]), tuple);
  const page = new Uint8Array(BLCKSZ).fill(0x55);
  redoBlock(page, record(0x10, main, [block(0, 4, true)]), 0);
  assert.is(readU16(page, BLCKSZ - 8), SPGIST_LEAF | SPGIST_NULLS);
  assert.is(readU16(page, BLCKSZ - 2), 0xff82);
  assert.equal([...item(page, 1)], [...tuple]);
  assert.is(pageGetLsn(page), END_LSN);
});

test('ADD_LEAF into a chain links the head to the new tuple, keeping the flag bits', () => {
  const page = pageWith(SPGIST_LEAF, [leaf(16, 0, 1)]);
  const main = concat(struct([1, 0], [1, 0], [2, 2], [2, 1], [2, 0], [2, 0]), leaf(16, 0, 2));
  spgistRedo.redo(page, record(0x10, main, [block(0, 4)]), 0);
  assert.is(pageGetMaxOffsetNumber(page), 2);
  assert.is(readU16(item(page, 1), 4), 0x8000 | 2);
});

test('ADD_LEAF replaces a placeholder and updates the parent downlink (block 1)', () => {
  const page = pageWith(SPGIST_LEAF, [leaf(16, 0, 1), formDeadTuple(SPGIST_PLACEHOLDER, 0xffffffff, 0, 0)]);
  spgistAddCount(page, 'placeholder', 1);
  const tuple = leaf(32, 0, 9);
  const addLeaf = record(0x10, concat(struct([1, 0], [1, 0], [2, 2], [2, 0], [2, 1], [2, 1]), tuple), [block(0, 4), block(1, 2)]);
  spgistRedo.redo(page, addLeaf, 0);
  assert.equal([...item(page, 2)], [...tuple]);
  assert.is(spgistGetCount(page, 'placeholder'), 0);
  const parent = pageWith(0, [inner(3)]);
  spgistRedo.redo(parent, addLeaf, 1);
  assert.equal(pointer(item(parent, 1), 16), [4, 2], 'node 1 of the parent points at (4, 2)');
  assert.equal(pointer(item(parent, 1), 8), [0xffffffff, 0], 'node 0 untouched');
});

test('MOVE_LEAFS: tuples land on the destination, the source gets a redirect then placeholders', () => {
  const main = concat(struct([2, 2], [1, 0], [1, 0], [1, 0], [1, 0], [2, 1], [2, 0], [2, 0]), struct(...stateSrc(false)),
    u16s(3, 1), u16s(1, 2, 3), leaf(16, 0, 0xa), leaf(16, 1, 0xb), leaf(24, 2, 0xc));
  const moveLeafs = record(0x20, main, [block(0, 3), block(1, 8), block(2, 1)]);
  const destination = pageWith(SPGIST_LEAF, []);
  spgistRedo.redo(destination, moveLeafs, 1);
  assert.is(pageGetMaxOffsetNumber(destination), 3);
  assert.is(item(destination, 3)[8], 0xc);
  const source = pageWith(SPGIST_LEAF, [leaf(16, 0, 1), leaf(16, 0, 2), leaf(16, 1, 3)]);
  spgistRedo.redo(source, moveLeafs, 0);
  assert.is(state(source, 3), SPGIST_REDIRECT, 'the first listed (3) becomes the redirect');
  assert.equal(pointer(item(source, 3), 6), [8, 3]);
  assert.is(readU32(item(source, 3), 12), XID);
  assert.is(readU32(item(source, 3), 0), SPGIST_REDIRECT | (16 << 2), 'tupstate:2 then size:30 (SGDTSIZE 16)');
  assert.is(pageGetItem(source, 3).length, 16);
  assert.is(state(source, 1), SPGIST_PLACEHOLDER);
  assert.is(state(source, 2), SPGIST_LIVE);
  assert.equal([spgistGetCount(source, 'redirection'), spgistGetCount(source, 'placeholder')], [1, 1]);
  const parent = pageWith(0, [inner(2)]);
  spgistRedo.redo(parent, moveLeafs, 2);
  assert.equal(pointer(item(parent, 1), 8), [8, 3]);
});

function addNodeMain(offset: number, newOffset: number, newPage: number, parentBlock: number, parentOffset: number, node: number, tuple: Uint8Array): Uint8Array {
  return concat(struct([2, offset], [2, newOffset], [1, newPage], [1, parentBlock & 0xff], [2, parentOffset], [2, node], [2, 0]),
    struct(...stateSrc(false)), tuple);
}

test('ADD_NODE in place replaces the inner tuple at the same offset', () => {
  const page = pageWith(0, [inner(2), inner(1)]);
  const bigger = inner(3, 0x33);
  spgistRedo.redo(page, record(0x30, addNodeMain(2, 0, 0, -1, 0, 0, bigger), [block(0, 1)]), 0);
  assert.equal([...item(page, 2)], [...bigger]);
  assert.is(pageGetLsn(page), END_LSN);
});

test('ADD_NODE moved to a new page leaves a redirect; the parent on the old page is relinked', () => {
  const bigger = inner(3, 0x44);
  const addNode = record(0x30, addNodeMain(2, 1, 1, 0, 1, 1, bigger), [block(0, 1), block(1, 6, true)]);
  const target = new Uint8Array(BLCKSZ);
  redoBlock(target, addNode, 1);
  assert.equal([...item(target, 1)], [...bigger]);
  const old = pageWith(0, [inner(2), inner(2)]);
  spgistRedo.redo(old, addNode, 0);
  assert.is(state(old, 2), SPGIST_REDIRECT);
  assert.equal(pointer(item(old, 2), 6), [6, 1]);
  assert.is(spgistGetCount(old, 'redirection'), 1);
  assert.equal(pointer(item(old, 1), 16), [6, 1], 'the parent (offset 1, node 1) now points at the moved tuple');
});

test('SPLIT_TUPLE with the postfix on the same page replaces the prefix and appends the postfix', () => {
  const page = pageWith(0, [inner(1), inner(2)]);
  const prefix = inner(1, 0x11);
  const postfix = inner(2, 0x22);
  spgistRedo.redo(page, record(0x40, concat(struct([2, 1], [2, 3], [1, 0], [1, 1]), prefix, postfix), [block(0, 2)]), 0);
  assert.equal([...item(page, 1)], [...prefix]);
  assert.equal([...item(page, 3)], [...postfix]);
  assert.is(pageGetMaxOffsetNumber(page), 3);
});

test('PICKSPLIT: source keeps a redirect to the new inner tuple, leaves split by page, parent relinked', () => {
  const innerTuple = inner(2, 0x66);
  const main = concat(
    struct([1, 0], [1, 0], [2, 2], [2, 3], [1, 0], [1, 1], [2, 2], [1, 0], [1, 0], [1, 0], [1, 0], [2, 1], [2, 1], [2, 0]),
    struct(...stateSrc(false)), u16s(1, 2), u16s(2, 1, 2), new Uint8Array([0, 1, 1]), innerTuple,
    leaf(16, 0, 0xa), leaf(16, 0, 0xb), leaf(16, 1, 0xc));
  const pickSplit = record(0x50, main, [block(0, 3), block(1, 9, true), block(2, 5), block(3, 1)]);
  const source = pageWith(SPGIST_LEAF, [leaf(16, 0, 1), leaf(16, 1, 2)]);
  spgistRedo.redo(source, pickSplit, 0);
  assert.is(state(source, 1), SPGIST_REDIRECT);
  assert.equal(pointer(item(source, 1), 6), [5, 2]);
  assert.is(state(source, 2), SPGIST_LIVE, 'offset 2: placeholder, then replaced by leaf 0xa');
  assert.is(item(source, 2)[8], 0xa);
  const destination = new Uint8Array(BLCKSZ);
  redoBlock(destination, pickSplit, 1);
  assert.equal([item(destination, 1)[8], item(destination, 2)[8]], [0xb, 0xc]);
  const innerPage = pageWith(0, [inner(1)]);
  spgistRedo.redo(innerPage, pickSplit, 2);
  assert.equal([...item(innerPage, 2)], [...innerTuple]);
  const parent = pageWith(0, [inner(2)]);
  spgistRedo.redo(parent, pickSplit, 3);
  assert.equal(pointer(item(parent, 1), 16), [5, 2]);
});

test('VACUUM_LEAF: dead and placeholder conversions, line pointer moves, chain fixes', () => {
  const page = pageWith(SPGIST_LEAF, [leaf(16, 2, 1), leaf(16, 0, 2), leaf(16, 0, 3), leaf(16, 0, 4), leaf(24, 0, 5)]);
  const main = concat(struct([2, 1], [2, 1], [2, 1], [2, 1]), struct(...stateSrc(false)),
    u16s(1), u16s(2), u16s(5), u16s(3), u16s(4), u16s(0x1234 & 0x3fff));
  spgistRedo.redo(page, record(0x60, main, [block(0, 3)]), 0);
  assert.is(state(page, 1), SPGIST_DEAD);
  assert.is(state(page, 2), SPGIST_PLACEHOLDER);
  assert.is(item(page, 3)[8], 5, 'tuple 5 moved into slot 3');
  assert.is(state(page, 5), SPGIST_PLACEHOLDER, 'its old slot became a placeholder');
  assert.is(readU16(item(page, 4), 4), 0x8000 | 0x1234);
  assert.is(spgistGetCount(page, 'placeholder'), 2);
});

test('VACUUM_ROOT deletes the listed tuples', () => {
  const page = pageWith(SPGIST_LEAF, [leaf(16, 0, 1), leaf(16, 0, 2), leaf(16, 0, 3), leaf(16, 0, 4)]);
  spgistRedo.redo(page, record(0x70, concat(struct([2, 3], [2, 0]), struct(...stateSrc(false)), u16s(1, 2, 4)), [block(0, 0)]), 0);
  assert.is(pageGetMaxOffsetNumber(page), 1);
  assert.is(item(page, 1)[8], 3);
  assert.is(pageGetLsn(page), END_LSN);
});

test('VACUUM_REDIRECT turns redirects into placeholders and trims trailing placeholders', () => {
  const page = pageWith(0, [inner(1), formDeadTuple(SPGIST_REDIRECT, 7, 3, XID), formDeadTuple(SPGIST_REDIRECT, 7, 4, XID)]);
  spgistAddCount(page, 'redirection', 2);
  spgistRedo.redo(page, record(0x80, concat(struct([2, 2], [2, 2], [4, XID]), u16s(2, 3)), [block(0, 1)]), 0);
  assert.is(pageGetMaxOffsetNumber(page), 1, 'offsets 2 and 3 were trailing placeholders');
  assert.equal([spgistGetCount(page, 'redirection'), spgistGetCount(page, 'placeholder')], [0, 0]);
  const kept = pageWith(0, [formDeadTuple(SPGIST_REDIRECT, 7, 3, XID), inner(1)]);
  spgistAddCount(kept, 'redirection', 1);
  spgistRedo.redo(kept, record(0x80, concat(struct([2, 1], [2, 0], [4, XID]), u16s(1)), [block(0, 1)]), 0);
  assert.is(state(kept, 1), SPGIST_PLACEHOLDER);
  assert.equal(pointer(item(kept, 1), 6), [0xffffffff, 0]);
  assert.is(readU32(item(kept, 1), 12), XID, 'the xid stays');
  assert.is(spgistGetCount(kept, 'placeholder'), 1);
});

test.run();
