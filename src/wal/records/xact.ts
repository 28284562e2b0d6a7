/**
 * Typed decoder for the Transaction resource manager (access/xact.h, xactdesc.c of PostgreSQL 15).
 *
 * WHY: commit and abort records carry what ingest needs beyond pages (CLOG bits of the xid and its
 * subtransactions, relations dropped at commit, two-phase xids) and redo needs the rest
 * (invalidations, origin). The optional parts follow xl_xact_xinfo flags in a fixed order:
 *   commit: xact_time | xinfo | dbinfo | subxacts | relfilenodes | dropped stats | invals |
 *           twophase xid | gid | origin
 *   abort:  the same without invals.
 * PREPARE carries the two-phase state file (TwoPhaseFileHeader followed by its MAXALIGNed parts).
 */
import type { DecodedRecord, RelFileNode } from '../types.js';
import { BodyReader, unsupportedRecord } from './body-reader.js';

export const XLOG_XACT_COMMIT = 0x00;
export const XLOG_XACT_PREPARE = 0x10;
export const XLOG_XACT_ABORT = 0x20;
export const XLOG_XACT_COMMIT_PREPARED = 0x30;
export const XLOG_XACT_ABORT_PREPARED = 0x40;
export const XLOG_XACT_ASSIGNMENT = 0x50;
export const XLOG_XACT_INVALIDATIONS = 0x60;
export const XLOG_XACT_OPMASK = 0x70;
export const XLOG_XACT_HAS_INFO = 0x80;

export const XACT_XINFO_HAS_DBINFO = 1 << 0;
export const XACT_XINFO_HAS_SUBXACTS = 1 << 1;
export const XACT_XINFO_HAS_RELFILENODES = 1 << 2;
export const XACT_XINFO_HAS_INVALS = 1 << 3;
export const XACT_XINFO_HAS_TWOPHASE = 1 << 4;
export const XACT_XINFO_HAS_ORIGIN = 1 << 5;
export const XACT_XINFO_HAS_AE_LOCKS = 1 << 6;
export const XACT_XINFO_HAS_GID = 1 << 7;
export const XACT_XINFO_HAS_DROPPED_STATS = 1 << 8;

/** sizeof(SharedInvalidationMessage). */
export const SHARED_INVALIDATION_MESSAGE_BYTES = 16;
const STATS_ITEM_BYTES = 12;
const MAXALIGN = 8;

export interface DroppedStatsItem { kind: number; databaseOid: number; objectOid: number }

/** xl_xact_parsed_commit / xl_xact_parsed_abort, flattened. */
export interface ParsedXactFinish {
  xactTime: bigint;
  xinfo: number;
  databaseOid: number;
  tablespaceOid: number;
  subxacts: number[];
  droppedRels: RelFileNode[];
  droppedStats: DroppedStatsItem[];
  /** Raw SharedInvalidationMessage array (16 bytes each); commit only. */
  invalidations: Uint8Array;
  invalidationCount: number;
  /** The prepared transaction's xid for COMMIT/ABORT PREPARED, else 0. */
  twoPhaseXid: number;
  gid: string | undefined;
  originLsn: number;
  originTimestamp: bigint;
}

export interface TwoPhaseFileHeader {
  magic: number;
  totalLength: number;
  xid: number;
  databaseOid: number;
  preparedAt: bigint;
  owner: number;
  subxactCount: number;
  commitRelCount: number;
  abortRelCount: number;
  commitStatsCount: number;
  abortStatsCount: number;
  invalidationCount: number;
  initFileInvalidation: boolean;
  gidLength: number;
  originLsn: number;
  originTimestamp: bigint;
}

export interface ParsedPrepare {
  header: TwoPhaseFileHeader;
  gid: string;
  subxacts: number[];
  commitRels: RelFileNode[];
  abortRels: RelFileNode[];
  commitStats: DroppedStatsItem[];
  abortStats: DroppedStatsItem[];
  invalidations: Uint8Array;
  /** The whole state data, as stored in pg_twophase/<xid> (without the trailing CRC). */
  stateData: Uint8Array;
}

export type XactRecord =
  | ({ type: 'commit' | 'abort' | 'commitPrepared' | 'abortPrepared' } & ParsedXactFinish)
  | { type: 'prepare'; prepare: ParsedPrepare }
  | { type: 'assignment'; topXid: number; subxacts: number[] }
  | { type: 'invalidations'; invalidationCount: number; invalidations: Uint8Array };

export function decodeXactRecord(record: DecodedRecord): XactRecord {
  const operation = record.info & XLOG_XACT_OPMASK;
  switch (operation) {
    case XLOG_XACT_COMMIT: return { type: 'commit', ...parseXactFinish(record.info, record.mainData, true) };
    case XLOG_XACT_COMMIT_PREPARED: return { type: 'commitPrepared', ...parseXactFinish(record.info, record.mainData, true) };
    case XLOG_XACT_ABORT: return { type: 'abort', ...parseXactFinish(record.info, record.mainData, false) };
    case XLOG_XACT_ABORT_PREPARED: return { type: 'abortPrepared', ...parseXactFinish(record.info, record.mainData, false) };
    case XLOG_XACT_PREPARE: return { type: 'prepare', prepare: parsePrepare(record.mainData) };
    case XLOG_XACT_ASSIGNMENT: {
      const reader = new BodyReader(record.mainData, 'xact assignment');
      const topXid = reader.u32();
      return { type: 'assignment', topXid, subxacts: reader.u32Array(reader.count(4)) };
    }
    case XLOG_XACT_INVALIDATIONS: {
      const reader = new BodyReader(record.mainData, 'xact invalidations');
      const count = reader.count(SHARED_INVALIDATION_MESSAGE_BYTES);
      return { type: 'invalidations', invalidationCount: count, invalidations: reader.slice(count * SHARED_INVALIDATION_MESSAGE_BYTES) };
    }
    default: throw unsupportedRecord('Transaction', record.info);
  }
}

