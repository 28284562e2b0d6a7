/**
 * WAL redo of the SP-GiST resource manager (access/spgist/spgxlog.c of PostgreSQL 15), one block
 * at a time (types.ts has the contract). Tuples travel unaligned in the main data after each
 * record's fixed struct (records/spgist.ts keeps them as `payload`).
 *
 * Record types and their blocks:
 *   ADD_LEAF         0 leaf page (new tuple, chain link or DEAD replaced), 1 parent (downlink).
 *   MOVE_LEAFS       0 source (tuples become redirect/placeholders), 1 destination, 2 parent.
 *   ADD_NODE         0 page of the inner tuple (replaced in place, or by a redirect when it moved),
 *                    1 new page of the bigger tuple, 2 parent (parentBlk says which block it is).
 *   SPLIT_TUPLE      0 prefix page, 1 postfix page (unless the same).
 *   PICKSPLIT        0 source leaf, 1 destination leaf, 2 new inner tuple's page, 3 parent.
 *   VACUUM_LEAF      0: dead/placeholder conversions, line-pointer swaps, chain fixes.
 *   VACUUM_ROOT      0: tuples removed.
 *   VACUUM_REDIRECT  0: redirects become placeholders, trailing placeholders removed.
 * Every block modified gets PageSetLSN(record end); init flags come from the record (newPage,
 * initSrc/initDest/initInner), the dispatcher having zeroed will-init pages.
 */
import { StrataError } from '../errors.js';
import { formatLsn } from '../lsn.js';
import { decodeSpgistRecord, type SpgistRecord } from '../wal/records/spgist.js';
import { assert } from '../assert.js';
import { RmgrId, type DecodedRecord } from '../wal/types.js';
import {
  addOrReplaceTuple, formDeadTuple, innerTupleSize, leafTupleSize, redirectToPlaceholder, replaceTuple,
  setLeafNextOffset, SPGIST_DEAD, SPGIST_LEAF, SPGIST_NULLS, SPGIST_PLACEHOLDER, SPGIST_REDIRECT, spgistAddCount,
  spgistGetCount, spgistInitPage, spgPageIndexMultiDelete, updateNodeLink,
} from './page-spgist.js';
import { findBlock } from './blocks.js';
import { pageIndexMultiDelete } from './page-index.js';
import { BLCKSZ, itemIdOffset, pageGetMaxOffsetNumber, pageSetLsn, readU16, readU32, writeU32 } from './page.js';
import type { RmgrRedo } from './types.js';

const INVALID_BLOCK_NUMBER = 0xffffffff;

type Body<T extends SpgistRecord['type']> = SpgistRecord & { type: T };

function redoError(record: DecodedRecord, blockId: number, message: string): StrataError {
  return new StrataError('PS_ERR_REDO_FAILED', `SPGist redo at ${formatLsn(record.lsn)}, block ${blockId}: ${message}`,
    { rmgr: 'SPGist', info: record.info, lsn: formatLsn(record.lsn), block_id: blockId });
}

function blockNumberOf(record: DecodedRecord, blockId: number): number {
  const block = findBlock(record, blockId);
  if (block === undefined) throw redoError(record, blockId, `record has no block ${blockId}`);
  return block.blockNumber;
}

/** A cursor over a record's payload: offset arrays, then unaligned tuples. */
class Payload {
  position = 0;
  constructor(readonly bytes: Uint8Array, private readonly record: DecodedRecord, private readonly blockId: number) {}

  offsets(count: number): number[] {
    if (this.position + count * 2 > this.bytes.length) throw redoError(this.record, this.blockId, 'offset array runs past the record');
    const values: number[] = [];
    for (let index = 0; index < count; index++) values.push(readU16(this.bytes, this.position + index * 2));
    this.position += count * 2;
    return values;
  }

  bytesOf(count: number): Uint8Array {
    if (this.position + count > this.bytes.length) throw redoError(this.record, this.blockId, 'payload runs past the record');
    const part = this.bytes.subarray(this.position, this.position + count);
    this.position += count;
    return part;
  }

  leafTuple(): Uint8Array { return this.bytesOf(leafTupleSize(this.bytes, this.position)); }
  innerTuple(): Uint8Array { return this.bytesOf(innerTupleSize(this.bytes, this.position)); }
}

function leafFlags(storesNulls: boolean): number {
  return SPGIST_LEAF | (storesNulls ? SPGIST_NULLS : 0);
}

