/**
 * pg_control for a full backup: the primary's control file, rewritten as if the cluster had shut
 * down cleanly at the backup's synthesized checkpoint.
 *
 * WHY rewrite and not build: ControlFileData holds facts Strata neither knows nor may change (the
 * system identifier, catalog version, compile-time sizes, data checksum version, the parameters a
 * standby checks, the mock authentication nonce). The base backup brought the primary's file
 * (CONTROL_FILE_KEY, updated by ingest on PARAMETER_CHANGE); only the fields that say where and in
 * what state the cluster stopped are replaced. A stock PostgreSQL 15 then finds state "shut down",
 * reads the checkpoint record at `checkPoint` (wal-segment.ts writes it), sees redo == its own
 * location and starts without recovery (or, with standby.signal, as a hot standby that is
 * consistent at once).
 *
 * ControlFileData of PostgreSQL 15 (PG_CONTROL_VERSION 1300), x86-64, little-endian; offsets
 * measured against pg_controldata (see also src/ingest/control-file.ts for the parameter fields):
 *
 *   0    system_identifier u64         136  minRecoveryPoint u64
 *   8    pg_control_version u32        144  minRecoveryPointTLI u32
 *   12   catalog_version_no u32        152  backupStartPoint u64
 *   16   state (DBState) int32         160  backupEndPoint u64
 *   24   time (pg_time_t) i64          168  backupEndRequired bool
 *   32   checkPoint u64                172… parameters, compile-time sizes
 *   40   checkPointCopy (88 bytes)     216  blcksz u32, 224 xlog_blcksz u32, 228 xlog_seg_size u32
 *   128  unloggedLSN u64               288  crc: CRC-32C of bytes [0, 288)
 *
 * The file is PG_CONTROL_FILE_SIZE (8192) bytes, zero after the 296-byte struct, as
 * WriteControlFile writes it (so that a torn write cannot leave a half-old struct).
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { Lsn } from '../lsn.js';
import { crc32c } from '../wal/crc32c.js';
import { CHECKPOINT_BYTES, CONTROL_FILE_CHECKPOINT_OFFSET, decodeCheckPoint, type CheckPoint } from '../wal/records/xlog.js';
import { encodeCheckPoint } from './checkpoint.js';

/** PG_CONTROL_FILE_SIZE: the size of global/pg_control on disk. */
export const CONTROL_FILE_BYTES = 8192;
/** sizeof(ControlFileData) on 64-bit platforms. */
export const CONTROL_FILE_DATA_BYTES = 296;
/** PG_CONTROL_VERSION of PostgreSQL 15. */
export const PG_CONTROL_VERSION_15 = 1300;

/** DBState (catalog/pg_control.h). */
export const enum DbState {
  Startup = 0,
  Shutdowned = 1,
  ShutdownedInRecovery = 2,
  Shutdowning = 3,
  InCrashRecovery = 4,
  InArchiveRecovery = 5,
  InProduction = 6,
}

const SYSTEM_IDENTIFIER = 0;
const CONTROL_VERSION = 8;
const CATALOG_VERSION = 12;
const STATE = 16;
const TIME = 24;
const CHECKPOINT_LOCATION = 32;
const UNLOGGED_LSN = 128;
const MIN_RECOVERY_POINT = 136;
const MIN_RECOVERY_POINT_TLI = 144;
const BACKUP_START_POINT = 152;
const BACKUP_END_POINT = 160;
const BACKUP_END_REQUIRED = 168;
const BLOCK_SIZE = 216;
const WAL_BLOCK_SIZE = 224;
const WAL_SEGMENT_SIZE = 228;
const CRC = 288;

export interface ControlFileInfo {
  systemIdentifier: bigint;
  controlVersion: number;
  catalogVersion: number;
  state: DbState;
  checkpointLocation: Lsn;
  checkpoint: CheckPoint;
  blockSize: number;
  walBlockSize: number;
  walSegmentSize: number;
}

/** A view of a checked control file: long enough, CRC valid, PostgreSQL 15's version. */
function checkedView(control: Uint8Array): DataView {
  if (control.length < CONTROL_FILE_DATA_BYTES) {
    throw new StrataError('PS_ERR_IO', `pg_control is ${control.length} bytes, expected at least ${CONTROL_FILE_DATA_BYTES}`);
  }
  const view = new DataView(control.buffer, control.byteOffset, control.length);
  if (view.getUint32(CRC, true) !== crc32c(control, 0, CRC)) {
    throw new StrataError('PS_ERR_IO', 'pg_control: CRC mismatch');
  }
  const version = view.getUint32(CONTROL_VERSION, true);
  if (version !== PG_CONTROL_VERSION_15) {
    throw new StrataError('PS_ERR_IO', `pg_control version ${version}: only PostgreSQL 15's ${PG_CONTROL_VERSION_15} is supported`, { version });
  }
  return view;
}

