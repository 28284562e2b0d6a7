/**
 * WAL ingest: turns each decoded WAL record into key/values at the record's end LSN.
 *
 *   DecodedRecord ──► block references ──► page image (FPI with BKPIMAGE_APPLY) or the WAL record
 *        │                                  (will-init flag) + relation size extension
 *        ├──► implied page changes ──► Strata records: VM bits (heap), CLOG bits (xact),
 *        │                             multixact offsets/members (MULTIXACT CREATE_ID)
 *        └──► metadata ──► relation/database directories and sizes (smgr, xact drops, dbase),
 *                          SLRU pages/segments, two-phase files, checkpoint, relmapper files
 *
 * WHY this shape: ingest must keep up with PostgreSQL's own replay (~400k records/s). Records whose
 * metadata is all cached (the common heap/btree case) are handled synchronously with no await and
 * no per-record promise in `ingestBatch`; records that change directories (xact, smgr, dbase, SLRU,
 * two-phase) or miss the cache take the async path. Each changed metadata key is written once per
 * record by MetadataCache.flush.
 *
 * Block values go through the store's optional `putEncoded` when it has one: reusable writers
 * encode the record (or decode the full-page image) straight into the in-memory layer's chunk,
 * keyed by the relation fork's memoized 28-digit key prefix and the block number, so a block
 * reference builds no Value, no page copy and no key string. Plain commits and aborts (no
 * subtransactions, no dropped relations: nearly all) are recognized from the first bytes of the
 * main data and set their CLOG bit synchronously, without decoding the whole body.
 *
 * Images that exist only for wal_consistency_checking (no BKPIMAGE_APPLY) are not stored as
 * images: the record is stored for that block, exactly as without the image.
 *
 * The checkpoint key holds the primary's CheckPoint as redo would have it after each record, not
 * only at checkpoint records: a CheckpointTracker (checkpoint-tracker.ts) advances nextXid past
 * every xid (rounded up to 1024, so it is written once per 1024 xids), nextOid from NEXTOID,
 * nextMulti/nextMultiOffset from multixact creation, and the key is written at the end LSN of each
 * record that changed it. A backup at any LSN reads it there (src/backup/). On the hot path this
 * costs one compare of the record's xid per record.
 *
 * commit_ts: Strata does not keep the commit_ts SLRU (no key kind for it); COMMIT_TS records and
 * commit timestamps are not stored beyond the timestamp carried in ClogSetCommitted.
 */
import type { Logger } from '../observability/log.js';
import { assert } from '../assert.js';
import { CHECKPOINT_KEY, CONTROL_FILE_KEY, SlruKind, relmapFileKey, twoPhaseFileKey, type Key } from '../keys.js';
import { hintBitsLogged, withParameterChange } from './control-file.js';
import { CheckpointTracker } from './checkpoint-tracker.js';
import { encodeCheckPoint } from '../backup/checkpoint.js';
import { isBitlessVmCopy, recoverVmCopy } from './vm-copy.js';
import type { Lsn } from '../lsn.js';
import { stampRestoredImage } from '../page-lsn.js';
import type { TimelineStore } from '../storage/types.js';
import type { Value } from '../value.js';
import {
  CopiedWalRecordWriter, holeField, SHAPE_IMAGE_VALUE, SingleVisibilityClearWriter, ValueObjectWriter, walRecordShape, writeImageTag,
  type ValueWriter,
} from '../storage/value-codec.js';
import { decodeBlockImage } from '../wal/wal-decoder.js';
import type { PackedRecords } from '../wal/packed-records.js';
import {
  PackedRecordView, blockImageSource, blockImageSourceOffset, copyRecordBytes, decodeBlockImageAt, mainDataByte, mainDataLength, recordByteLength, recordSource,
  recordSourceOffset,
} from '../wal/xlog-record.js';
import { BLCKSZ, ForkNumber, RmgrId, type DecodedBlock, type DecodedRecord, type RelFileNode } from '../wal/types.js';
import { decodeClogRecord } from '../wal/records/clog.js';
import { decodeDbaseRecord } from '../wal/records/dbase.js';
import {
  XLH_DELETE_ALL_VISIBLE_CLEARED, XLH_INSERT_ALL_VISIBLE_CLEARED, XLH_LOCK_ALL_FROZEN_CLEARED, XLH_UPDATE_NEW_ALL_VISIBLE_CLEARED,
  XLH_UPDATE_OLD_ALL_VISIBLE_CLEARED, XLOG_HEAP2_LOCK_UPDATED, XLOG_HEAP2_MULTI_INSERT, XLOG_HEAP_DELETE, XLOG_HEAP_HOT_UPDATE,
  XLOG_HEAP_INSERT, XLOG_HEAP_LOCK, XLOG_HEAP_OPMASK, XLOG_HEAP_UPDATE, XLOG_HEAP2_VISIBLE, VISIBILITYMAP_ALL_FROZEN, VISIBILITYMAP_VALID_BITS,
} from '../wal/records/heap.js';
import { decodeMultiXactRecord } from '../wal/records/multixact.js';
import { redoChangesRestoredImage } from '../wal/records/index.js';
import { decodeRelMapRecord } from '../wal/records/relmap.js';
import { decodeSmgrRecord, SMGR_TRUNCATE_VM } from '../wal/records/smgr.js';
import {
  XACT_XINFO_HAS_RELFILENODES, XACT_XINFO_HAS_SUBXACTS, XACT_XINFO_HAS_TWOPHASE, XLOG_XACT_ABORT, XLOG_XACT_COMMIT, XLOG_XACT_HAS_INFO,
  XLOG_XACT_OPMASK, decodeXactRecord, type ParsedXactFinish, type XactRecord,
} from '../wal/records/xact.js';
import {
  decodeCheckPoint, decodeXlogRecord, XLOG_CHECKPOINT_ONLINE, XLOG_CHECKPOINT_SHUTDOWN, XLOG_NEXTOID, XLOG_PARAMETER_CHANGE,
} from '../wal/records/xlog.js';
import { ABSENT, MetadataCache, readImage } from './metadata-cache.js';
import {
  HEAPBLOCKS_PER_VM_PAGE, copyDatabase, createFork, dropDatabase, dropRelation, forkTag, truncateRelation, type PageMaterializer,
} from './relation-ops.js';
import { putClogStatus, putMultiXactCreate, putSingleClogStatus, putZeroPage, truncateClog, truncateMultiXact } from './slru-ingest.js';

