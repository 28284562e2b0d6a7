/**
 * Relation-level changes ingest applies besides page values: create a fork, truncate forks the way
 * PostgreSQL 15's smgr_redo does (FSM and VM shrink to the page covering the new heap size), drop
 * relations (commit/abort records), and copy or drop whole databases (dbase records).
 *
 * A dropped relation keeps its block values; its size key gets a tombstone at the drop LSN and its
 * directory entry is removed, so relsize at or after the drop says "absent" while reads at earlier
 * LSNs still see the old size and pages.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { relBlockKey, relSizeKey, relmapFileKey, type Key, type RelTag } from '../keys.js';
import type { Lsn } from '../lsn.js';
import type { TimelineStore } from '../storage/types.js';
import { BLCKSZ, ForkNumber, type RelFileNode } from '../wal/types.js';
import { SMGR_TRUNCATE_FSM, SMGR_TRUNCATE_HEAP, SMGR_TRUNCATE_VM } from '../wal/records/smgr.js';
import { ABSENT, type MetadataCache } from './metadata-cache.js';

/** Heap blocks covered by one visibility-map page: (BLCKSZ - MAXALIGN(page header)) * 4. */
export const HEAPBLOCKS_PER_VM_PAGE = (BLCKSZ - 24) * 4;
/** FSM geometry (freespace.c / fsm_internals.h) for 8 KiB pages. */
const FSM_NODES_PER_PAGE = BLCKSZ - 24 - 4;
const FSM_NON_LEAF_NODES_PER_PAGE = BLCKSZ / 2 - 1;
export const FSM_SLOTS_PER_PAGE = FSM_NODES_PER_PAGE - FSM_NON_LEAF_NODES_PER_PAGE;
const FSM_TREE_DEPTH = 3;
const FORK_COUNT = 4;
const ZERO_PAGE = new Uint8Array(BLCKSZ);

/** Reconstructs a page at an LSN (redo); needed when a copied page has WAL records on top. */
export type PageMaterializer = (key: Key, lsn: Lsn) => Promise<Uint8Array>;

export function forkTag(rel: RelFileNode, forkNumber: number): RelTag {
  return { spcNode: rel.spcNode, dbNode: rel.dbNode, relNode: rel.relNode, forkNumber };
}

/** Creates a fork (directory entry, database entry, size) if it does not exist. */
export async function createFork(cache: MetadataCache, rel: RelTag, blocks: number): Promise<void> {
  assert(rel.relNode !== 0, 'relNode 0 is not a relation');
  await cache.addDatabase(rel.spcNode, rel.dbNode);
  const directory = await cache.relDir(rel.spcNode, rel.dbNode);
  const mask = directory.get(rel.relNode) ?? 0;
  const bit = 1 << rel.forkNumber;
  if ((mask & bit) === 0) {
    directory.set(rel.relNode, mask | bit);
    cache.touchRelDir(rel.spcNode, rel.dbNode);
  }
  const sizeKey = relSizeKey(rel);
  const size = await cache.size(rel);
  if (size === ABSENT) cache.setSize(sizeKey, blocks);
  else if (size < blocks) cache.setSize(sizeKey, blocks);
}

/** fsm_logical_to_physical for a bottom-level (leaf) FSM page. */
function fsmLeafToPhysical(logicalPage: number): number {
  let leaf = logicalPage;
  let pages = 0;
  for (let level = 0; level < FSM_TREE_DEPTH; level++) {
    pages += leaf + 1;
    leaf = Math.floor(leaf / FSM_SLOTS_PER_PAGE);
  }
  return pages - 1;
}

/** FreeSpaceMapPrepareTruncateRel: the new FSM size, or undefined when nothing is truncated. */
export function fsmBlocksAfterTruncate(heapBlocks: number, fsmBlocks: number): number | undefined {
  const logicalPage = Math.floor(heapBlocks / FSM_SLOTS_PER_PAGE);
  const slot = heapBlocks % FSM_SLOTS_PER_PAGE;
  const physical = fsmLeafToPhysical(logicalPage);
  if (slot > 0) return physical < fsmBlocks ? physical + 1 : undefined;
  return fsmBlocks <= physical ? undefined : physical;
}

/** visibilitymap_prepare_truncate: the new VM size, or undefined when nothing is truncated. */
export function vmBlocksAfterTruncate(heapBlocks: number, vmBlocks: number): number | undefined {
  const mapBlock = Math.floor(heapBlocks / HEAPBLOCKS_PER_VM_PAGE);
  const partial = heapBlocks % HEAPBLOCKS_PER_VM_PAGE !== 0;
  if (partial && mapBlock >= vmBlocks) return undefined;
  const newBlocks = partial ? mapBlock + 1 : mapBlock;
  return vmBlocks <= newBlocks ? undefined : newBlocks;
}

