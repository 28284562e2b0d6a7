/**
 * Write-back cache of the metadata ingest maintains: relation sizes, relation directories, the
 * database directory, SLRU directories and segment sizes, and the two-phase directory.
 *
 * WHY: every block reference may extend a relation, and every create/drop rewrites a directory.
 * Reading those values from the store per record would put an await (and a layer search) on the
 * hot path; instead the cache answers synchronously on a hit, loads on a miss, and collects the
 * values a record changed so `flush(lsn)` writes each changed key once, at the record's end LSN.
 *
 *   ingest(record) ──► getters and setters (sync on hit, load on miss) ──► flush(record.endLsn) ──► store.put
 *
 * Between records nothing is dirty, so when the cache grows past its bound it can simply be cleared
 * and refilled from the store. Ingest is the only writer of these keys, so the cache never goes stale.
 */
import { assert } from '../assert.js';
import {
  DB_DIR_KEY, TWO_PHASE_DIR_KEY, relDirKey, relSizeKey, slruDirKey, slruSegmentSizeKey, type Key, type RelTag, type SlruKind,
} from '../keys.js';
import type { Lsn } from '../lsn.js';
import type { TimelineStore } from '../storage/types.js';
import {
  DROPPED_RELATION, dbDirEntry, decodeDbDir, decodeRelDir, decodeRelSize, decodeU32Set, encodeDbDir, encodeRelDir,
  encodeRelSize, encodeU32Set, type DbDirectory, type RelDirectory,
} from './metadata-codec.js';

/** A relation fork that does not exist (never created, or dropped). */
export const ABSENT = -1;

/** Entries (sizes + directories) held before the cache is cleared between records. */
export const METADATA_CACHE_ENTRIES_MAX = 1_000_000;

export async function readImage(store: TimelineStore, key: Key, lsn: Lsn): Promise<Uint8Array | undefined> {
  const data = await store.getReconstructData(key, lsn);
  if (data === undefined) return undefined;
  assert(data.records.length === 0, `metadata key ${key} must hold images only`);
  return data.image?.bytes;
}

export class MetadataCache {
  private readonly store: TimelineStore;
  /** Size key → blocks, or ABSENT. */
  private readonly sizes = new Map<Key, number>();
  private readonly relDirs = new Map<Key, RelDirectory>();
  private dbDir: DbDirectory | undefined;
  private readonly slruDirs = new Map<SlruKind, Set<number>>();
  private twoPhaseDir: Set<number> | undefined;
  private readonly dirtySizes = new Set<Key>();
  private readonly dirtyRelDirs = new Set<Key>();
  private readonly dirtySlruDirs = new Set<SlruKind>();
  private dbDirDirty = false;
  private twoPhaseDirDirty = false;
  /**
   * The last cachedSize lookup (WHY: ingest asks for the same fork's size several times per
   * record; a string compare is cheaper than a Map lookup). Kept equal to `sizes` by storeSize.
   */
  private lastSizeKey: Key | undefined = undefined;
  private lastSize: number | undefined = undefined;
  /** LSN at which misses are read: everything ingested so far. */
  private readLsn: Lsn;

  constructor(store: TimelineStore, readLsn: Lsn) {
    this.store = store;
    this.readLsn = readLsn;
  }

  // Relation sizes. `sizeKey` is relSizeKey(rel) (ingest builds it once per block reference).

  cachedSize(sizeKey: Key): number | undefined {
    if (sizeKey === this.lastSizeKey) return this.lastSize;
    const blocks = this.sizes.get(sizeKey);
    this.lastSizeKey = sizeKey;
    this.lastSize = blocks;
    return blocks;
  }

  /** Sets a size in the map and in the last-lookup memo. */
  private storeSize(sizeKey: Key, blocks: number): void {
    this.sizes.set(sizeKey, blocks);
    if (sizeKey === this.lastSizeKey) this.lastSize = blocks;
  }

  async loadSize(sizeKey: Key): Promise<number> {
    const bytes = await readImage(this.store, sizeKey, this.readLsn);
    const blocks = bytes === undefined ? ABSENT : decodeRelSize(bytes) ?? ABSENT;
    this.storeSize(sizeKey, blocks);
    return blocks;
  }

  async size(rel: RelTag): Promise<number> {
    const key = relSizeKey(rel);
    return this.sizes.get(key) ?? this.loadSize(key);
  }

  setSize(sizeKey: Key, blocks: number): void {
    assert(blocks >= 0 || blocks === ABSENT, 'a size is a block count or ABSENT');
    this.storeSize(sizeKey, blocks);
    this.dirtySizes.add(sizeKey);
  }

  // Relation directories (one per tablespace/database pair).

  async relDir(spcNode: number, dbNode: number): Promise<RelDirectory> {
    const key = relDirKey(spcNode, dbNode);
    const cached = this.relDirs.get(key);
    if (cached !== undefined) return cached;
    const bytes = await readImage(this.store, key, this.readLsn);
    const directory = bytes === undefined ? new Map<number, number>() : decodeRelDir(bytes);
    this.relDirs.set(key, directory);
    return directory;
  }