function redoAddLeaf(page: Uint8Array, record: DecodedRecord, blockId: number, body: Body<'addLeaf'>): void {
  const tuple = new Payload(body.payload, record, blockId).leafTuple();
  if (blockId === 1) {
    updateNodeLink(page, body.parentOffset, body.nodeIndex, blockNumberOf(record, 0), body.leafOffset);
  } else if (blockId === 0) {
    if (body.newPage) spgistInitPage(page, leafFlags(body.storesNulls));
    if (body.leafOffset !== body.headLeafOffset) {
      addOrReplaceTuple(page, tuple, body.leafOffset);
      if (body.headLeafOffset !== 0) setLeafNextOffset(page, body.headLeafOffset, body.leafOffset);
    } else {
      replaceTuple(page, tuple, body.leafOffset);
    }
  } else {
    throw redoError(record, blockId, 'ADD_LEAF has blocks 0 and 1 only');
  }
  pageSetLsn(page, record.endLsn);
}

function redoMoveLeafs(page: Uint8Array, record: DecodedRecord, blockId: number, body: Body<'moveLeafs'>): void {
  const payload = new Payload(body.payload, record, blockId);
  const insertCount = body.replaceDead ? 1 : body.moveCount + 1;
  const toDelete = payload.offsets(body.moveCount);
  const toInsert = payload.offsets(insertCount);
  const destination = blockNumberOf(record, 1);
  const lastInserted = toInsert[insertCount - 1]!;
  if (blockId === 1) {
    if (body.newPage) spgistInitPage(page, leafFlags(body.storesNulls));
    for (let index = 0; index < insertCount; index++) addOrReplaceTuple(page, payload.leafTuple(), toInsert[index]!);
  } else if (blockId === 0) {
    spgPageIndexMultiDelete(page, toDelete, {
      firstState: body.state.isBuild ? SPGIST_PLACEHOLDER : SPGIST_REDIRECT, restState: SPGIST_PLACEHOLDER,
      block: destination, offsetNumber: lastInserted, xid: body.state.myXid,
    });
  } else if (blockId === 2) {
    updateNodeLink(page, body.parentOffset, body.nodeIndex, destination, lastInserted);
  } else {
    throw redoError(record, blockId, 'MOVE_LEAFS has blocks 0 to 2 only');
  }
  pageSetLsn(page, record.endLsn);
}

function redoAddNode(page: Uint8Array, record: DecodedRecord, blockId: number, body: Body<'addNode'>): void {
  const tuple = new Payload(body.payload, record, blockId).innerTuple();
  if (findBlock(record, 1) === undefined) {
    if (blockId !== 0) throw redoError(record, blockId, 'ADD_NODE in place has block 0 only');
    replaceTuple(page, tuple, body.offsetNumber);
    pageSetLsn(page, record.endLsn);
    return;
  }
  const newBlock = blockNumberOf(record, 1);
  if (blockId === 1) {
    if (body.newPage) spgistInitPage(page, 0);
    addOrReplaceTuple(page, tuple, body.newOffsetNumber);
  } else if (blockId === 0) {
    const dead = body.state.isBuild
      ? formDeadTuple(SPGIST_PLACEHOLDER, INVALID_BLOCK_NUMBER, 0, 0)
      : formDeadTuple(SPGIST_REDIRECT, newBlock, body.newOffsetNumber, body.state.myXid);
    replaceTuple(page, dead, body.offsetNumber);
    spgistAddCount(page, body.state.isBuild ? 'placeholder' : 'redirection', 1);
  } else if (blockId !== 2 || body.parentBlock !== 2) {
    throw redoError(record, blockId, `ADD_NODE has no block ${blockId} to redo (parent in block ${body.parentBlock})`);
  }
  if (body.parentBlock === blockId) updateNodeLink(page, body.parentOffset, body.nodeIndex, newBlock, body.newOffsetNumber);
  pageSetLsn(page, record.endLsn);
}

function redoSplitTuple(page: Uint8Array, record: DecodedRecord, blockId: number, body: Body<'splitTuple'>): void {
  const payload = new Payload(body.payload, record, blockId);
  const prefix = payload.innerTuple();
  const postfix = payload.innerTuple();
  if (blockId === 1 && !body.postfixBlockSame) {
    if (body.newPage) spgistInitPage(page, 0);
    addOrReplaceTuple(page, postfix, body.postfixOffset);
  } else if (blockId === 0) {
    replaceTuple(page, prefix, body.prefixOffset);
    if (body.postfixBlockSame) addOrReplaceTuple(page, postfix, body.postfixOffset);
  } else {
    throw redoError(record, blockId, `SPLIT_TUPLE has no block ${blockId} to redo`);
  }
  pageSetLsn(page, record.endLsn);
}