/** XLOG_SMGR_TRUNCATE as smgr_redo applies it. */
export async function truncateRelation(cache: MetadataCache, rel: RelFileNode, heapBlocks: number, flags: number): Promise<void> {
  const main = forkTag(rel, ForkNumber.Main);
  // smgr_redo creates the main fork if it is missing before truncating.
  if ((await cache.size(main)) === ABSENT) await createFork(cache, main, 0);
  if (flags & SMGR_TRUNCATE_HEAP) {
    const size = await cache.size(main);
    if (heapBlocks < size) cache.setSize(relSizeKey(main), heapBlocks);
  }
  if (flags & SMGR_TRUNCATE_FSM) {
    const fsm = forkTag(rel, ForkNumber.Fsm);
    const size = await cache.size(fsm);
    const newSize = size === ABSENT ? undefined : fsmBlocksAfterTruncate(heapBlocks, size);
    if (newSize !== undefined) cache.setSize(relSizeKey(fsm), newSize);
  }
  if (flags & SMGR_TRUNCATE_VM) {
    const vm = forkTag(rel, ForkNumber.VisibilityMap);
    const size = await cache.size(vm);
    const newSize = size === ABSENT ? undefined : vmBlocksAfterTruncate(heapBlocks, size);
    if (newSize !== undefined) cache.setSize(relSizeKey(vm), newSize);
  }
}

/** Drops every fork of a relation (commit/abort with xl_xact_relfilenodes). */
export async function dropRelation(cache: MetadataCache, rel: RelFileNode): Promise<number> {
  let dropped = 0;
  for (let fork = 0; fork < FORK_COUNT; fork++) {
    const tag = forkTag(rel, fork);
    if ((await cache.size(tag)) === ABSENT) continue;
    cache.setSize(relSizeKey(tag), ABSENT);
    dropped += 1;
  }
  const directory = await cache.relDir(rel.spcNode, rel.dbNode);
  if (directory.delete(rel.relNode)) cache.touchRelDir(rel.spcNode, rel.dbNode);
  return dropped;
}

/** Drops all relations of a database in one tablespace and removes it from the database directory. */
export async function dropDatabase(cache: MetadataCache, spcNode: number, dbNode: number): Promise<number> {
  const directory = await cache.relDir(spcNode, dbNode);
  let dropped = 0;
  for (const [relNode, mask] of directory) {
    for (let fork = 0; fork < FORK_COUNT; fork++) {
      if ((mask & (1 << fork)) === 0) continue;
      const tag = { spcNode, dbNode, relNode, forkNumber: fork };
      if ((await cache.size(tag)) !== ABSENT) cache.setSize(relSizeKey(tag), ABSENT);
      dropped += 1;
    }
  }
  if (directory.size > 0) {
    directory.clear();
    cache.touchRelDir(spcNode, dbNode);
  }
  await cache.removeDatabase(spcNode, dbNode);
  return dropped;
}

export interface CopyDatabaseOptions {
  store: TimelineStore;
  cache: MetadataCache;
  /** LSN the source is read at (everything before this record). */
  readLsn: Lsn;
  /** LSN the copies are written at (this record's end). */
  writeLsn: Lsn;
  materializePage: PageMaterializer | undefined;
}

/** XLOG_DBASE_CREATE_FILE_COPY: copies one tablespace directory of the source database. */
export async function copyDatabase(options: CopyDatabaseOptions, source: { spcNode: number; dbNode: number }, target: { spcNode: number; dbNode: number }): Promise<number> {
  const { store, cache } = options;
  await dropDatabase(cache, target.spcNode, target.dbNode);
  await cache.addDatabase(target.spcNode, target.dbNode);
  const sourceDirectory = new Map(await cache.relDir(source.spcNode, source.dbNode));
  let pages = 0;
  for (const [relNode, mask] of sourceDirectory) {
    for (let fork = 0; fork < FORK_COUNT; fork++) {
      if ((mask & (1 << fork)) === 0) continue;
      const from: RelTag = { ...source, relNode, forkNumber: fork };
      const to: RelTag = { ...target, relNode, forkNumber: fork };
      const size = await cache.size(from);
      if (size === ABSENT) continue;
      for (let block = 0; block < size; block++) {
        const bytes = await materializeAt(store, relBlockKey(from, block), options.readLsn, options.materializePage);
        store.put(relBlockKey(to, block), options.writeLsn, { kind: 'image', bytes });
        pages += 1;
      }
      await createFork(cache, to, size);
    }
  }
  const relmap = await store.getReconstructData(relmapFileKey(source.spcNode, source.dbNode), options.readLsn);
  if (relmap?.image !== undefined) store.put(relmapFileKey(target.spcNode, target.dbNode), options.writeLsn, { kind: 'image', bytes: relmap.image.bytes });
  return pages;
}

/** The page of `key` at `lsn`: its image, or redo through `materializePage` when records follow it. */
export async function materializeAt(store: TimelineStore, key: Key, lsn: Lsn, materializePage: PageMaterializer | undefined): Promise<Uint8Array> {
  const data = await store.getReconstructData(key, lsn);
  if (data === undefined) return ZERO_PAGE;
  if (data.records.length === 0 && data.image !== undefined) return data.image.bytes;
  if (materializePage !== undefined) return materializePage(key, lsn);
  throw new StrataError('PS_ERR_REDO_UNSUPPORTED', `CREATE DATABASE copy needs redo of ${key}, and no page materializer was given`, { key });
}
