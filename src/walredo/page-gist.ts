/**
 * Page helpers for GiST and SP-GiST redo: the GiST special space (access/gist.h) and private
 * copies of bufpage.c's index-page routines (PageIndexTupleDelete, PageIndexMultiDelete,
 * PageIndexTupleOverwrite).
 *
 * WHY private copies: the shared page-index.ts (another helper's file) did not exist when GiST and
 * SP-GiST redo were written; these follow bufpage.c of PostgreSQL 15 byte for byte (where tuples
 * land matters: pages are compared with the primary's) and can be swapped for the shared ones.
 *
 * GiST special space (GISTPageOpaqueData, 16 bytes at pd_special):
 *   0  nsn            8  (PageXLogRecPtr: xlogid u32, then xrecoff u32)
 *   8  rightlink      4
 *   12 flags          2  F_LEAF 1 | F_DELETED 2 | F_TUPLES_DELETED 4 | F_FOLLOW_RIGHT 8 | F_HAS_GARBAGE 16
 *   14 gist_page_id   2  0xFF81
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { Lsn } from '../lsn.js';
import {
  BLCKSZ, SIZE_OF_PAGE_HEADER,
  pageGetLower, pageGetSpecial, pageInit,
  readU16, readU32, writeU16, writeU32,
} from './page.js';

export const GIST_OPAQUE_SIZE = 16;
export const GIST_PAGE_ID = 0xff81;
export const GIST_ROOT_BLKNO = 0;
export const INVALID_BLOCK_NUMBER = 0xffffffff;

export const F_LEAF = 1;
export const F_DELETED = 2;
export const F_TUPLES_DELETED = 4;
export const F_FOLLOW_RIGHT = 8;
export const F_HAS_GARBAGE = 16;

const TWO_TO_32 = 0x1_0000_0000;

// ---- GiST special space ------------------------------------------------------------------------

function gistOpaque(page: Uint8Array): number {
  const special = pageGetSpecial(page);
  if (special + GIST_OPAQUE_SIZE > BLCKSZ) {
    throw new StrataError('PS_ERR_REDO_FAILED', `GiST page has no room for its special space (pd_special ${special})`);
  }
  return special;
}

/** gistinitpage: an empty page with the GiST special space, rightlink invalid, NSN 0. */
export function gistInitPage(page: Uint8Array, flags: number): void {
  pageInit(page, GIST_OPAQUE_SIZE);
  const special = pageGetSpecial(page);
  writeU32(page, special + 8, INVALID_BLOCK_NUMBER);
  writeU16(page, special + 12, flags);
  writeU16(page, special + 14, GIST_PAGE_ID);
}

export function gistGetFlags(page: Uint8Array): number { return readU16(page, gistOpaque(page) + 12); }
export function gistSetFlags(page: Uint8Array, flags: number): void { writeU16(page, gistOpaque(page) + 12, flags); }
export function gistGetRightlink(page: Uint8Array): number { return readU32(page, gistOpaque(page) + 8); }
export function gistSetRightlink(page: Uint8Array, block: number): void { writeU32(page, gistOpaque(page) + 8, block); }
export function gistPageIsLeaf(page: Uint8Array): boolean { return (gistGetFlags(page) & F_LEAF) !== 0; }

export function gistGetNsn(page: Uint8Array): Lsn {
  const special = gistOpaque(page);
  return readU32(page, special) * TWO_TO_32 + readU32(page, special + 4);
}

/** GistPageSetNSN: the NSN is stored like pd_lsn, the high half first. */
export function gistSetNsn(page: Uint8Array, nsn: Lsn): void {
  assert(Number.isSafeInteger(nsn) && nsn >= 0, 'an NSN is a safe integer');
  const special = gistOpaque(page);
  writeU32(page, special, Math.floor(nsn / TWO_TO_32));
  writeU32(page, special + 4, nsn % TWO_TO_32);
}

/** IndexTupleSize: the low 13 bits of t_info (offset 6, after the 6-byte heap TID). */
export function indexTupleSize(bytes: Uint8Array, offset: number): number {
  if (offset + 8 > bytes.length) throw new StrataError('PS_ERR_REDO_FAILED', `index tuple header at ${offset} runs past its data (${bytes.length} bytes)`);
  return readU16(bytes, offset + 6) & 0x1fff;
}

/** PageIsEmpty: no line pointers. */
export function pageIsEmpty(page: Uint8Array): boolean {
  return pageGetLower(page) <= SIZE_OF_PAGE_HEADER;
}

// ---- bufpage.c index routines (private copies) ------------------------------------------------