  /** Marks a relation directory changed (the caller mutated the map from relDir()). */
  touchRelDir(spcNode: number, dbNode: number): void {
    this.dirtyRelDirs.add(relDirKey(spcNode, dbNode));
  }

  async databases(): Promise<DbDirectory> {
    if (this.dbDir !== undefined) return this.dbDir;
    const bytes = await readImage(this.store, DB_DIR_KEY, this.readLsn);
    this.dbDir = bytes === undefined ? new Set() : decodeDbDir(bytes);
    return this.dbDir;
  }

  async addDatabase(spcNode: number, dbNode: number): Promise<void> {
    const databases = await this.databases();
    const entry = dbDirEntry(spcNode, dbNode);
    if (databases.has(entry)) return;
    databases.add(entry);
    this.dbDirDirty = true;
    // A new database starts with an empty relation directory.
    await this.relDir(spcNode, dbNode);
    this.touchRelDir(spcNode, dbNode);
  }

  async removeDatabase(spcNode: number, dbNode: number): Promise<boolean> {
    const databases = await this.databases();
    const removed = databases.delete(dbDirEntry(spcNode, dbNode));
    if (removed) this.dbDirDirty = true;
    return removed;
  }

  // SLRU directories and segment sizes.

  async slruDir(kind: SlruKind): Promise<Set<number>> {
    const cached = this.slruDirs.get(kind);
    if (cached !== undefined) return cached;
    const bytes = await readImage(this.store, slruDirKey(kind), this.readLsn);
    const segments = bytes === undefined ? new Set<number>() : decodeU32Set(bytes);
    this.slruDirs.set(kind, segments);
    return segments;
  }

  touchSlruDir(kind: SlruKind): void {
    this.dirtySlruDirs.add(kind);
  }

  async slruSegmentSize(kind: SlruKind, segment: number): Promise<number> {
    const key = slruSegmentSizeKey(kind, segment);
    return this.sizes.get(key) ?? this.loadSize(key);
  }

  setSlruSegmentSize(kind: SlruKind, segment: number, blocks: number): void {
    this.setSize(slruSegmentSizeKey(kind, segment), blocks);
  }

  // Two-phase directory.

  async twoPhaseXids(): Promise<Set<number>> {
    if (this.twoPhaseDir !== undefined) return this.twoPhaseDir;
    const bytes = await readImage(this.store, TWO_PHASE_DIR_KEY, this.readLsn);
    this.twoPhaseDir = bytes === undefined ? new Set() : decodeU32Set(bytes);
    return this.twoPhaseDir;
  }

  touchTwoPhaseDir(): void {
    this.twoPhaseDirDirty = true;
  }

  get hasDirty(): boolean {
    return this.dirtySizes.size > 0 || this.dirtyRelDirs.size > 0 || this.dirtySlruDirs.size > 0 || this.dbDirDirty || this.twoPhaseDirDirty;
  }

  /** Writes every changed value at `lsn` (each key once), then allows reads up to `lsn`. */
  flush(lsn: Lsn): void {
    assert(lsn >= this.readLsn, 'metadata flush LSN must not go backwards');
    if (this.hasDirty) this.writeDirty(lsn);
    this.readLsn = lsn;
    if (this.sizes.size + this.relDirs.size > METADATA_CACHE_ENTRIES_MAX) this.clear();
  }

  private writeDirty(lsn: Lsn): void {
    for (const key of this.dirtySizes) {
      const blocks = this.sizes.get(key)!;
      this.store.put(key, lsn, { kind: 'image', bytes: blocks === ABSENT ? DROPPED_RELATION : encodeRelSize(blocks) });
    }
    for (const key of this.dirtyRelDirs) this.store.put(key, lsn, { kind: 'image', bytes: encodeRelDir(this.relDirs.get(key)!) });
    for (const kind of this.dirtySlruDirs) this.store.put(slruDirKey(kind), lsn, { kind: 'image', bytes: encodeU32Set(this.slruDirs.get(kind)!) });
    if (this.dbDirDirty) this.store.put(DB_DIR_KEY, lsn, { kind: 'image', bytes: encodeDbDir(this.dbDir!) });
    if (this.twoPhaseDirDirty) this.store.put(TWO_PHASE_DIR_KEY, lsn, { kind: 'image', bytes: encodeU32Set(this.twoPhaseDir!) });
    this.dirtySizes.clear();
    this.dirtyRelDirs.clear();
    this.dirtySlruDirs.clear();
    this.dbDirDirty = false;
    this.twoPhaseDirDirty = false;
  }

  /** Drops every cached entry (only between records: nothing may be dirty). */
  clear(): void {
    assert(!this.hasDirty, 'cannot clear the metadata cache with unwritten changes');
    this.sizes.clear();
    this.lastSizeKey = undefined;
    this.lastSize = undefined;
    this.relDirs.clear();
    this.slruDirs.clear();
    this.dbDir = undefined;
    this.twoPhaseDir = undefined;
  }
}