export interface WalIngestOptions {
  logger: Logger;
  /** Records ending at or below this LSN are already in the store (the import LSN); default store.lastPutLsn. */
  consistentLsn?: Lsn;
  /** Redo hook for CREATE DATABASE (FILE_COPY) when a source page has records on top of its image. */
  materializePage?: PageMaterializer;
}

const HEX_DIGITS = '0123456789abcdef';
function hex8(value: number): string {
  let text = '';
  for (let shift = 28; shift >= 0; shift -= 4) text += HEX_DIGITS[(value >>> shift) & 0xf];
  return text;
}
function hex2(value: number): string {
  return HEX_DIGITS[(value >>> 4) & 0xf]! + HEX_DIGITS[value & 0xf]!;
}

/** The little-endian int32 at `index` of the main data (the caller checked the length). */
function mainDataInt32(record: DecodedRecord, index: number): number {
  return mainDataByte(record, index)! | (mainDataByte(record, index + 1)! << 8) | (mainDataByte(record, index + 2)! << 16) | (mainDataByte(record, index + 3)! << 24);
}

function visibilityClear(heapBlocks: number[], flags: number): Value {
  return { kind: 'strataRecord', willInit: false, record: { kind: 'ClearVisibilityMapFlags', heapBlocks, flags } };
}

/** A record that may be kept across an await: a packed view (valid until it moves) is materialized. */
function keepable(record: DecodedRecord): DecodedRecord {
  return record instanceof PackedRecordView ? record.materialize() : record;
}

/** Relations whose key strings are memoized before the memo is cleared. */
const RELATION_KEYS_MAX = 100_000;

/** The key prefix (kind, spc, db, rel, fork: 28 hex digits) and size key of each fork of a relation. */
class RelationKeys {
  readonly prefixes: string[];
  readonly sizeKeys: string[];

  constructor(readonly spcNode: number, readonly dbNode: number, relNode: number) {
    this.prefixes = [0, 1, 2, 3].map((fork) => '00' + hex8(spcNode) + hex8(dbNode) + hex8(relNode) + hex2(fork));
    // Flattened once so Map lookups hash a sequential string.
    this.sizeKeys = this.prefixes.map((prefix) => Buffer.from(prefix + 'ffffffff', 'latin1').toString('latin1'));
  }
}

/** Record types handled without the async path (all their metadata is block sizes), by rmgr id. */
const SYNC_RMGRS = new Uint8Array(256);
for (const rmgrId of [
  RmgrId.Heap, RmgrId.Heap2, RmgrId.Btree, RmgrId.Hash, RmgrId.Gin, RmgrId.Gist, RmgrId.Sequence, RmgrId.SPGist,
  RmgrId.BRIN, RmgrId.Generic, RmgrId.Standby, RmgrId.LogicalMessage, RmgrId.ReplicationOrigin, RmgrId.CommitTs,
  RmgrId.Tablespace, RmgrId.RelMap, RmgrId.Xlog,
]) SYNC_RMGRS[rmgrId] = 1;

/**
 * Writes a block's full-page image straight into the layer's memory (no intermediate page), as
 * redo restores it: pd_lsn is the record's EndRecPtr unless the page is new (page-lsn.ts).
 */
class BlockImageWriter implements ValueWriter {
  readonly encodedLength = 1 + BLCKSZ;
  #block: DecodedBlock | undefined;
  #endRecPtr = 0;

  reset(block: DecodedBlock, endRecPtr: Lsn): this {
    assert(block.hasImage, 'an image writer needs a block with an image');
    this.#block = block;
    this.#endRecPtr = endRecPtr;
    return this;
  }