function redoPickSplitLeaf(page: Uint8Array, record: DecodedRecord, blockId: number, body: Body<'pickSplit'>): void {
  const payload = new Payload(body.payload, record, blockId);
  const toDelete = payload.offsets(body.deleteCount);
  const toInsert = payload.offsets(body.insertCount);
  const pageSelect = payload.bytesOf(body.insertCount);
  payload.innerTuple();
  const isDestination = blockId === 1;
  if ((isDestination ? body.initDestination : body.initSource)) {
    spgistInitPage(page, leafFlags(body.storesNulls));
  } else if (!isDestination) {
    const inner = blockNumberOf(record, 2);
    spgPageIndexMultiDelete(page, toDelete, body.state.isBuild
      ? { firstState: SPGIST_PLACEHOLDER, restState: SPGIST_PLACEHOLDER, block: INVALID_BLOCK_NUMBER, offsetNumber: 0, xid: body.state.myXid }
      : { firstState: SPGIST_REDIRECT, restState: SPGIST_PLACEHOLDER, block: inner, offsetNumber: body.innerOffset, xid: body.state.myXid });
  }
  for (let index = 0; index < body.insertCount; index++) {
    const tuple = payload.leafTuple();
    if ((pageSelect[index] !== 0) === isDestination) addOrReplaceTuple(page, tuple, toInsert[index]!);
  }
  pageSetLsn(page, record.endLsn);
}

function redoPickSplit(page: Uint8Array, record: DecodedRecord, blockId: number, body: Body<'pickSplit'>): void {
  if (blockId === 0 || blockId === 1) {
    if (blockId === 0 && body.isRootSplit) throw redoError(record, blockId, 'a root PICKSPLIT has no source block');
    redoPickSplitLeaf(page, record, blockId, body);
    return;
  }
  const inner = blockNumberOf(record, 2);
  if (blockId === 2) {
    const payload = new Payload(body.payload, record, blockId);
    payload.bytesOf(body.deleteCount * 2 + body.insertCount * 3);
    if (body.initInner) spgistInitPage(page, body.storesNulls ? SPGIST_NULLS : 0);
    addOrReplaceTuple(page, payload.innerTuple(), body.innerOffset);
    if (body.innerIsParent) updateNodeLink(page, body.parentOffset, body.nodeIndex, inner, body.innerOffset);
  } else if (blockId === 3) {
    updateNodeLink(page, body.parentOffset, body.nodeIndex, inner, body.innerOffset);
  } else {
    throw redoError(record, blockId, 'PICKSPLIT has blocks 0 to 3 only');
  }
  pageSetLsn(page, record.endLsn);
}

function redoVacuumLeaf(page: Uint8Array, record: DecodedRecord, blockId: number, body: Body<'vacuumLeaf'>): void {
  if (blockId !== 0) throw redoError(record, blockId, 'VACUUM_LEAF has block 0 only');
  const payload = new Payload(body.payload, record, blockId);
  const toDead = payload.offsets(body.deadCount);
  const toPlaceholder = payload.offsets(body.placeholderCount);
  const moveSource = payload.offsets(body.moveCount);
  const moveTarget = payload.offsets(body.moveCount);
  const chainSource = payload.offsets(body.chainCount);
  const chainTarget = payload.offsets(body.chainCount);
  const nowhere = { block: INVALID_BLOCK_NUMBER, offsetNumber: 0, xid: body.state.myXid };
  spgPageIndexMultiDelete(page, toDead, { firstState: SPGIST_DEAD, restState: SPGIST_DEAD, ...nowhere });
  spgPageIndexMultiDelete(page, toPlaceholder, { firstState: SPGIST_PLACEHOLDER, restState: SPGIST_PLACEHOLDER, ...nowhere });
  const count = pageGetMaxOffsetNumber(page);
  for (let index = 0; index < body.moveCount; index++) {
    const source = moveSource[index]!;
    const target = moveTarget[index]!;
    if (source < 1 || source > count || target < 1 || target > count) throw redoError(record, blockId, `line pointer swap ${source} <-> ${target} out of range`);
    const sourceItem = readU32(page, itemIdOffset(source));
    writeU32(page, itemIdOffset(source), readU32(page, itemIdOffset(target)));
    writeU32(page, itemIdOffset(target), sourceItem);
  }
  spgPageIndexMultiDelete(page, moveSource, { firstState: SPGIST_PLACEHOLDER, restState: SPGIST_PLACEHOLDER, ...nowhere });
  for (let index = 0; index < body.chainCount; index++) setLeafNextOffset(page, chainSource[index]!, chainTarget[index]!);
  pageSetLsn(page, record.endLsn);
}

