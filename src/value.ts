/**
 * What is stored at (key, LSN): a materialized image, or something redo applies on top of the
 * previous version. Values are written at the EndRecPtr of the WAL record that produced them (its
 * end rounded up to MAXALIGN), so GetPage@L sees exactly the records that were complete at L, and
 * a page's LSN after redo is that LSN, as PostgreSQL's redo stamps it.
 *
 * Besides PostgreSQL's own records, ingest emits a few Strata records for changes WAL implies but
 * does not attach to the page they touch (as Neon does): the visibility-map bits a heap record
 * clears, the CLOG bits a commit record sets, the multixact SLRU entries a create record writes,
 * and the heap page of a VISIBLE record on a cluster that does not log hint bits.
 *
 * WHY a module of its own at the top: the storage engine stores these values, ingest makes them
 * and the walredo workers apply them; none of those layers owns the others' types.
 */
import type { Lsn } from './lsn.js';

export type StrataRecord =
  /** Clear visibility-map bits for up to two heap blocks (old/new page of an update). */
  | { kind: 'ClearVisibilityMapFlags'; heapBlocks: number[]; flags: number }
  /** Mark transactions committed in the CLOG page (with commit timestamp, for commit_ts). */
  | { kind: 'ClogSetCommitted'; xids: number[]; timestamp: number }
  | { kind: 'ClogSetAborted'; xids: number[] }
  /** A multixact's offset entry and its member entries on their SLRU pages. */
  | { kind: 'MultixactOffsetCreate'; multiXactId: number; offset: number }
  | { kind: 'MultixactMembersCreate'; offset: number; members: { xid: number; status: number }[] }
  /**
   * Several offsets entries of one pg_multixact/offsets page: a new multixact's and the next
   * one's, which PostgreSQL 15 (since the 2025 multixact fix) sets to where the next members will
   * start (RecordNewMultiXact), also during redo.
   */
  | { kind: 'MultixactOffsetsSet'; entries: { multiXactId: number; offset: number }[] }
  /**
   * A relation truncated to `heapBlocks` (SMGR_TRUNCATE with the VM flag): the bits of heap blocks
   * from there on are cleared on the visibility-map page that keeps some of them
   * (visibilitymap_prepare_truncate; the VM page LSN is not set).
   */
  | { kind: 'TruncateVisibilityMap'; heapBlocks: number }
  /**
   * The heap page of a Heap2 VISIBLE record on a cluster where XLogHintBitIsNeeded() is false
   * (no data checksums, wal_log_hints off): PD_ALL_VISIBLE is set and pd_lsn left alone, as
   * heap_xlog_visible does there (the WAL record itself cannot say which cluster it came from).
   */
  | { kind: 'HeapSetAllVisible' };

export type Value =
  /** A full page, or a metadata blob (relation size, directory, control file…). */
  | { kind: 'image'; bytes: Uint8Array }
  /** A PostgreSQL WAL record (the whole XLogRecord) that touched this key. */
  | { kind: 'walRecord'; willInit: boolean; record: Uint8Array; blockId: number }
  /** A Strata record (see above). */
  | { kind: 'strataRecord'; willInit: boolean; record: StrataRecord };

export function valueWillInit(value: Value): boolean {
  return value.kind === 'image' || value.willInit;
}

/** Everything needed to materialize a key at an LSN: newest image at or below it, then records. */
export interface ReconstructData {
  /** The base image, absent when the oldest record initializes the page (or none exists). */
  image: { lsn: Lsn; bytes: Uint8Array } | undefined;
  /** Records newer than the image, oldest first, each at or below the request LSN. */
  records: { lsn: Lsn; value: Exclude<Value, { kind: 'image' }> }[];
}
