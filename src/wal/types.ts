/**
 * The decoded-record contract between the WAL decoder (wal-decoder.ts), the typed record-body
 * decoders (records/*.ts), `strata waldump`, and ingest.
 *
 * A DecodedRecord is the generic XLogRecord shape of PostgreSQL 15 (access/xlogrecord.h): header,
 * block references, main data. Record bodies (what the main data and block data mean) are decoded
 * on demand by the typed decoders, keyed by resource manager.
 */
import type { Lsn } from '../lsn.js';

/** PostgreSQL's RelFileNode: tablespace, database and relation file node OIDs. */
export interface RelFileNode {
  readonly spcNode: number;
  readonly dbNode: number;
  readonly relNode: number;
}

export const enum ForkNumber {
  Main = 0,
  Fsm = 1,
  VisibilityMap = 2,
  Init = 3,
}

export const FORK_NAMES = ['main', 'fsm', 'vm', 'init'] as const;

/** Resource manager ids, as in access/rmgrlist.h of PostgreSQL 15. */
export const enum RmgrId {
  Xlog = 0,
  Transaction = 1,
  Storage = 2,
  Clog = 3,
  Database = 4,
  Tablespace = 5,
  MultiXact = 6,
  RelMap = 7,
  Standby = 8,
  Heap2 = 9,
  Heap = 10,
  Btree = 11,
  Hash = 12,
  Gin = 13,
  Gist = 14,
  Sequence = 15,
  SPGist = 16,
  BRIN = 17,
  CommitTs = 18,
  ReplicationOrigin = 19,
  Generic = 20,
  LogicalMessage = 21,
}

/** pg_waldump's spelling of each rmgr name, indexed by id. */
export const RMGR_NAMES = [
  'XLOG', 'Transaction', 'Storage', 'CLOG', 'Database', 'Tablespace', 'MultiXact', 'RelMap',
  'Standby', 'Heap2', 'Heap', 'Btree', 'Hash', 'Gin', 'Gist', 'Sequence', 'SPGist', 'BRIN',
  'CommitTs', 'ReplicationOrigin', 'Generic', 'LogicalMessage',
] as const;

export type ImageCompression = 'none' | 'pglz' | 'lz4' | 'zstd';

export interface DecodedBlock {
  /** Block reference id, 0..32 (XLR_MAX_BLOCK_ID). */
  readonly blockId: number;
  readonly rel: RelFileNode;
  readonly forkNumber: ForkNumber;
  readonly blockNumber: number;
  /** BKPBLOCK_WILL_INIT: redo initializes the page, no prior version is needed. */
  readonly willInit: boolean;
  readonly hasImage: boolean;
  /** BKPIMAGE_APPLY: the image is to be restored (not only for wal_consistency_checking). */
  readonly applyImage: boolean;
  readonly imageCompression: ImageCompression;
  /** Raw image bytes as stored in the record (compressed, hole removed); undefined without image. */
  readonly imageBytes: Uint8Array | undefined;
  readonly holeOffset: number;
  readonly holeLength: number;
  /** Block-specific data (BKPBLOCK_HAS_DATA); empty when none. */
  readonly data: Uint8Array;
}

export interface DecodedRecord {
  /** Start of the record (what pg_waldump prints as `lsn:`). */
  readonly lsn: Lsn;
  /**
   * PostgreSQL's EndRecPtr: the record's end rounded up to MAXALIGN (where the next record may
   * start; for an XLOG SWITCH, the end of its segment). Redo stamps it on the pages the record
   * changes, and ingest stores the record's values at it.
   */
  readonly endLsn: Lsn;
  readonly prevLsn: Lsn;
  readonly xid: number;
  readonly rmgrId: number;
  /** xl_info including the rmgr-owned high bits; the record type is `info & ~XLR_INFO_MASK`. */
  readonly info: number;
  readonly totalLength: number;
  readonly blocks: readonly DecodedBlock[];
  readonly mainData: Uint8Array;
  /** XLR_BLOCK_ID_ORIGIN, when present. */
  readonly origin: number | undefined;
  /** XLR_BLOCK_ID_TOPLEVEL_XID, when present. */
  readonly toplevelXid: number | undefined;
  /** The whole record (xl_tot_len bytes, header included), contiguous even if it spanned pages. */
  readonly record: Uint8Array;
}

/** The low four bits of xl_info belong to the WAL machinery, the high four to the rmgr. */
export const XLR_INFO_MASK = 0x0f;
export const XLR_RMGR_INFO_MASK = 0xf0;

export const BLCKSZ = 8192;
