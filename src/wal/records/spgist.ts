/**
 * Typed decoder for the SPGist resource manager (access/spgxlog.h of PostgreSQL 15).
 *
 * WHY: SP-GiST records put most of their payload (offset arrays, new tuples) after the fixed struct
 * in the main data; redo needs both, so the fixed part is decoded and the rest kept as `payload`.
 */
import type { DecodedRecord } from '../types.js';
import { BodyReader, recordType, unsupportedRecord } from './body-reader.js';

export const XLOG_SPGIST_ADD_LEAF = 0x10;
export const XLOG_SPGIST_MOVE_LEAFS = 0x20;
export const XLOG_SPGIST_ADD_NODE = 0x30;
export const XLOG_SPGIST_SPLIT_TUPLE = 0x40;
export const XLOG_SPGIST_PICKSPLIT = 0x50;
export const XLOG_SPGIST_VACUUM_LEAF = 0x60;
export const XLOG_SPGIST_VACUUM_ROOT = 0x70;
export const XLOG_SPGIST_VACUUM_REDIRECT = 0x80;

/** spgxlogState: what redo needs to rebuild SpGistState. */
export interface SpgState { myXid: number; isBuild: boolean }

export type SpgistRecord =
  | { type: 'addLeaf'; newPage: boolean; storesNulls: boolean; leafOffset: number; headLeafOffset: number; parentOffset: number; nodeIndex: number; payload: Uint8Array }
  | { type: 'moveLeafs'; moveCount: number; newPage: boolean; replaceDead: boolean; storesNulls: boolean; parentOffset: number; nodeIndex: number; state: SpgState; payload: Uint8Array }
  | { type: 'addNode'; offsetNumber: number; newOffsetNumber: number; newPage: boolean; parentBlock: number; parentOffset: number; nodeIndex: number; state: SpgState; payload: Uint8Array }
  | { type: 'splitTuple'; prefixOffset: number; postfixOffset: number; newPage: boolean; postfixBlockSame: boolean; payload: Uint8Array }
  | { type: 'pickSplit'; isRootSplit: boolean; deleteCount: number; insertCount: number; initSource: boolean; initDestination: boolean; initInner: boolean; storesNulls: boolean; innerIsParent: boolean; innerOffset: number; parentOffset: number; nodeIndex: number; state: SpgState; payload: Uint8Array }
  | { type: 'vacuumLeaf'; deadCount: number; placeholderCount: number; moveCount: number; chainCount: number; state: SpgState; payload: Uint8Array }
  | { type: 'vacuumRoot'; deleteCount: number; state: SpgState; offsets: number[] }
  | { type: 'vacuumRedirect'; toPlaceholderCount: number; firstPlaceholder: number; newestRedirectXid: number; offsets: number[] };

function readState(reader: BodyReader, offset: number): SpgState {
  reader.seek(offset);
  const myXid = reader.u32();
  const isBuild = reader.bool();
  reader.seek(offset + 8);
  return { myXid, isBuild };
}

export function decodeSpgistRecord(record: DecodedRecord): SpgistRecord {
  const reader = new BodyReader(record.mainData, 'spgist');
  switch (recordType(record.info)) {
    case XLOG_SPGIST_ADD_LEAF: return {
      type: 'addLeaf', newPage: reader.bool(), storesNulls: reader.bool(), leafOffset: reader.u16(), headLeafOffset: reader.u16(),
      parentOffset: reader.u16(), nodeIndex: reader.u16(), payload: reader.rest(),
    };
    case XLOG_SPGIST_MOVE_LEAFS: {
      const moveCount = reader.u16();
      const newPage = reader.bool();
      const replaceDead = reader.bool();
      const storesNulls = reader.bool();
      const parentOffset = (reader.seek(6), reader.u16());
      const nodeIndex = reader.u16();
      return { type: 'moveLeafs', moveCount, newPage, replaceDead, storesNulls, parentOffset, nodeIndex, state: readState(reader, 12), payload: reader.rest() };
    }
    case XLOG_SPGIST_ADD_NODE: {
      const offsetNumber = reader.u16();
      const newOffsetNumber = reader.u16();
      const newPage = reader.bool();
      const parentBlock = reader.i8();
      const parentOffset = reader.u16();
      const nodeIndex = reader.u16();
      return { type: 'addNode', offsetNumber, newOffsetNumber, newPage, parentBlock, parentOffset, nodeIndex, state: readState(reader, 12), payload: reader.rest() };
    }
    case XLOG_SPGIST_SPLIT_TUPLE: return {
      type: 'splitTuple', prefixOffset: reader.u16(), postfixOffset: reader.u16(), newPage: reader.bool(), postfixBlockSame: reader.bool(),
      payload: (reader.seek(6), reader.rest()),
    };
    case XLOG_SPGIST_PICKSPLIT: return decodePickSplit(reader);
    case XLOG_SPGIST_VACUUM_LEAF: {
      const deadCount = reader.u16();
      const placeholderCount = reader.u16();
      const moveCount = reader.u16();
      const chainCount = reader.u16();
      return { type: 'vacuumLeaf', deadCount, placeholderCount, moveCount, chainCount, state: readState(reader, 8), payload: reader.rest() };
    }
    case XLOG_SPGIST_VACUUM_ROOT: {
      const deleteCount = reader.u16();
      const state = readState(reader, 4);
      return { type: 'vacuumRoot', deleteCount, state, offsets: reader.u16Array(deleteCount) };
    }
    case XLOG_SPGIST_VACUUM_REDIRECT: {
      const toPlaceholderCount = reader.u16();
      const firstPlaceholder = reader.u16();
      const newestRedirectXid = reader.u32();
      return { type: 'vacuumRedirect', toPlaceholderCount, firstPlaceholder, newestRedirectXid, offsets: reader.u16Array(toPlaceholderCount) };
    }
    default: throw unsupportedRecord('SPGist', record.info);
  }
}

function decodePickSplit(reader: BodyReader): SpgistRecord {
  const isRootSplit = reader.bool();
  const deleteCount = (reader.seek(2), reader.u16());
  const insertCount = reader.u16();
  const initSource = reader.bool();
  const initDestination = reader.bool();
  // spgxlogPickSplit (PostgreSQL 15): offnumInner u16 @8, initInner @10, storesNulls @11,
  // innerIsParent @12, offnumParent u16 @14, nodeI u16 @16, stateSrc @20.
  const innerOffset = reader.u16();
  const initInner = reader.bool();
  const storesNulls = reader.bool();
  const innerIsParent = reader.bool();
  const parentOffset = (reader.seek(14), reader.u16());
  const nodeIndex = reader.u16();
  const state = readState(reader, 20);
  return { type: 'pickSplit', isRootSplit, deleteCount, insertCount, initSource, initDestination, initInner, storesNulls, innerIsParent, innerOffset, parentOffset, nodeIndex, state, payload: reader.rest() };
}
