/**
 * The keyspace of a timeline at an LSN: every key that can have a value there, read from the
 * metadata ingest keeps (database and relation directories, fork sizes, SLRU directories and
 * segment sizes, the two-phase directory), and its partitioning for image layers.
 *
 * WHY from metadata and not from the layers: image layers are authoritative for their key range
 * (layer-map.ts), so what they leave out stops existing. Dropped relations, truncated blocks,
 * removed SLRU segments and finished two-phase transactions still have versions in older layers;
 * walking the metadata leaves exactly those out, and GC then reclaims their space.
 *
 * Ranges are sorted, non-overlapping, and merged where they touch; a relation fork contributes its
 * blocks [0, size) as one range plus its size key.
 */
import { assert } from '../assert.js';
import {
  CHECKPOINT_KEY, CONTROL_FILE_KEY, DB_DIR_KEY, relBlockKey, relDirKey, relmapFileKey, relSizeKey, SlruKind, slruBlockKey,
  slruDirKey, slruSegmentSizeKey, TWO_PHASE_DIR_KEY, twoPhaseFileKey, type Key,
} from '../keys.js';
import type { Lsn } from '../lsn.js';
import { keySuccessor, KEY_SPACE_END, KEY_SPACE_START } from '../storage/layer-name.js';
import type { TimelineStore } from '../storage/types.js';
import { GLOBAL_TABLESPACE_OID } from './import-basebackup.js';
import { getRelSize, getSlruSegmentSize, listDatabases, listRelations, listSlruSegments, listTwoPhaseXids } from './metadata-readers.js';

/** Keys [start, end), `keys` of them (block ranges are dense). */
export interface KeyRange {
  start: Key;
  end: Key;
  keys: number;
}

/** One image layer's worth of the keyspace: its bounds tile the key space with its neighbours'. */
export interface KeyPartition {
  start: Key;
  end: Key;
  ranges: KeyRange[];
  keys: number;
}

/** Every key with a possible value at `lsn`, as sorted merged ranges. */
export async function collectKeyspace(store: TimelineStore, lsn: Lsn): Promise<KeyRange[]> {
  const ranges: KeyRange[] = [];
  const single = (key: Key) => ranges.push({ start: key, end: keySuccessor(key), keys: 1 });
  single(DB_DIR_KEY);
  const databases = await listDatabases(store, lsn);
  const withGlobal = databases.some((db) => db.spcNode === GLOBAL_TABLESPACE_OID && db.dbNode === 0)
    ? databases : [{ spcNode: GLOBAL_TABLESPACE_OID, dbNode: 0 }, ...databases];
  for (const { spcNode, dbNode } of withGlobal) {
    single(relmapFileKey(spcNode, dbNode));
    single(relDirKey(spcNode, dbNode));
    for (const rel of await listRelations(store, spcNode, dbNode, lsn)) {
      const size = await getRelSize(store, rel, lsn);
      if (size === undefined) continue;
      if (size > 0) ranges.push({ start: relBlockKey(rel, 0), end: keySuccessor(relBlockKey(rel, size - 1)), keys: size });
      single(relSizeKey(rel));
    }
  }
  for (const kind of [SlruKind.Clog, SlruKind.MultiXactMembers, SlruKind.MultiXactOffsets]) {
    single(slruDirKey(kind));
    for (const segment of await listSlruSegments(store, kind, lsn)) {
      const pages = await getSlruSegmentSize(store, kind, segment, lsn);
      if (pages === undefined) continue;
      if (pages > 0) ranges.push({ start: slruBlockKey(kind, segment, 0), end: keySuccessor(slruBlockKey(kind, segment, pages - 1)), keys: pages });
      single(slruSegmentSizeKey(kind, segment));
    }
  }
  single(TWO_PHASE_DIR_KEY);
  for (const xid of await listTwoPhaseXids(store, lsn)) single(twoPhaseFileKey(xid));
  single(CONTROL_FILE_KEY);
  single(CHECKPOINT_KEY);
  return mergeRanges(ranges);
}

/**
 * Sorts and merges ranges that touch inside one 28-digit prefix (so a merged range stays dense in
 * its last field, which keysOf and partitionKeyspace rely on). Ranges never overlap.
 */
export function mergeRanges(ranges: readonly KeyRange[]): KeyRange[] {
  const sorted = [...ranges].sort((left, right) => (left.start < right.start ? -1 : left.start > right.start ? 1 : 0));
  const merged: KeyRange[] = [];
  for (const range of sorted) {
    assert(range.start < range.end, 'a key range is not empty');
    const last = merged[merged.length - 1];
    assert(last === undefined || range.start >= last.end, 'keyspace ranges do not overlap');
    if (last !== undefined && range.start === last.end && range.start.slice(0, 28) === last.start.slice(0, 28)) {
      last.end = range.end;
      last.keys += range.keys;
      continue;
    }
    merged.push({ ...range });
  }
  return merged;
}

/**
 * Cuts the keyspace into partitions of about `targetKeys` keys each. Partition bounds tile the
 * whole key space (the first starts at KEY_SPACE_START, the last ends at KEY_SPACE_END, each
 * starts where the previous ended), so images of every partition cover every key. A range larger
 * than a partition is split inside (its keys are dense in their last field).
 */
export function partitionKeyspace(ranges: readonly KeyRange[], targetKeys: number): KeyPartition[] {
  assert(targetKeys >= 1, 'a partition holds at least one key');
  const partitions: KeyPartition[] = [];
  let current: KeyPartition = { start: KEY_SPACE_START, end: KEY_SPACE_END, ranges: [], keys: 0 };
  for (const range of ranges) {
    let { start } = range;
    let remaining = range.keys;
    while (remaining > 0) {
      if (current.keys >= targetKeys) {
        current.end = start;
        partitions.push(current);
        current = { start, end: KEY_SPACE_END, ranges: [], keys: 0 };
      }
      const take = Math.min(remaining, targetKeys - current.keys);
      const end = take === remaining ? range.end : advanceKey(start, take);
      current.ranges.push({ start, end, keys: take });
      current.keys += take;
      remaining -= take;
      start = end;
    }
  }
  partitions.push(current);
  return partitions;
}

/** The key `count` positions after `key` in its last field (block numbers of a dense range). */
function advanceKey(key: Key, count: number): Key {
  const low = parseInt(key.slice(28), 16) + count;
  assert(low <= 0xffffffff, 'a dense range stays inside its last field');
  return key.slice(0, 28) + low.toString(16).padStart(8, '0');
}

/** Every key of the ranges, in order (dense ranges enumerated by their last field). */
export function* keysOf(ranges: readonly KeyRange[]): Generator<Key> {
  for (const range of ranges) {
    if (range.keys === 1) {
      yield range.start;
      continue;
    }
    const prefix = range.start.slice(0, 28);
    const first = parseInt(range.start.slice(28), 16);
    for (let index = 0; index < range.keys; index++) yield prefix + (first + index).toString(16).padStart(8, '0');
  }
}