/** ParseCommitRecord / ParseAbortRecord of xactdesc.c. */
export function parseXactFinish(info: number, mainData: Uint8Array, isCommit: boolean): ParsedXactFinish {
  const reader = new BodyReader(mainData, isCommit ? 'xact commit' : 'xact abort');
  const parsed: ParsedXactFinish = {
    xactTime: reader.i64(), xinfo: 0, databaseOid: 0, tablespaceOid: 0, subxacts: [], droppedRels: [],
    droppedStats: [], invalidations: new Uint8Array(0), invalidationCount: 0, twoPhaseXid: 0, gid: undefined,
    originLsn: 0, originTimestamp: 0n,
  };
  if ((info & XLOG_XACT_HAS_INFO) === 0) return parsed;
  const xinfo = (parsed.xinfo = reader.u32());
  if (xinfo & XACT_XINFO_HAS_DBINFO) {
    parsed.databaseOid = reader.u32();
    parsed.tablespaceOid = reader.u32();
  }
  if (xinfo & XACT_XINFO_HAS_SUBXACTS) parsed.subxacts = reader.u32Array(reader.count(4));
  if (xinfo & XACT_XINFO_HAS_RELFILENODES) parsed.droppedRels = readRelFileNodes(reader, reader.count(12));
  if (xinfo & XACT_XINFO_HAS_DROPPED_STATS) parsed.droppedStats = readStatsItems(reader, reader.count(STATS_ITEM_BYTES));
  if (isCommit && xinfo & XACT_XINFO_HAS_INVALS) {
    parsed.invalidationCount = reader.count(SHARED_INVALIDATION_MESSAGE_BYTES);
    parsed.invalidations = reader.slice(parsed.invalidationCount * SHARED_INVALIDATION_MESSAGE_BYTES);
  }
  if (xinfo & XACT_XINFO_HAS_TWOPHASE) {
    parsed.twoPhaseXid = reader.u32();
    if (xinfo & XACT_XINFO_HAS_GID) parsed.gid = reader.cstring();
  }
  if (xinfo & XACT_XINFO_HAS_ORIGIN) {
    // xl_xact_origin follows the GID unaligned; PostgreSQL memcpy()s it.
    parsed.originLsn = reader.u64();
    parsed.originTimestamp = reader.i64();
  }
  return parsed;
}

function readRelFileNodes(reader: BodyReader, count: number): RelFileNode[] {
  const nodes = new Array<RelFileNode>(count);
  for (let index = 0; index < count; index++) nodes[index] = reader.relFileNode();
  return nodes;
}

function readStatsItems(reader: BodyReader, count: number): DroppedStatsItem[] {
  const items = new Array<DroppedStatsItem>(count);
  for (let index = 0; index < count; index++) items[index] = { kind: reader.i32(), databaseOid: reader.u32(), objectOid: reader.u32() };
  return items;
}

/** TwoPhaseFileHeader (twophase.c) and the parts that follow it, each MAXALIGNed. */
export function parsePrepare(mainData: Uint8Array): ParsedPrepare {
  const reader = new BodyReader(mainData, 'xact prepare');
  const header: TwoPhaseFileHeader = {
    magic: reader.u32(), totalLength: reader.u32(), xid: reader.u32(), databaseOid: reader.u32(),
    preparedAt: reader.i64(), owner: reader.u32(), subxactCount: reader.i32(), commitRelCount: reader.i32(),
    abortRelCount: reader.i32(), commitStatsCount: reader.i32(), abortStatsCount: reader.i32(),
    invalidationCount: reader.i32(), initFileInvalidation: reader.bool(),
    gidLength: (reader.skip(1), reader.u16()), originLsn: reader.u64(), originTimestamp: reader.i64(),
  };
  reader.align(MAXALIGN);
  const gid = reader.fixedString(header.gidLength);
  reader.align(MAXALIGN);
  const subxacts = reader.u32Array(header.subxactCount);
  reader.align(MAXALIGN);
  const commitRels = readRelFileNodes(reader, header.commitRelCount);
  reader.align(MAXALIGN);
  const abortRels = readRelFileNodes(reader, header.abortRelCount);
  reader.align(MAXALIGN);
  const commitStats = readStatsItems(reader, header.commitStatsCount);
  reader.align(MAXALIGN);
  const abortStats = readStatsItems(reader, header.abortStatsCount);
  reader.align(MAXALIGN);
  const invalidations = reader.slice(header.invalidationCount * SHARED_INVALIDATION_MESSAGE_BYTES);
  return { header, gid, subxacts, commitRels, abortRels, commitStats, abortStats, invalidations, stateData: mainData };
}
