/** Strata records applied to pages: visibility-map bits, CLOG status bits, multixact offsets and members. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BLCKSZ, PD_ALL_VISIBLE, pageGetFlags, pageGetLsn, pageInit, pageSetLsn, readU32 } from '../../../src/walredo/page.js';
import { applyStrataRecord, VM_HEAPBLOCKS_PER_PAGE } from '../../../src/walredo/strata-records.js';

test('ClearVisibilityMapFlags clears only the given bits of the given heap blocks', () => {
  const page = new Uint8Array(BLCKSZ).fill(0xff);
  applyStrataRecord(page, { kind: 'ClearVisibilityMapFlags', heapBlocks: [0, 5, VM_HEAPBLOCKS_PER_PAGE + 6], flags: 0x03 }, 0x1000);
  assert.is(page[24], 0b1111_1100, 'heap block 0: bits 0-1 of the first map byte');
  assert.is(page[25], 0b1100_0011, 'heap block 5: bits 2-3, and block 6 of the next VM page (modulo a page): bits 4-5');
  assert.is(page[26], 0xff, 'nothing else');
  applyStrataRecord(page, { kind: 'ClearVisibilityMapFlags', heapBlocks: [8], flags: 0x02 }, 0x1000);
  assert.is(page[26], 0b1111_1101, 'all-frozen only: bit 1 of block 8');
  assert.is(page[0], 0xff, 'the page header (LSN) is not touched');
});

test('TruncateVisibilityMap clears the bits of heap blocks from the new end on, and nothing before', () => {
  const page = new Uint8Array(BLCKSZ).fill(0xff);
  applyStrataRecord(page, { kind: 'TruncateVisibilityMap', heapBlocks: VM_HEAPBLOCKS_PER_PAGE + 6 }, 0x1000);
  assert.is(page[24], 0xff, 'heap blocks 0..3 of the page keep their bits');
  assert.is(page[25], 0b0000_1111, 'blocks 4 and 5 keep theirs; 6 and 7 are cleared');
  assert.ok(page.subarray(26).every((byte) => byte === 0), 'every later block is cleared');
  assert.is(page[0], 0xff, 'the header is not touched');
  const whole = new Uint8Array(BLCKSZ).fill(0xff);
  applyStrataRecord(whole, { kind: 'TruncateVisibilityMap', heapBlocks: 2 * VM_HEAPBLOCKS_PER_PAGE }, 0x1000);
  assert.ok(whole.every((byte) => byte === 0xff), 'a truncation at a page boundary leaves no partial page');
});

test('CLOG status bits: committed 01, aborted 10, two bits per xid, four xids per byte', () => {
  const page = new Uint8Array(BLCKSZ);
  applyStrataRecord(page, { kind: 'ClogSetCommitted', xids: [0, 5, 32768 + 2], timestamp: 1 }, 0x1000);
  applyStrataRecord(page, { kind: 'ClogSetAborted', xids: [3] }, 0x1000);
  assert.is(page[0], 0b1000_0001 | (0b01 << 4), 'xid 0 committed, xid 2 (page 1) committed, xid 3 aborted');
  assert.is(page[1], 0b0000_0100, 'xid 5 committed');
  applyStrataRecord(page, { kind: 'ClogSetAborted', xids: [5] }, 0x1000);
  assert.is(page[1], 0b0000_1000, 'a status is replaced, not or-ed');
});

test('multixact offsets and members land where multixact.c puts them', () => {
  const offsets = new Uint8Array(BLCKSZ);
  applyStrataRecord(offsets, { kind: 'MultixactOffsetCreate', multiXactId: 2048 + 3, offset: 77 }, 0x1000);
  assert.is(readU32(offsets, 12), 77);
  applyStrataRecord(offsets, { kind: 'MultixactOffsetsSet', entries: [{ multiXactId: 2048 + 4, offset: 80 }, { multiXactId: 5, offset: 83 }] }, 0x1000);
  assert.equal([readU32(offsets, 12), readU32(offsets, 16), readU32(offsets, 20)], [77, 80, 83], 'entries 3, 4 and 5 of the page');
  const members = new Uint8Array(BLCKSZ);
  applyStrataRecord(members, { kind: 'MultixactMembersCreate', offset: 1636 + 3, members: [{ xid: 900, status: 1 }, { xid: 901, status: 5 }] }, 0x1000);
  // Offset 3 of this page: group 0, member 3 (flags byte 3); offset 4: group 1, member 0.
  assert.is(readU32(members, 0), 1 << 24, 'status of member 3 in byte 3 of group 0\'s flags');
  assert.is(readU32(members, 4 + 3 * 4), 900);
  assert.is(readU32(members, 20), 5, 'status of the first member of group 1');
  assert.is(readU32(members, 24), 901);
});

test('HeapSetAllVisible sets PD_ALL_VISIBLE without touching pd_lsn, and skips pages at or past its LSN', () => {
  const page = new Uint8Array(BLCKSZ);
  pageInit(page, 0);
  pageSetLsn(page, 0x2000);
  applyStrataRecord(page, { kind: 'HeapSetAllVisible' }, 0x3000);
  assert.is(pageGetFlags(page) & PD_ALL_VISIBLE, PD_ALL_VISIBLE);
  assert.is(pageGetLsn(page), 0x2000, 'heap_xlog_visible leaves pd_lsn alone without XLogHintBitIsNeeded()');
  const newer = new Uint8Array(BLCKSZ);
  pageInit(newer, 0);
  pageSetLsn(newer, 0x3000);
  applyStrataRecord(newer, { kind: 'HeapSetAllVisible' }, 0x3000);
  assert.is(pageGetFlags(newer) & PD_ALL_VISIBLE, 0, 'BLK_DONE: the page already has the record');
  const fresh = new Uint8Array(BLCKSZ);
  applyStrataRecord(fresh, { kind: 'HeapSetAllVisible' }, 0x3000);
  assert.ok(fresh.every((byte) => byte === 0), 'BLK_NOTFOUND: a new page stays all zeros');
});

test.run();
