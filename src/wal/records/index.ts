/**
 * One entry point over all typed record decoders: `decodeRecordBody(record)` dispatches on the
 * resource manager and returns `{ rmgr, body }`, a union over every rmgr's record union.
 *
 * WHY: `strata waldump`, redo and tests want "what does this record say" without knowing which
 * module handles which rmgr; ingest calls the per-rmgr decoders directly on its hot path.
 */
import { RmgrId, type DecodedRecord } from '../types.js';
import { unsupportedRecord } from './body-reader.js';
import { decodeBrinRecord, type BrinRecord } from './brin.js';
import { decodeBtreeRecord, type BtreeRecord } from './btree.js';
import { decodeClogRecord, type ClogRecord } from './clog.js';
import { decodeCommitTsRecord, type CommitTsRecord } from './commit-ts.js';
import { decodeDbaseRecord, type DbaseRecord } from './dbase.js';
import { decodeGenericRecord, type GenericRecord } from './generic.js';
import { decodeGinRecord, type GinRecord } from './gin.js';
import { decodeGistRecord, XLOG_GIST_PAGE_SPLIT, XLOG_GIST_PAGE_UPDATE, type GistRecord } from './gist.js';
import { decodeHashRecord, XLOG_HASH_SPLIT_ALLOCATE_PAGE, XLOG_HASH_SPLIT_COMPLETE, type HashRecord } from './hash.js';
import { decodeHeap2Record, decodeHeapRecord, type Heap2Record, type HeapRecord } from './heap.js';
import { decodeLogicalMessageRecord, type LogicalMessageRecord } from './logical-message.js';
import { decodeMultiXactRecord, type MultiXactRecord } from './multixact.js';
import { decodeRelMapRecord, type RelMapRecord } from './relmap.js';
import { decodeReplicationOriginRecord, type ReplicationOriginRecord } from './replorigin.js';
import { decodeSequenceRecord, type SequenceRecord } from './sequence.js';
import { decodeSmgrRecord, type SmgrRecord } from './smgr.js';
import { decodeSpgistRecord, type SpgistRecord } from './spgist.js';
import { decodeStandbyRecord, type StandbyRecord } from './standby.js';
import { decodeTablespaceRecord, type TablespaceRecord } from './tablespace.js';
import { decodeXactRecord, type XactRecord } from './xact.js';
import { decodeXlogRecord, type XlogRecord } from './xlog.js';

export type RecordBody =
  | { rmgr: 'XLOG'; body: XlogRecord }
  | { rmgr: 'Transaction'; body: XactRecord }
  | { rmgr: 'Storage'; body: SmgrRecord }
  | { rmgr: 'CLOG'; body: ClogRecord }
  | { rmgr: 'Database'; body: DbaseRecord }
  | { rmgr: 'Tablespace'; body: TablespaceRecord }
  | { rmgr: 'MultiXact'; body: MultiXactRecord }
  | { rmgr: 'RelMap'; body: RelMapRecord }
  | { rmgr: 'Standby'; body: StandbyRecord }
  | { rmgr: 'Heap2'; body: Heap2Record }
  | { rmgr: 'Heap'; body: HeapRecord }
  | { rmgr: 'Btree'; body: BtreeRecord }
  | { rmgr: 'Hash'; body: HashRecord }
  | { rmgr: 'Gin'; body: GinRecord }
  | { rmgr: 'Gist'; body: GistRecord }
  | { rmgr: 'Sequence'; body: SequenceRecord }
  | { rmgr: 'SPGist'; body: SpgistRecord }
  | { rmgr: 'BRIN'; body: BrinRecord }
  | { rmgr: 'CommitTs'; body: CommitTsRecord }
  | { rmgr: 'ReplicationOrigin'; body: ReplicationOriginRecord }
  | { rmgr: 'Generic'; body: GenericRecord }
  | { rmgr: 'LogicalMessage'; body: LogicalMessageRecord };

export function decodeRecordBody(record: DecodedRecord): RecordBody {
  switch (record.rmgrId) {
    case RmgrId.Xlog: return { rmgr: 'XLOG', body: decodeXlogRecord(record) };
    case RmgrId.Transaction: return { rmgr: 'Transaction', body: decodeXactRecord(record) };
    case RmgrId.Storage: return { rmgr: 'Storage', body: decodeSmgrRecord(record) };
    case RmgrId.Clog: return { rmgr: 'CLOG', body: decodeClogRecord(record) };
    case RmgrId.Database: return { rmgr: 'Database', body: decodeDbaseRecord(record) };
    case RmgrId.Tablespace: return { rmgr: 'Tablespace', body: decodeTablespaceRecord(record) };
    case RmgrId.MultiXact: return { rmgr: 'MultiXact', body: decodeMultiXactRecord(record) };
    case RmgrId.RelMap: return { rmgr: 'RelMap', body: decodeRelMapRecord(record) };
    case RmgrId.Standby: return { rmgr: 'Standby', body: decodeStandbyRecord(record) };
    case RmgrId.Heap2: return { rmgr: 'Heap2', body: decodeHeap2Record(record) };
    case RmgrId.Heap: return { rmgr: 'Heap', body: decodeHeapRecord(record) };
    case RmgrId.Btree: return { rmgr: 'Btree', body: decodeBtreeRecord(record) };
    case RmgrId.Hash: return { rmgr: 'Hash', body: decodeHashRecord(record) };
    case RmgrId.Gin: return { rmgr: 'Gin', body: decodeGinRecord(record) };
    case RmgrId.Gist: return { rmgr: 'Gist', body: decodeGistRecord(record) };
    case RmgrId.Sequence: return { rmgr: 'Sequence', body: decodeSequenceRecord(record) };
    case RmgrId.SPGist: return { rmgr: 'SPGist', body: decodeSpgistRecord(record) };
    case RmgrId.BRIN: return { rmgr: 'BRIN', body: decodeBrinRecord(record) };
    case RmgrId.CommitTs: return { rmgr: 'CommitTs', body: decodeCommitTsRecord(record) };
    case RmgrId.ReplicationOrigin: return { rmgr: 'ReplicationOrigin', body: decodeReplicationOriginRecord(record) };
    case RmgrId.Generic: return { rmgr: 'Generic', body: decodeGenericRecord(record) };
    case RmgrId.LogicalMessage: return { rmgr: 'LogicalMessage', body: decodeLogicalMessageRecord(record) };
    default: throw unsupportedRecord(`rmgr ${record.rmgrId}`, record.info);
  }
}

/**
 * Whether PostgreSQL's redo changes block `blockId` of a record with this rmgr and info even after
 * restoring its full-page image (BLK_RESTORED): the primary changed that page after the image was
 * taken. GiST's left child of a finished split gets its NSN and loses F_FOLLOW_RIGHT
 * (gistRedoClearFollowRight); hash's split records set the bucket flags again. Such a block's
 * image alone is not the page: WAL ingest stores the record (will-init) and redo does both steps
 * (walredo/redo.ts, afterImageRestore).
 */
export function redoChangesRestoredImage(rmgrId: number, info: number, blockId: number): boolean {
  const type = info & 0xf0;
  if (rmgrId === RmgrId.Gist) return (type === XLOG_GIST_PAGE_UPDATE && blockId === 1) || (type === XLOG_GIST_PAGE_SPLIT && blockId === 0);
  if (rmgrId === RmgrId.Hash) return (type === XLOG_HASH_SPLIT_ALLOCATE_PAGE && blockId === 0) || (type === XLOG_HASH_SPLIT_COMPLETE && blockId <= 1);
  return false;
}