function redoVacuumRoot(page: Uint8Array, record: DecodedRecord, blockId: number, body: Body<'vacuumRoot'>): void {
  if (blockId !== 0) throw redoError(record, blockId, 'VACUUM_ROOT has block 0 only');
  pageIndexMultiDelete(page, body.offsets, body.offsets.length);
  pageSetLsn(page, record.endLsn);
}

function redoVacuumRedirect(page: Uint8Array, record: DecodedRecord, blockId: number, body: Body<'vacuumRedirect'>): void {
  if (blockId !== 0) throw redoError(record, blockId, 'VACUUM_REDIRECT has block 0 only');
  for (const offsetNumber of body.offsets) redirectToPlaceholder(page, offsetNumber);
  spgistAddCount(page, 'redirection', -body.offsets.length);
  spgistAddCount(page, 'placeholder', body.offsets.length);
  if (body.firstPlaceholder !== 0) {
    const count = pageGetMaxOffsetNumber(page);
    const toDelete: number[] = [];
    for (let offsetNumber = body.firstPlaceholder; offsetNumber <= count; offsetNumber++) toDelete.push(offsetNumber);
    if (spgistGetCount(page, 'placeholder') < toDelete.length) throw redoError(record, blockId, 'fewer placeholders than tuples to remove');
    spgistAddCount(page, 'placeholder', -toDelete.length);
    pageIndexMultiDelete(page, toDelete, toDelete.length);
  }
  pageSetLsn(page, record.endLsn);
}

const XLOG_SPGIST_PICKSPLIT = 0x50;
/** offsetof(spgxlogPickSplit, offsets): the fixed struct, stateSrc included. */
const SIZE_OF_PICKSPLIT = 28;

/**
 * spgxlogPickSplit of PostgreSQL 15: isRootSplit@0, nDelete@2, nInsert@4, initSrc@6, initDest@7,
 * offnumInner@8, initInner@10, storesNulls@11, innerIsParent@12, offnumParent@14, nodeI@16,
 * stateSrc@20 (myXid, isBuild), offsets@28. Read here because records/spgist.ts places
 * offnumInner after the flags (reported to its owner).
 */
function decodePickSplit(record: DecodedRecord, blockId: number): Body<'pickSplit'> {
  const data = record.mainData;
  if (data.length < SIZE_OF_PICKSPLIT) throw redoError(record, blockId, `PICKSPLIT main data is ${data.length} bytes`);
  return {
    type: 'pickSplit', isRootSplit: data[0] !== 0, deleteCount: readU16(data, 2), insertCount: readU16(data, 4),
    initSource: data[6] !== 0, initDestination: data[7] !== 0, innerOffset: readU16(data, 8), initInner: data[10] !== 0,
    storesNulls: data[11] !== 0, innerIsParent: data[12] !== 0, parentOffset: readU16(data, 14), nodeIndex: readU16(data, 16),
    state: { myXid: readU32(data, 20), isBuild: data[24] !== 0 }, payload: data.subarray(SIZE_OF_PICKSPLIT),
  };
}

function spgistBlockRedo(page: Uint8Array, record: DecodedRecord, blockId: number): void {
  assert(page.length === BLCKSZ, 'a page is BLCKSZ bytes');
  assert(record.rmgrId === RmgrId.SPGist, 'an SP-GiST record');
  const body = (record.info & 0xf0) === XLOG_SPGIST_PICKSPLIT ? decodePickSplit(record, blockId) : decodeSpgistRecord(record);
  switch (body.type) {
    case 'addLeaf': redoAddLeaf(page, record, blockId, body); return;
    case 'moveLeafs': redoMoveLeafs(page, record, blockId, body); return;
    case 'addNode': redoAddNode(page, record, blockId, body); return;
    case 'splitTuple': redoSplitTuple(page, record, blockId, body); return;
    case 'pickSplit': redoPickSplit(page, record, blockId, body); return;
    case 'vacuumLeaf': redoVacuumLeaf(page, record, blockId, body); return;
    case 'vacuumRoot': redoVacuumRoot(page, record, blockId, body); return;
    case 'vacuumRedirect': redoVacuumRedirect(page, record, blockId, body); return;
  }
}

export const spgistRedo: RmgrRedo = { name: 'SPGist', redo: spgistBlockRedo };