function readLsn(view: DataView, offset: number): Lsn {
  const value = view.getBigUint64(offset, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new StrataError('PS_ERR_IO', `pg_control: LSN at offset ${offset} is beyond 2^53`);
  return Number(value);
}

function writeLsn(view: DataView, offset: number, lsn: Lsn): void {
  view.setBigUint64(offset, BigInt(lsn), true);
}

/** The fields a backup needs from the primary's pg_control (system identifier, catalog version…). */
export function readControlFileInfo(control: Uint8Array): ControlFileInfo {
  const view = checkedView(control);
  const copy = control.subarray(CONTROL_FILE_CHECKPOINT_OFFSET, CONTROL_FILE_CHECKPOINT_OFFSET + CHECKPOINT_BYTES);
  return {
    systemIdentifier: view.getBigUint64(SYSTEM_IDENTIFIER, true),
    controlVersion: view.getUint32(CONTROL_VERSION, true),
    catalogVersion: view.getUint32(CATALOG_VERSION, true),
    state: view.getInt32(STATE, true) as DbState,
    checkpointLocation: readLsn(view, CHECKPOINT_LOCATION),
    checkpoint: decodeCheckPoint(copy),
    blockSize: view.getUint32(BLOCK_SIZE, true),
    walBlockSize: view.getUint32(WAL_BLOCK_SIZE, true),
    walSegmentSize: view.getUint32(WAL_SEGMENT_SIZE, true),
  };
}

/** The name of a tablespace's version directory (TABLESPACE_VERSION_DIRECTORY): PG_15_<catversion>. */
export function tablespaceVersionDirectory(catalogVersion: number): string {
  assert(Number.isInteger(catalogVersion) && catalogVersion > 0, 'a catalog version is a positive integer');
  return `PG_15_${catalogVersion}`;
}

export interface ShutdownControlFileOptions {
  /** The primary's pg_control (at least the 296-byte struct; usually the 8192-byte file). */
  control: Uint8Array;
  /** The checkpoint the record at `checkpointLocation` carries; its redo must be that location. */
  checkpoint: CheckPoint;
  checkpointLocation: Lsn;
  /** pg_control's last-modified time, pg_time_t (seconds since the Unix epoch). */
  timeSeconds: number;
}

/**
 * The primary's pg_control as a cleanly shut down cluster's at `checkpointLocation`: state
 * DB_SHUTDOWNED, checkPoint and checkPointCopy set, no minimum recovery point, no backup in
 * progress, unloggedLSN = the checkpoint location (any value counts; unlogged relations start
 * empty in a backup). Every other field is kept; the CRC is recomputed. 8192 bytes.
 */
export function shutdownControlFile(options: ShutdownControlFileOptions): Uint8Array {
  const { checkpoint, checkpointLocation, timeSeconds } = options;
  checkedView(options.control);
  assert(Number.isSafeInteger(checkpointLocation) && checkpointLocation > 0, 'a checkpoint location is a valid LSN');
  assert(checkpoint.redo === checkpointLocation, 'a shutdown checkpoint is its own redo point');
  assert(Number.isSafeInteger(timeSeconds) && timeSeconds >= 0, 'time is pg_time_t seconds');
  const control = new Uint8Array(CONTROL_FILE_BYTES);
  control.set(options.control.subarray(0, CONTROL_FILE_DATA_BYTES));
  const view = new DataView(control.buffer);
  view.setInt32(STATE, DbState.Shutdowned, true);
  view.setBigInt64(TIME, BigInt(timeSeconds), true);
  writeLsn(view, CHECKPOINT_LOCATION, checkpointLocation);
  control.set(encodeCheckPoint(checkpoint), CONTROL_FILE_CHECKPOINT_OFFSET);
  writeLsn(view, UNLOGGED_LSN, checkpointLocation);
  writeLsn(view, MIN_RECOVERY_POINT, 0);
  view.setUint32(MIN_RECOVERY_POINT_TLI, 0, true);
  writeLsn(view, BACKUP_START_POINT, 0);
  writeLsn(view, BACKUP_END_POINT, 0);
  view.setUint8(BACKUP_END_REQUIRED, 0);
  view.setUint32(CRC, crc32c(control, 0, CRC), true);
  assert(readControlFileInfo(control).checkpointLocation === checkpointLocation, 'the written control file reads back');
  return control;
}