  writeInto(target: Uint8Array, offset: number): void {
    assert(this.#block !== undefined, 'writer reset before use');
    const pageAt = writeImageTag(target, offset);
    decodeBlockImageAt(this.#block, target, pageAt);
    stampRestoredImage(target, pageAt, this.#endRecPtr);
    this.#block = undefined;
  }
}

/** A block's full-page image as redo restores it (page-lsn.ts): a page of its own. */
function restoredImage(block: DecodedBlock, endRecPtr: Lsn): Uint8Array {
  const page = decodeBlockImage(block);
  stampRestoredImage(page, 0, endRecPtr);
  return page;
}

function hasBitlessVmCopy(record: DecodedRecord): boolean {
  const blocks = record.blocks;
  for (let index = 0; index < blocks.length; index++) if (isBitlessVmCopy(record, blocks[index]!)) return true;
  return false;
}

const HEAP_SET_ALL_VISIBLE: Value = { kind: 'strataRecord', willInit: false, record: { kind: 'HeapSetAllVisible' } };

function isHeap2Visible(record: DecodedRecord): boolean {
  return (record.info & XLOG_HEAP_OPMASK) === XLOG_HEAP2_VISIBLE;
}

export class WalIngest {
  private lastCommitLsn: Lsn = 0;
  private lastCommitTimestamp = 0;
  private readonly store: TimelineStore;
  private readonly logger: Logger;
  private readonly cache: MetadataCache;
  private readonly materializePage: PageMaterializer | undefined;
  private lastLsn: Lsn;
  private recordCount = 0;
  /** Key strings per relation (built and hashed once, not per block reference). */
  private readonly relationKeys = new Map<number, RelationKeys>();
  private lastRel: RelFileNode | undefined = undefined;
  private lastRelKeys: RelationKeys | undefined = undefined;
  /** Reusable encoders for the store's putEncoded fast path (undefined: the store lacks it). */
  private readonly recordWriter = new CopiedWalRecordWriter<DecodedRecord>(copyRecordBytes);
  private readonly imageWriter = new BlockImageWriter();
  private readonly objectWriter = new ValueObjectWriter();
  private readonly visibilityClearWriter = new SingleVisibilityClearWriter();
  private readonly putEncoded: TimelineStore['putEncoded'];
  private readonly putReferenced: TimelineStore['putReferenced'];
  private readonly packedView = new PackedRecordView();
  /**
   * The primary's pg_control as of the last record (import, then PARAMETER_CHANGE records), and
   * its XLogHintBitIsNeeded(). Without a control file (stores built by tests) hints count as
   * logged: VISIBLE then stamps the heap page, as on a cluster with checksums.
   */
  private controlFile: Uint8Array | undefined;
  private hintBitsLogged = true;
  /**
   * The primary's CheckPoint as of the last record (checkpoint-tracker.ts), written back under
   * CHECKPOINT_KEY at the end LSN of each record that changes it. Undefined until a checkpoint is
   * known (import stores one; stores built by tests may start without).
   */
  private checkpoint: CheckpointTracker | undefined;
  /** checkpoint.nextXidLow, copied here for the one compare per record (0 without a checkpoint). */
  private nextXidLow = 0;

  private constructor(store: TimelineStore, options: WalIngestOptions) {
    this.store = store;
    this.logger = options.logger;
    this.lastLsn = options.consistentLsn ?? store.lastPutLsn;
    this.cache = new MetadataCache(store, this.lastLsn);
    this.materializePage = options.materializePage;
    this.putEncoded = store.putEncoded?.bind(store);
    this.putReferenced = store.putReferenced?.bind(store);
  }

  static async create(store: TimelineStore, options: WalIngestOptions): Promise<WalIngest> {
    assert(options.consistentLsn === undefined || options.consistentLsn >= 0, 'consistent LSN must be non-negative');
    const ingest = new WalIngest(store, options);
    ingest.controlFile = await readImage(store, CONTROL_FILE_KEY, ingest.lastLsn);
    if (ingest.controlFile !== undefined) ingest.hintBitsLogged = hintBitsLogged(ingest.controlFile);
    const checkpoint = await readImage(store, CHECKPOINT_KEY, ingest.lastLsn);
    if (checkpoint !== undefined) ingest.trackCheckpoint(new CheckpointTracker(decodeCheckPoint(checkpoint)));
    // Warm the directories most records need.
    await ingest.cache.databases();
    return ingest;
  }

  /** End LSN of the last ingested record (or the starting point). */
  get lastIngestedLsn(): Lsn {
    return this.lastLsn;
  }

  get recordsIngested(): number {
    return this.recordCount;
  }

  async ingest(record: DecodedRecord): Promise<void> {
    const pending = this.ingestOrDefer(record);
    if (pending !== undefined) await pending;
  }

  /** Ingests records in order; awaits only for records that need the async path. */
  async ingestBatch(records: readonly DecodedRecord[]): Promise<void> {
    for (let index = 0; index < records.length; index++) {
      const pending = this.ingestOrDefer(records[index]!);
      if (pending !== undefined) await pending;
    }
  }

  /**
   * Ingests a packed batch (packed-records.ts) in order, through one reusable record view: no
   * object per record on the synchronous path; records that take the async path are materialized.
   */
  async ingestPacked(batch: PackedRecords, first = 0): Promise<void> {
    assert(first >= 0 && first <= batch.count, 'first record inside the batch');
    const view = this.packedView.reset(batch);
    for (let index = first; index < batch.count; index++) {
      const pending = this.ingestOrDefer(view.moveTo(index));
      if (pending !== undefined) await pending;
    }
  }

  /** Handles the record synchronously when possible; otherwise returns the async work. */
  private ingestOrDefer(record: DecodedRecord): Promise<void> | undefined {
    if (record.endLsn <= this.lastLsn) return undefined; // Already ingested (before the consistent point).
    // Redo advances nextXid past every record's xid; true once per XID_ADVANCE_STEP xids.
    if (((record.xid - this.nextXidLow) | 0) >= 0) this.checkpoint?.observeXid(record.xid);
    if (SYNC_RMGRS[record.rmgrId] === 1 && this.blocksReady(record) && !(record.rmgrId === RmgrId.Xlog && hasBitlessVmCopy(record))) {
      this.putBlocks(record);
      this.applySyncBody(record);
      this.finish(record);
      return undefined;
    }
    if (record.rmgrId === RmgrId.Transaction && record.blocks.length === 0) {
      if (this.tryPlainTransactionEnd(record)) return undefined;
      const body = decodeXactRecord(record);
      if ((body.type === 'commit' || body.type === 'abort') && body.droppedRels.length === 0) {
        // The common commit: CLOG bits only, no directory to load.
        this.putTransactionStatus(record.endLsn, record.xid, body, body.type === 'commit');
        this.finish(record);
        return undefined;
      }
      return this.ingestAsync(keepable(record), body);
    }
    return this.ingestAsync(keepable(record));
  }

  private async ingestAsync(record: DecodedRecord, xactBody?: XactRecord): Promise<void> {
    if (xactBody !== undefined) {
      await this.applyXact(record, xactBody);
      this.finish(record);
      return;
    }
    for (const block of record.blocks) await this.prepareBlock(block);
    if (record.rmgrId === RmgrId.Heap || record.rmgrId === RmgrId.Heap2) await this.prepareVisibilityMap(record);
    this.putBlocks(record, record.rmgrId === RmgrId.Xlog ? await this.recoverVmCopies(record) : undefined);
    if (SYNC_RMGRS[record.rmgrId] === 1) this.applySyncBody(record);
    else await this.applyAsyncBody(record);
    this.finish(record);
  }

  private finish(record: DecodedRecord): void {
    this.cache.flush(record.endLsn);
    if (this.checkpoint !== undefined && this.checkpoint.changed) this.putCheckpoint(record.endLsn, this.checkpoint);
    this.lastLsn = record.endLsn;
    this.recordCount += 1;
  }

  /**
   * keysOf for a block's relation, memoized for the last RelFileNode object (WHY: the decoder
   * hands out one shared object per relation, and consecutive lookups mostly name the same one).
   */
  private keysOfRel(rel: RelFileNode): RelationKeys {
    if (rel === this.lastRel && this.lastRelKeys !== undefined) return this.lastRelKeys;
    const keys = this.keysOf(rel.spcNode, rel.dbNode, rel.relNode);
    this.lastRel = rel;
    this.lastRelKeys = keys;
    return keys;
  }

  private keysOf(spcNode: number, dbNode: number, relNode: number): RelationKeys {
    let keys = this.relationKeys.get(relNode);
    if (keys === undefined || keys.spcNode !== spcNode || keys.dbNode !== dbNode) {
      if (this.relationKeys.size >= RELATION_KEYS_MAX) this.relationKeys.clear();
      keys = new RelationKeys(spcNode, dbNode, relNode);
      this.relationKeys.set(relNode, keys);
    }
    return keys;
  }

  private sizeKeyOf(block: DecodedBlock): Key {
    return this.keysOfRel(block.rel).sizeKeys[block.forkNumber]!;
  }

  private vmSizeKeyOf(block: DecodedBlock): Key {
    return this.keysOfRel(block.rel).sizeKeys[ForkNumber.VisibilityMap]!;
  }

  /** True when every block's fork exists in the cache and no VM size is missing. */
  private blocksReady(record: DecodedRecord): boolean {
    const blocks = record.blocks;
    for (let index = 0; index < blocks.length; index++) {
      const size = this.cache.cachedSize(this.sizeKeyOf(blocks[index]!));
      if (size === undefined || size === ABSENT) return false;
    }
    if ((record.rmgrId === RmgrId.Heap || record.rmgrId === RmgrId.Heap2) && record.blocks.length > 0) {
      const block = record.blocks[0]!;
      if (this.cache.cachedSize(this.vmSizeKeyOf(block)) === undefined) return false;
    }
    return true;
  }

  /** Loads the fork's size and creates the fork when it does not exist (redo creates it implicitly). */
  private async prepareBlock(block: DecodedBlock): Promise<void> {
    const sizeKey = this.sizeKeyOf(block);
    const size = this.cache.cachedSize(sizeKey) ?? (await this.cache.loadSize(sizeKey));
    if (size === ABSENT) await createFork(this.cache, forkTag(block.rel, block.forkNumber), block.blockNumber + 1);
  }

  private async prepareVisibilityMap(record: DecodedRecord): Promise<void> {
    const block = record.blocks[0];
    if (block === undefined) return;
    const sizeKey = this.vmSizeKeyOf(block);
    if (this.cache.cachedSize(sizeKey) === undefined) await this.cache.loadSize(sizeKey);
  }

  /**
   * The template's VM pages for the blocks of an XLOG_FPI record that copied them without their
   * bits (CREATE DATABASE WAL_LOG: vm-copy.ts), by block id; undefined when there are none.
   */
  private async recoverVmCopies(record: DecodedRecord): Promise<Map<number, Uint8Array> | undefined> {
    let pages: Map<number, Uint8Array> | undefined;
    for (const block of record.blocks) {
      if (!isBitlessVmCopy(record, block)) continue;
      const options = { store: this.store, cache: this.cache, readLsn: this.lastLsn, materializePage: this.materializePage };
      const page = await recoverVmCopy(options, record, block);
      if (page === undefined) {
        this.logger.info({ rel: block.rel, block: block.blockNumber, lsn: record.lsn }, 'no template page found for a visibility-map page copied without its bits; stored as PostgreSQL restores it');
        continue;
      }
      (pages ??= new Map()).set(block.blockId, page);
    }
    return pages;
  }

  /**
   * Stores each block's value and extends its fork (all sizes are cached and present here).
   * `pages` replaces the images of some blocks (by block id) with pages ingest made itself.
   */
  private putBlocks(record: DecodedRecord, pages?: Map<number, Uint8Array>): void {
    const lsn = record.endLsn;
    const blocks = record.blocks;
    for (let index = 0; index < blocks.length; index++) {
      const block = blocks[index]!;
      // An image that redo changes after restoring it is stored with its record (will-init).
      const redoneImage = block.hasImage && block.applyImage && redoChangesRestoredImage(record.rmgrId, record.info, block.blockId);
      const image = block.hasImage && block.applyImage && !redoneImage;
      const willInit = block.willInit || redoneImage;
      // XLOG's blocks are images to restore; one without (FPI_FOR_HINT written with
      // full_page_writes off) is skipped by xlog_redo: nothing to store, nothing to redo.
      if (!image && record.rmgrId === RmgrId.Xlog) continue;
      const keys = this.keysOfRel(block.rel);
      const prefix = keys.prefixes[block.forkNumber]!;
      const replacement = pages?.get(block.blockId);
      if (replacement !== undefined) {
        this.putValue(prefix, block.blockNumber, lsn, { kind: 'image', bytes: replacement });
      } else if (!image && !this.hintBitsLogged && record.rmgrId === RmgrId.Heap2 && block.blockId === 1 && isHeap2Visible(record)) {
        // heap_xlog_visible sets PD_ALL_VISIBLE but stamps no LSN here (control-file.ts).
        this.putValue(prefix, block.blockNumber, lsn, HEAP_SET_ALL_VISIBLE);
      } else if (this.putReferenced !== undefined && (!image || block.imageCompression === 'none')) {
        // By reference: the decoder never writes these bytes again (wal-decoder.ts).
        if (image) {
          const source = blockImageSource(block);
          this.putReferenced(prefix, block.blockNumber, lsn, SHAPE_IMAGE_VALUE, holeField(block.holeOffset, block.holeLength), source, blockImageSourceOffset(block), BLCKSZ - block.holeLength);
        } else {
          this.putReferenced(prefix, block.blockNumber, lsn, walRecordShape(block.blockId, willInit), 0, recordSource(record), recordSourceOffset(record), recordByteLength(record));
        }
      } else if (this.putEncoded !== undefined) {
        const writer = image ? this.imageWriter.reset(block, lsn) : this.recordWriter.reset(record, recordByteLength(record), block.blockId, willInit);
        this.putEncoded(prefix, block.blockNumber, lsn, writer);
      } else {
        const value: Value = image
          ? { kind: 'image', bytes: restoredImage(block, lsn) }
          : { kind: 'walRecord', willInit, record: record.record, blockId: block.blockId };
        this.store.put(prefix + hex8(block.blockNumber), lsn, value);
      }
      const sizeKey = keys.sizeKeys[block.forkNumber]!;
      const size = this.cache.cachedSize(sizeKey);
      assert(size !== undefined && size !== ABSENT, 'block sizes are prepared before values are put');
      if (block.blockNumber >= size) this.cache.setSize(sizeKey, block.blockNumber + 1);
    }
  }

  private applySyncBody(record: DecodedRecord): void {
    switch (record.rmgrId) {
      case RmgrId.Heap: return this.clearVisibilityForHeap(record);
      case RmgrId.Heap2: return this.clearVisibilityForHeap2(record);
      case RmgrId.Xlog: return this.applyXlog(record);
      case RmgrId.RelMap: {
        const update = decodeRelMapRecord(record);
        this.store.put(relmapFileKey(update.tablespaceOid, update.databaseOid), record.endLsn, { kind: 'image', bytes: update.data });
        return;
      }
      default: return; // Index AMs, sequence, generic: blocks only. Standby, messages, origins, commit_ts, tablespace: nothing stored.
    }
  }

  private trackCheckpoint(tracker: CheckpointTracker): void {
    this.checkpoint = tracker;
    this.nextXidLow = tracker.nextXidLow;
  }

  /** The current checkpoint as the value of CHECKPOINT_KEY at `lsn` (a record's end). */
  private putCheckpoint(lsn: Lsn, tracker: CheckpointTracker): void {
    assert(tracker.takeChanged(), 'only a changed checkpoint is written');
    this.nextXidLow = tracker.nextXidLow;
    this.store.put(CHECKPOINT_KEY, lsn, { kind: 'image', bytes: encodeCheckPoint(tracker.checkpoint) });
  }

  private applyXlog(record: DecodedRecord): void {
    const type = record.info & 0xf0;
    if (type === XLOG_CHECKPOINT_SHUTDOWN || type === XLOG_CHECKPOINT_ONLINE) {
      const checkpoint = decodeCheckPoint(record.mainData);
      if (this.checkpoint === undefined) this.trackCheckpoint(new CheckpointTracker(checkpoint));
      this.checkpoint!.observeCheckpoint(checkpoint, type === XLOG_CHECKPOINT_SHUTDOWN);
    } else if (type === XLOG_NEXTOID) {
      if (mainDataLength(record) >= 4) this.checkpoint?.observeNextOid(mainDataInt32(record, 0) >>> 0);
    } else if (type === XLOG_PARAMETER_CHANGE && this.controlFile !== undefined) {
      // Without a control file (no base backup) there is nothing to update, and no data-checksum
      // setting to combine the record's wal_log_hints with: hints stay counted as logged.
      const change = decodeXlogRecord(record);
      assert(change.type === 'parameterChange', 'a PARAMETER_CHANGE record decodes as one');
      this.controlFile = withParameterChange(this.controlFile, change);
      this.store.put(CONTROL_FILE_KEY, record.endLsn, { kind: 'image', bytes: this.controlFile });
      this.hintBitsLogged = hintBitsLogged(this.controlFile);
    }
  }

  /** Puts `value` for a block through the store's fastest way in. */
  private putValue(prefix: string, blockNumber: number, lsn: Lsn, value: Value): void {
    if (this.putEncoded !== undefined) this.putEncoded(prefix, blockNumber, lsn, this.objectWriter.reset(value));
    else this.store.put(prefix + hex8(blockNumber), lsn, value);
  }

  private clearVisibilityForHeap(record: DecodedRecord): void {
    const operation = record.info & XLOG_HEAP_OPMASK;
    const block0 = record.blocks[0];
    if (block0 === undefined) return;
    if (operation === XLOG_HEAP_INSERT) {
      if (mainDataByte(record, 2)! & XLH_INSERT_ALL_VISIBLE_CLEARED) this.putVisibilityClearOne(record, block0, block0.blockNumber, VISIBILITYMAP_VALID_BITS);
    } else if (operation === XLOG_HEAP_DELETE) {
      if (mainDataByte(record, 7)! & XLH_DELETE_ALL_VISIBLE_CLEARED) this.putVisibilityClearOne(record, block0, block0.blockNumber, VISIBILITYMAP_VALID_BITS);
    } else if (operation === XLOG_HEAP_LOCK) {
      if (mainDataByte(record, 7)! & XLH_LOCK_ALL_FROZEN_CLEARED) this.putVisibilityClearOne(record, block0, block0.blockNumber, VISIBILITYMAP_ALL_FROZEN);
    } else if (operation === XLOG_HEAP_UPDATE || operation === XLOG_HEAP_HOT_UPDATE) {
      const flags = mainDataByte(record, 7)!;
      const oldBlock = record.blocks.find((block) => block.blockId === 1) ?? block0;
      const heapBlocks: number[] = [];
      if (flags & XLH_UPDATE_NEW_ALL_VISIBLE_CLEARED) heapBlocks.push(block0.blockNumber);
      if (flags & XLH_UPDATE_OLD_ALL_VISIBLE_CLEARED && !heapBlocks.includes(oldBlock.blockNumber)) heapBlocks.push(oldBlock.blockNumber);
      if (heapBlocks.length > 0) this.putVisibilityClears(record, block0, heapBlocks, VISIBILITYMAP_VALID_BITS);
    }
  }

  private clearVisibilityForHeap2(record: DecodedRecord): void {
    const operation = record.info & XLOG_HEAP_OPMASK;
    const block0 = record.blocks[0];
    if (block0 === undefined) return;
    if (operation === XLOG_HEAP2_MULTI_INSERT && mainDataByte(record, 0)! & XLH_INSERT_ALL_VISIBLE_CLEARED) {
      this.putVisibilityClearOne(record, block0, block0.blockNumber, VISIBILITYMAP_VALID_BITS);
    } else if (operation === XLOG_HEAP2_LOCK_UPDATED && mainDataByte(record, 7)! & XLH_LOCK_ALL_FROZEN_CLEARED) {
      this.putVisibilityClearOne(record, block0, block0.blockNumber, VISIBILITYMAP_ALL_FROZEN);
    }
  }

  /** Splits heap blocks by VM page (an update's two pages may map to different VM pages). */
  private putVisibilityClears(record: DecodedRecord, block: DecodedBlock, heapBlocks: number[], flags: number): void {
    const first = Math.floor(heapBlocks[0]! / HEAPBLOCKS_PER_VM_PAGE);
    if (heapBlocks.every((heapBlock) => Math.floor(heapBlock / HEAPBLOCKS_PER_VM_PAGE) === first)) {
      this.putVisibilityClear(record, block, heapBlocks, flags);
      return;
    }
    for (const heapBlock of heapBlocks) this.putVisibilityClearOne(record, block, heapBlock, flags);
  }

  /** A ClearVisibilityMapFlags record on the VM page, if the VM fork covers it. */
  private putVisibilityClear(record: DecodedRecord, block: DecodedBlock, heapBlocks: number[], flags: number): void {
    const vmBlock = this.coveredVmBlock(block, heapBlocks[0]!);
    if (vmBlock < 0) return;
    const prefix = this.keysOfRel(block.rel).prefixes[ForkNumber.VisibilityMap]!;
    if (this.putEncoded !== undefined) this.putEncoded(prefix, vmBlock, record.endLsn, this.objectWriter.reset(visibilityClear(heapBlocks, flags)));
    else this.store.put(prefix + hex8(vmBlock), record.endLsn, visibilityClear(heapBlocks, flags));
  }

  /** putVisibilityClear of one heap block, without the block list on the fast path. */
  private putVisibilityClearOne(record: DecodedRecord, block: DecodedBlock, heapBlock: number, flags: number): void {
    const vmBlock = this.coveredVmBlock(block, heapBlock);
    if (vmBlock < 0) return;
    const prefix = this.keysOfRel(block.rel).prefixes[ForkNumber.VisibilityMap]!;
    if (this.putEncoded !== undefined) this.putEncoded(prefix, vmBlock, record.endLsn, this.visibilityClearWriter.reset(heapBlock, flags));
    else this.store.put(prefix + hex8(vmBlock), record.endLsn, visibilityClear([heapBlock], flags));
  }

  /** The VM page of a heap block, or -1 when the VM fork does not cover it. */
  private coveredVmBlock(block: DecodedBlock, heapBlock: number): number {
    const vmSize = this.cache.cachedSize(this.vmSizeKeyOf(block));
    assert(vmSize !== undefined, 'the VM size is loaded before heap records are applied');
    const vmBlock = Math.floor(heapBlock / HEAPBLOCKS_PER_VM_PAGE);
    return vmSize === ABSENT || vmBlock >= vmSize ? -1 : vmBlock;
  }


  private async applyAsyncBody(record: DecodedRecord): Promise<void> {
    switch (record.rmgrId) {
      case RmgrId.Transaction: return this.applyXact(record, decodeXactRecord(record));
      case RmgrId.Storage: return this.applySmgr(record);
      case RmgrId.Database: return this.applyDbase(record);
      case RmgrId.Clog: return this.applyClog(record);
      case RmgrId.MultiXact: return this.applyMultiXact(record);
      default:
        this.logger.debug({ rmgr: record.rmgrId, info: record.info }, 'record of an unknown rmgr: blocks stored only');
    }
  }

  private async applyXact(record: DecodedRecord, body: XactRecord): Promise<void> {
    const lsn = record.endLsn;
    switch (body.type) {
      case 'commit':
      case 'abort':
        return this.finishTransaction(lsn, record.xid, body, body.type === 'commit');
      case 'commitPrepared':
      case 'abortPrepared': {
        await this.finishTransaction(lsn, body.twoPhaseXid, body, body.type === 'commitPrepared');
        const xids = await this.cache.twoPhaseXids();
        if (xids.delete(body.twoPhaseXid)) this.cache.touchTwoPhaseDir();
        return;
      }
      case 'prepare': {
        const xid = body.prepare.header.xid;
        this.checkpoint?.observeXid(xid);
        this.checkpoint?.observeXids(body.prepare.subxacts);
        this.store.put(twoPhaseFileKey(xid), lsn, { kind: 'image', bytes: body.prepare.stateData });
        const xids = await this.cache.twoPhaseXids();
        xids.add(xid);
        this.cache.touchTwoPhaseDir();
        return;
      }
      case 'assignment':
        this.checkpoint?.observeXid(body.topXid);
        this.checkpoint?.observeXids(body.subxacts);
        return;
      case 'invalidations':
        return;
    }
  }

  private async finishTransaction(lsn: Lsn, xid: number, body: ParsedXactFinish, committed: boolean): Promise<void> {
    this.putTransactionStatus(lsn, xid, body, committed);
    for (const rel of body.droppedRels) await dropRelation(this.cache, rel);
  }

  /**
   * Most commits and aborts carry no subtransactions and drop no relations: their only stored
   * effect is the top xid's CLOG bit. Handled from the main data's first bytes (xact_time, then
   * xinfo when XLOG_XACT_HAS_INFO), without decoding the whole body. False: take the full path.
   */
  private tryPlainTransactionEnd(record: DecodedRecord): boolean {
    const operation = record.info & XLOG_XACT_OPMASK;
    if (operation !== XLOG_XACT_COMMIT && operation !== XLOG_XACT_ABORT) return false;
    const length = mainDataLength(record);
    if (length < 8) return false; // The full decoder reports the truncation.
    if ((record.info & XLOG_XACT_HAS_INFO) !== 0) {
      if (length < 12) return false;
      const xinfo = mainDataInt32(record, 8);
      if ((xinfo & (XACT_XINFO_HAS_SUBXACTS | XACT_XINFO_HAS_RELFILENODES | XACT_XINFO_HAS_TWOPHASE)) !== 0) return false;
    }
    if (record.xid !== 0) {
      // xact_time is an int64: one rounding, exactly as Number(BigInt) of the full decoder.
      const low = mainDataInt32(record, 0) >>> 0;
      const high = mainDataInt32(record, 4);
      const timestamp = high * 0x1_0000_0000 + low;
      putSingleClogStatus(this.store, record.endLsn, record.xid, operation === XLOG_XACT_COMMIT, timestamp);
      if (operation === XLOG_XACT_COMMIT) this.noteCommit(record.endLsn, timestamp);
    }
    this.finish(record);
    return true;
  }

  /** The CLOG bits of a commit or abort: the xid (when assigned) and its subtransactions. */
  private putTransactionStatus(lsn: Lsn, xid: number, body: ParsedXactFinish, committed: boolean): void {
    const xids = xid === 0 ? body.subxacts : body.subxacts.length === 0 ? [xid] : [xid, ...body.subxacts];
    this.checkpoint?.observeXids(xids);
    if (xids.length > 0) putClogStatus(this.store, lsn, xids, committed, Number(body.xactTime));
    if (committed) this.noteCommit(lsn, Number(body.xactTime));
  }

  /** The newest commit ingested: its end LSN and commit time (TimestampTz), for the timeline's index. */
  get lastCommit(): { lsn: Lsn; timestamp: number } | undefined {
    return this.lastCommitLsn === 0 ? undefined : { lsn: this.lastCommitLsn, timestamp: this.lastCommitTimestamp };
  }

  /** Told of every commit (end LSN, TimestampTz), in LSN order: the timeline's commit-time index. */
  onCommit: ((lsn: Lsn, timestamp: number) => void) | undefined;

  private noteCommit(lsn: Lsn, timestamp: number): void {
    this.lastCommitLsn = lsn;
    this.lastCommitTimestamp = timestamp;
    this.onCommit?.(lsn, timestamp);
  }

  private async applySmgr(record: DecodedRecord): Promise<void> {
    const body = decodeSmgrRecord(record);
    if (body.type === 'create') {
      const tag = forkTag(body.rel, body.forkNumber);
      if ((await this.cache.size(tag)) === ABSENT) await createFork(this.cache, tag, 0);
      return;
    }
    await truncateRelation(this.cache, body.rel, body.blockNumber, body.flags);
    // The VM page that keeps the last heap blocks loses the bits of the truncated ones (redo does
    // this to a page the record does not reference: a Strata record on that page).
    const keptOnVmPage = body.blockNumber % HEAPBLOCKS_PER_VM_PAGE;
    if ((body.flags & SMGR_TRUNCATE_VM) !== 0 && keptOnVmPage !== 0) {
      const vmPage = Math.floor(body.blockNumber / HEAPBLOCKS_PER_VM_PAGE);
      const vmSize = await this.cache.size(forkTag(body.rel, ForkNumber.VisibilityMap));
      if (vmSize !== ABSENT && vmPage < vmSize) {
        this.store.put(this.keysOfRel(body.rel).prefixes[ForkNumber.VisibilityMap]! + hex8(vmPage), record.endLsn,
          { kind: 'strataRecord', willInit: false, record: { kind: 'TruncateVisibilityMap', heapBlocks: body.blockNumber } });
      }
    }
  }

  private async applyDbase(record: DecodedRecord): Promise<void> {
    const body = decodeDbaseRecord(record);
    switch (body.type) {
      case 'createWalLog':
        await this.cache.addDatabase(body.tablespaceOid, body.databaseOid);
        return;
      case 'createFileCopy': {
        const options = { store: this.store, cache: this.cache, readLsn: this.lastLsn, writeLsn: record.endLsn, materializePage: this.materializePage };
        const pages = await copyDatabase(options, { spcNode: body.sourceTablespaceOid, dbNode: body.sourceDatabaseOid }, { spcNode: body.tablespaceOid, dbNode: body.databaseOid });
        this.logger.info({ database: body.databaseOid, source: body.sourceDatabaseOid, pages }, 'copied database (CREATE DATABASE FILE_COPY)');
        return;
      }
      case 'drop':
        for (const tablespaceOid of body.tablespaceOids) await dropDatabase(this.cache, tablespaceOid, body.databaseOid);
        return;
    }
  }

  private async applyClog(record: DecodedRecord): Promise<void> {
    const body = decodeClogRecord(record);
    if (body.type === 'zeroPage') await putZeroPage(this.store, this.cache, record.endLsn, SlruKind.Clog, body.pageNumber);
    else await truncateClog(this.cache, body.pageNumber);
  }

  private async applyMultiXact(record: DecodedRecord): Promise<void> {
    const body = decodeMultiXactRecord(record);
    switch (body.type) {
      case 'zeroOffsetsPage': return putZeroPage(this.store, this.cache, record.endLsn, SlruKind.MultiXactOffsets, body.pageNumber);
      case 'zeroMembersPage': return putZeroPage(this.store, this.cache, record.endLsn, SlruKind.MultiXactMembers, body.pageNumber);
      case 'create':
        if (this.checkpoint !== undefined) {
          this.checkpoint.observeMultiXact(body.multiXactId, body.offset, body.members.length);
          for (const member of body.members) this.checkpoint.observeXid(member.xid);
        }
        return putMultiXactCreate(this.store, record.endLsn, body.multiXactId, body.offset, body.members);
      case 'truncate':
        this.checkpoint?.observeMultiXactTruncate(body.endTruncateOffset, body.oldestMultiDb);
        await truncateMultiXact(this.cache, body);
        return;
    }
  }
}
