/**
 * Page helpers for SP-GiST redo (access/spgist_private.h, spgutils.c, spgdoinsert.c of
 * PostgreSQL 15): the special space, the tuple headers redo reads or patches, dead tuples
 * (redirect / placeholder / dead) and the two page routines redo shares with the primary
 * (spgPageIndexMultiDelete, spgUpdateNodeLink), plus spgxlog.c's addOrReplaceTuple.
 *
 * Layouts (little-endian, C bit-fields from the low bit):
 *   special (SpGistPageOpaqueData, 8 bytes): flags u16 (META 1 | DELETED 2 | LEAF 4 | NULLS 8),
 *     nRedirection u16, nPlaceholder u16, spgist_page_id u16 (0xFF82).
 *   leaf tuple:  u32 tupstate:2 size:30, t_info u16 (next offset in the low 14 bits), heap TID.
 *   inner tuple: u32 tupstate:2 allTheSame:1 nNodes:13 prefixSize:16, size u16, then at 8
 *     (SGITHDRSZ) the prefix (prefixSize bytes), then nNodes node tuples (IndexTupleData).
 *   dead tuple (SGDTSIZE 16 bytes): u32 tupstate:2 size:30, t_info u16, pointer
 *     (bi_hi u16, bi_lo u16, posid u16), xid u32 at 12.
 */
import { StrataError } from '../errors.js';
import { BLCKSZ, pageAddItem, pageGetMaxOffsetNumber, pageGetSpecial, pageInit, pageGetItem, readU16, readU32, writeU16, writeU32 } from './page.js';
import { indexTupleSize } from './page-gist.js';
import { pageIndexMultiDelete, pageIndexTupleDelete } from './page-index.js';

export const SPGIST_OPAQUE_SIZE = 8;
export const SPGIST_PAGE_ID = 0xff82;
export const SPGIST_LEAF = 4;
export const SPGIST_NULLS = 8;

export const SPGIST_LIVE = 0;
export const SPGIST_REDIRECT = 1;
export const SPGIST_DEAD = 2;
export const SPGIST_PLACEHOLDER = 3;

export const SGDTSIZE = 16;
const SGITHDRSZ = 8;
const INVALID_BLOCK_NUMBER = 0xffffffff;

function opaque(page: Uint8Array): number {
  const special = pageGetSpecial(page);
  if (special + SPGIST_OPAQUE_SIZE > BLCKSZ) throw new StrataError('PS_ERR_REDO_FAILED', `SP-GiST page has no room for its special space (pd_special ${special})`);
  return special;
}

/** SpGistInitPage: an empty page with the SP-GiST special space. */
export function spgistInitPage(page: Uint8Array, flags: number): void {
  pageInit(page, SPGIST_OPAQUE_SIZE);
  const special = pageGetSpecial(page);
  writeU16(page, special, flags);
  writeU16(page, special + 6, SPGIST_PAGE_ID);
}

/** Adds `delta` to nRedirection (field 2) or nPlaceholder (field 4) of the special space. */
export function spgistAddCount(page: Uint8Array, field: 'redirection' | 'placeholder', delta: number): void {
  const position = opaque(page) + (field === 'redirection' ? 2 : 4);
  writeU16(page, position, (readU16(page, position) + delta) & 0xffff);
}

export function spgistGetCount(page: Uint8Array, field: 'redirection' | 'placeholder'): number {
  return readU16(page, opaque(page) + (field === 'redirection' ? 2 : 4));
}

/** The size of a leaf tuple (bits 2..31 of its first word), read from unaligned WAL data. */
export function leafTupleSize(bytes: Uint8Array, offset: number): number {
  if (offset + 8 > bytes.length) throw new StrataError('PS_ERR_REDO_FAILED', `SP-GiST leaf tuple header at ${offset} runs past its data`);
  return readU32(bytes, offset) >>> 2;
}

/** The size of an inner tuple (the u16 after its bit-field word). */
export function innerTupleSize(bytes: Uint8Array, offset: number): number {
  if (offset + 8 > bytes.length) throw new StrataError('PS_ERR_REDO_FAILED', `SP-GiST inner tuple header at ${offset} runs past its data`);
  return readU16(bytes, offset + 4);
}

export function tupleState(page: Uint8Array, offset: number): number {
  return page[offset]! & 0x3;
}

function setItemPointer(page: Uint8Array, offset: number, block: number, offsetNumber: number): void {
  writeU16(page, offset, block >>> 16);
  writeU16(page, offset + 2, block & 0xffff);
  writeU16(page, offset + 4, offsetNumber);
}

/** spgFormDeadTuple: a 16-byte tuple in state `state`; a redirect points at (block, offset) and carries xid. */
export function formDeadTuple(state: number, block: number, offsetNumber: number, xid: number): Uint8Array {
  const tuple = new Uint8Array(SGDTSIZE);
  writeU32(tuple, 0, (state | (SGDTSIZE << 2)) >>> 0);
  if (state === SPGIST_REDIRECT) {
    setItemPointer(tuple, 6, block, offsetNumber);
    writeU32(tuple, 12, xid);
  } else {
    setItemPointer(tuple, 6, INVALID_BLOCK_NUMBER, 0);
  }
  return tuple;
}

