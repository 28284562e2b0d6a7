/**
 * What a full backup at an LSN consists of, read from a timeline's metadata in one pass: the
 * databases (with their relation map files), every relation fork with its size, the SLRU segments,
 * the transactions prepared then, and the control file and checkpoint ingest keeps current.
 *
 * WHY one message: a backup walks the catalog of the cluster once and then streams pages; doing
 * the walk where the store lives (the tenant's actor thread) costs one cross-thread hop instead
 * of one per relation. Its size follows the number of relations, never their size.
 */
import { CHECKPOINT_KEY, CONTROL_FILE_KEY, relmapFileKey, SlruKind, twoPhaseFileKey, type RelTag } from '../keys.js';
import { readImage } from '../ingest/metadata-cache.js';
import { getSlruSegmentSize, listDatabases, listRelations, listSlruSegments, listTwoPhaseXids } from '../ingest/metadata-readers.js';
import type { Lsn } from '../lsn.js';
import type { TimelineStore } from '../storage/types.js';
import type { BackupManifest, ManifestDatabase, ManifestRelation, ManifestSlruSegment } from '../backup/types.js';

type SizeOf = (store: TimelineStore, rel: RelTag, lsn: Lsn) => Promise<number | undefined>;

const GLOBAL_TABLESPACE_OID = 1664;

export async function readBackupManifest(store: TimelineStore, lsn: Lsn, sizeOf: SizeOf): Promise<BackupManifest> {
  const pairs = await listDatabases(store, lsn);
  if (!pairs.some((db) => db.spcNode === GLOBAL_TABLESPACE_OID && db.dbNode === 0)) pairs.unshift({ spcNode: GLOBAL_TABLESPACE_OID, dbNode: 0 });
  const databases: ManifestDatabase[] = [];
  const relations: ManifestRelation[] = [];
  for (const { spcNode, dbNode } of pairs) {
    databases.push({ spcNode, dbNode, relmap: await readImage(store, relmapFileKey(spcNode, dbNode), lsn) });
    for (const rel of await listRelations(store, spcNode, dbNode, lsn)) {
      const blocks = await sizeOf(store, rel, lsn);
      if (blocks !== undefined) relations.push({ ...rel, blocks });
    }
  }
  const slruSegments: ManifestSlruSegment[] = [];
  for (const kind of [SlruKind.Clog, SlruKind.MultiXactMembers, SlruKind.MultiXactOffsets]) {
    for (const segment of await listSlruSegments(store, kind, lsn)) {
      const blocks = await getSlruSegmentSize(store, kind, segment, lsn);
      if (blocks !== undefined) slruSegments.push({ kind, segment, blocks });
    }
  }
  const twoPhase: { xid: number; state: Uint8Array }[] = [];
  for (const xid of await listTwoPhaseXids(store, lsn)) {
    const state = await readImage(store, twoPhaseFileKey(xid), lsn);
    if (state !== undefined) twoPhase.push({ xid, state });
  }
  return {
    lsn,
    controlFile: await readImage(store, CONTROL_FILE_KEY, lsn),
    checkpoint: await readImage(store, CHECKPOINT_KEY, lsn),
    databases,
    relations,
    slruSegments,
    twoPhase,
  };
}
