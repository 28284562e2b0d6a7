/**
 * Typed decoders of index records whose layouts were once wrong: GiST record type numbers
 * (PAGE_DELETE 0x60, ASSIGN_LSN 0x70 in PostgreSQL 15's gistxlog.h) and SP-GiST's
 * spgxlogPickSplit field offsets (offnumInner at 8, then initInner, storesNulls, innerIsParent,
 * offnumParent at 14, nodeI at 16, stateSrc at 20).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeGistRecord, XLOG_GIST_ASSIGN_LSN, XLOG_GIST_PAGE_DELETE } from '../../../src/wal/records/gist.js';
import { decodeSpgistRecord } from '../../../src/wal/records/spgist.js';
import { decodeXLogRecord } from '../../../src/wal/xlog-record.js';
import { buildRecord } from './wal-builder.js';

test('GiST PAGE_DELETE and ASSIGN_LSN have PostgreSQL 15 numbers', () => {
  assert.is(XLOG_GIST_PAGE_DELETE, 0x60);
  assert.is(XLOG_GIST_ASSIGN_LSN, 0x70);
  const main = new Uint8Array(10);
  new DataView(main.buffer).setUint32(0, 1234, true);
  new DataView(main.buffer).setUint16(8, 7, true);
  const bytes = buildRecord({ rmgr: 14, info: 0x60, mainData: main }, 0);
  const decoded = decodeGistRecord(decodeXLogRecord(bytes, 0x100, 0x100 + bytes.length));
  assert.equal(decoded, { type: 'pageDelete', deleteXid: 1234n, downlinkOffset: 7 });
});

test('SP-GiST PICKSPLIT fields are read at their struct offsets', () => {
  const main = new Uint8Array(28);
  const view = new DataView(main.buffer);
  main[0] = 1; // isRootSplit
  view.setUint16(2, 5, true); // nDelete
  view.setUint16(4, 6, true); // nInsert
  main[6] = 1; // initSrc
  main[7] = 0; // initDest
  view.setUint16(8, 11, true); // offnumInner
  main[10] = 1; // initInner
  main[11] = 0; // storesNulls
  main[12] = 1; // innerIsParent
  view.setUint16(14, 13, true); // offnumParent
  view.setUint16(16, 2, true); // nodeI
  view.setUint32(20, 777, true); // stateSrc.myXid
  main[24] = 1; // stateSrc.isBuild
  const bytes = buildRecord({ rmgr: 16, info: 0x50, mainData: main }, 0);
  const decoded = decodeSpgistRecord(decodeXLogRecord(bytes, 0x100, 0x100 + bytes.length));
  assert.is(decoded.type, 'pickSplit');
  if (decoded.type !== 'pickSplit') return;
  assert.equal(
    [decoded.isRootSplit, decoded.deleteCount, decoded.insertCount, decoded.initSource, decoded.initDestination, decoded.innerOffset,
      decoded.initInner, decoded.storesNulls, decoded.innerIsParent, decoded.parentOffset, decoded.nodeIndex],
    [true, 5, 6, true, false, 11, true, false, true, 13, 2],
  );
});

test.run();