/** Turns the redirect tuple of `offsetNumber` into a placeholder (state bits and pointer only). */
export function redirectToPlaceholder(page: Uint8Array, offsetNumber: number): void {
  const { offset } = pageGetItem(page, offsetNumber);
  if (tupleState(page, offset) !== SPGIST_REDIRECT) throw new StrataError('PS_ERR_REDO_FAILED', `SP-GiST tuple ${offsetNumber} is not a redirect`);
  page[offset] = (page[offset]! & ~0x3) | SPGIST_PLACEHOLDER;
  setItemPointer(page, offset + 6, INVALID_BLOCK_NUMBER, 0);
}

/** SGLT_SET_NEXTOFFSET on the leaf tuple of `offsetNumber`: keeps t_info's two flag bits. */
export function setLeafNextOffset(page: Uint8Array, offsetNumber: number, next: number): void {
  const { offset } = pageGetItem(page, offsetNumber);
  writeU16(page, offset + 4, (readU16(page, offset + 4) & 0xc000) | (next & 0x3fff));
}

/** spgUpdateNodeLink: points node `nodeIndex` of the inner tuple at `offsetNumber` to (block, target). */
export function updateNodeLink(page: Uint8Array, offsetNumber: number, nodeIndex: number, block: number, target: number): void {
  if (offsetNumber < 1 || offsetNumber > pageGetMaxOffsetNumber(page)) throw new StrataError('PS_ERR_REDO_FAILED', `SP-GiST inner tuple ${offsetNumber} does not exist`);
  const { offset, length } = pageGetItem(page, offsetNumber);
  const word = readU32(page, offset);
  const nodeCount = (word >>> 3) & 0x1fff;
  let position = offset + SGITHDRSZ + (word >>> 16);
  for (let index = 0; index < nodeCount; index++) {
    if (index === nodeIndex) {
      setItemPointer(page, position, block, target);
      return;
    }
    const size = indexTupleSize(page, position);
    if (size === 0 || position + size > offset + length) break;
    position += size;
  }
  throw new StrataError('PS_ERR_REDO_FAILED', `failed to find requested node ${nodeIndex} in SPGiST inner tuple`);
}

/**
 * addOrReplaceTuple (spgxlog.c): puts `tuple` at `offsetNumber`, replacing a placeholder there
 * (one placeholder fewer) or appending when the offset is one past the end.
 */
export function addOrReplaceTuple(page: Uint8Array, tuple: Uint8Array, offsetNumber: number): void {
  if (offsetNumber <= pageGetMaxOffsetNumber(page)) {
    const { offset } = pageGetItem(page, offsetNumber);
    if (tupleState(page, offset) !== SPGIST_PLACEHOLDER) throw new StrataError('PS_ERR_REDO_FAILED', 'SPGiST tuple to be replaced is not a placeholder');
    spgistAddCount(page, 'placeholder', -1);
    pageIndexTupleDelete(page, offsetNumber);
  }
  addItemAt(page, tuple, offsetNumber);
}

/** PageAddItem at an exact offset, which must be the one used. */
export function addItemAt(page: Uint8Array, tuple: Uint8Array, offsetNumber: number): void {
  if (pageAddItem(page, tuple, offsetNumber, 0) !== offsetNumber) {
    throw new StrataError('PS_ERR_REDO_FAILED', `failed to add item of size ${tuple.length} to SPGiST index page`);
  }
}

/** Replaces the tuple at `offsetNumber` by `tuple` (PageIndexTupleDelete then PageAddItem there). */
export function replaceTuple(page: Uint8Array, tuple: Uint8Array, offsetNumber: number): void {
  pageIndexTupleDelete(page, offsetNumber);
  addItemAt(page, tuple, offsetNumber);
}

export interface DeadTupleTarget {
  readonly firstState: number;
  readonly restState: number;
  readonly block: number;
  readonly offsetNumber: number;
  readonly xid: number;
}

/**
 * spgPageIndexMultiDelete: removes the tuples listed and puts dead tuples back at the same offset
 * numbers: the first listed gets `firstState`, the others `restState`; counts follow.
 */
export function spgPageIndexMultiDelete(page: Uint8Array, offsetNumbers: readonly number[], target: DeadTupleTarget): void {
  if (offsetNumbers.length === 0) return;
  const sorted = offsetNumbers.slice().sort((left, right) => left - right);
  pageIndexMultiDelete(page, sorted, sorted.length);
  const first = offsetNumbers[0]!;
  for (const offsetNumber of sorted) {
    const state = offsetNumber === first ? target.firstState : target.restState;
    addItemAt(page, formDeadTuple(state, target.block, target.offsetNumber, target.xid), offsetNumber);
    if (state === SPGIST_REDIRECT) spgistAddCount(page, 'redirection', 1);
    else if (state === SPGIST_PLACEHOLDER) spgistAddCount(page, 'placeholder', 1);
  }
}
