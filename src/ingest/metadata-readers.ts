/**
 * Read helpers over the metadata ingest and import write, used by the API and the page service:
 * relation sizes, relation existence, databases, relations of a database, SLRU segments and
 * two-phase transactions, each at an LSN.
 *
 * WHY separate from the write-back cache: readers ask at arbitrary (historical) LSNs through the
 * store, never through ingest's cache of the newest state. A dropped relation answers undefined at
 * and after its drop LSN and its old size before it (see relation-ops.ts).
 */
import { DB_DIR_KEY, TWO_PHASE_DIR_KEY, relDirKey, relSizeKey, slruDirKey, slruSegmentSizeKey, type RelTag, type SlruKind } from '../keys.js';
import type { Lsn } from '../lsn.js';
import type { TimelineStore } from '../storage/types.js';
import { readImage } from './metadata-cache.js';
import { decodeDbDir, decodeRelDir, decodeRelSize, decodeU32Set, parseDbDirEntry } from './metadata-codec.js';

/** Size in blocks of a relation fork at `lsn`; undefined when the fork does not exist then. */
export async function getRelSize(store: TimelineStore, rel: RelTag, lsn: Lsn): Promise<number | undefined> {
  const bytes = await readImage(store, relSizeKey(rel), lsn);
  return bytes === undefined ? undefined : decodeRelSize(bytes);
}

export async function relationExists(store: TimelineStore, rel: RelTag, lsn: Lsn): Promise<boolean> {
  return (await getRelSize(store, rel, lsn)) !== undefined;
}

/** Every (tablespace, database) pair with a relation directory at `lsn`, sorted. */
export async function listDatabases(store: TimelineStore, lsn: Lsn): Promise<{ spcNode: number; dbNode: number }[]> {
  const bytes = await readImage(store, DB_DIR_KEY, lsn);
  if (bytes === undefined) return [];
  return [...decodeDbDir(bytes)].map(parseDbDirEntry).sort((a, b) => a.spcNode - b.spcNode || a.dbNode - b.dbNode);
}

/** Every existing fork of every relation of a database in a tablespace at `lsn`. */
export async function listRelations(store: TimelineStore, spcNode: number, dbNode: number, lsn: Lsn): Promise<RelTag[]> {
  const bytes = await readImage(store, relDirKey(spcNode, dbNode), lsn);
  if (bytes === undefined) return [];
  const relations: RelTag[] = [];
  for (const [relNode, mask] of decodeRelDir(bytes)) {
    for (let forkNumber = 0; forkNumber < 4; forkNumber++) if (mask & (1 << forkNumber)) relations.push({ spcNode, dbNode, relNode, forkNumber });
  }
  return relations;
}

export async function listSlruSegments(store: TimelineStore, kind: SlruKind, lsn: Lsn): Promise<number[]> {
  const bytes = await readImage(store, slruDirKey(kind), lsn);
  return bytes === undefined ? [] : [...decodeU32Set(bytes)].sort((a, b) => a - b);
}

export async function getSlruSegmentSize(store: TimelineStore, kind: SlruKind, segment: number, lsn: Lsn): Promise<number | undefined> {
  const bytes = await readImage(store, slruSegmentSizeKey(kind, segment), lsn);
  return bytes === undefined ? undefined : decodeRelSize(bytes);
}

/** Prepared (not yet finished) transactions at `lsn`. */
export async function listTwoPhaseXids(store: TimelineStore, lsn: Lsn): Promise<number[]> {
  const bytes = await readImage(store, TWO_PHASE_DIR_KEY, lsn);
  return bytes === undefined ? [] : [...decodeU32Set(bytes)].sort((a, b) => a - b);
}
