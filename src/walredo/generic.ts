/**
 * WAL redo of the Generic WAL resource manager (access/transam/generic_xlog.c generic_redo,
 * PostgreSQL 15), used by extensions such as bloom.
 *
 * Each block of a generic record is either a full-page image (GENERIC_XLOG_FULL_IMAGE: the
 * dispatcher restores it, this routine never sees it) or a delta: a run of fragments
 *   OffsetNumber offset (u16) | OffsetNumber length (u16) | length bytes
 * each copied onto the page at that offset. The delta says nothing about the hole between
 * pd_lower and pd_upper, so redo zeroes it afterwards: that is what the primary's page looked
 * like after GenericXLogFinish, and it keeps replayed pages byte-identical.
 */
import { StrataError } from '../errors.js';
import { formatLsn } from '../lsn.js';
import type { DecodedRecord } from '../wal/types.js';
import { assert } from '../assert.js';
import { findBlock } from './blocks.js';
import { BLCKSZ, pageGetLower, pageGetUpper, pageSetLsn, readU16 } from './page.js';
import type { RmgrRedo } from './types.js';

/** The two OffsetNumbers before each fragment's bytes. */
const FRAGMENT_HEADER_SIZE = 4;

function redoError(record: DecodedRecord, blockId: number, message: string): StrataError {
  return new StrataError('PS_ERR_REDO_FAILED', `Generic redo at ${formatLsn(record.lsn)}, block ${blockId}: ${message}`,
    { rmgr: 'Generic', info: record.info, lsn: formatLsn(record.lsn), block_id: blockId });
}

/** applyPageRedo: copies every fragment of `delta` onto the page; a fragment past the page is corrupt WAL. */
export function applyGenericDelta(page: Uint8Array, delta: Uint8Array): void {
  assert(page.length === BLCKSZ, 'a page is BLCKSZ bytes');
  let position = 0;
  while (position < delta.length) {
    if (position + FRAGMENT_HEADER_SIZE > delta.length) throw new StrataError('PS_ERR_REDO_FAILED', `generic delta: truncated fragment header at ${position}`);
    const offset = readU16(delta, position);
    const length = readU16(delta, position + 2);
    position += FRAGMENT_HEADER_SIZE;
    if (position + length > delta.length || offset + length > BLCKSZ) {
      throw new StrataError('PS_ERR_REDO_FAILED', `generic delta: fragment (offset ${offset}, length ${length}) runs past the delta or the page`);
    }
    page.set(delta.subarray(position, position + length), offset);
    position += length;
  }
  assert(position === delta.length, 'the delta is consumed exactly');
}

/** generic_redo for one block: apply its delta, zero the free space hole, set the LSN. */
function genericBlockRedo(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  const block = findBlock(record, blockId);
  if (block === undefined) throw redoError(record, blockId, 'no such block reference');
  applyGenericDelta(page, block.data);
  const lower = pageGetLower(page);
  const upper = pageGetUpper(page);
  if (lower > upper || upper > BLCKSZ) throw redoError(record, blockId, `corrupted page pointers after the delta: lower ${lower}, upper ${upper}`);
  page.fill(0, lower, upper);
  pageSetLsn(page, record.endLsn);
}

export const genericRedo: RmgrRedo = { name: 'Generic', redo: genericBlockRedo };
