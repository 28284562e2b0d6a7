/**
 * The fields of PostgreSQL 15's pg_control (ControlFileData, catalog/pg_control.h) that WAL ingest
 * reads and that WAL changes: what decides how redo stamps page LSNs, and the parameter copies an
 * XLOG_PARAMETER_CHANGE record updates.
 *
 * WHY ingest needs them: heap_xlog_visible sets the heap page's LSN only when XLogHintBitIsNeeded()
 * (data checksums or wal_log_hints), a cluster setting no VISIBLE record carries. Ingest keeps the
 * control file the base backup brought (CONTROL_FILE_KEY) and, as PostgreSQL's xlog_redo does,
 * writes the parameters of every PARAMETER_CHANGE record into it, so the setting in force at any
 * LSN is in the key space and survives a restart.
 *
 *   offset  field                       offset  field
 *   172     wal_level int32             192     max_prepared_xacts int32
 *   176     wal_log_hints bool          196     max_locks_per_xact int32
 *   180     MaxConnections int32        200     track_commit_timestamp bool
 *   184     max_worker_processes int32  252     data_checksum_version uint32
 *   188     max_wal_senders int32       288     crc: CRC-32C of bytes [0, 288)
 *
 * Offsets measured on PostgreSQL 15 (x86-64) against pg_controldata; little-endian.
 */
import { StrataError } from '../errors.js';
import { crc32c } from '../wal/crc32c.js';
import type { XlogRecord } from '../wal/records/xlog.js';

const WAL_LEVEL = 172;
const WAL_LOG_HINTS = 176;
const MAX_CONNECTIONS = 180;
const MAX_WORKER_PROCESSES = 184;
const MAX_WAL_SENDERS = 188;
const MAX_PREPARED_XACTS = 192;
const MAX_LOCKS_PER_XACT = 196;
const TRACK_COMMIT_TIMESTAMP = 200;
const DATA_CHECKSUM_VERSION = 252;
const CRC = 288;
export const CONTROL_FILE_BYTES_MIN = CRC + 4;

type ParameterChange = Extract<XlogRecord, { type: 'parameterChange' }>;

function view(control: Uint8Array): DataView {
  if (control.length < CONTROL_FILE_BYTES_MIN) {
    throw new StrataError('PS_ERR_BAD_REQUEST', `pg_control is ${control.length} bytes, expected at least ${CONTROL_FILE_BYTES_MIN}`);
  }
  return new DataView(control.buffer, control.byteOffset, control.length);
}

/** XLogHintBitIsNeeded() of the cluster the control file describes: checksums or wal_log_hints. */
export function hintBitsLogged(control: Uint8Array): boolean {
  const fields = view(control);
  return fields.getUint32(DATA_CHECKSUM_VERSION, true) !== 0 || fields.getUint8(WAL_LOG_HINTS) !== 0;
}

/** Whether the control file's CRC matches its contents (pg_control's own check). */
export function controlFileCrcValid(control: Uint8Array): boolean {
  return view(control).getUint32(CRC, true) === crc32c(control, 0, CRC);
}

/** A copy of `control` with a PARAMETER_CHANGE record's settings, as xlog_redo writes them. */
export function withParameterChange(control: Uint8Array, change: ParameterChange): Uint8Array {
  const updated = control.slice();
  const fields = view(updated);
  fields.setInt32(MAX_CONNECTIONS, change.maxConnections, true);
  fields.setInt32(MAX_WORKER_PROCESSES, change.maxWorkerProcesses, true);
  fields.setInt32(MAX_WAL_SENDERS, change.maxWalSenders, true);
  fields.setInt32(MAX_PREPARED_XACTS, change.maxPreparedXacts, true);
  fields.setInt32(MAX_LOCKS_PER_XACT, change.maxLocksPerXact, true);
  fields.setInt32(WAL_LEVEL, change.walLevel, true);
  fields.setUint8(WAL_LOG_HINTS, change.walLogHints ? 1 : 0);
  fields.setUint8(TRACK_COMMIT_TIMESTAMP, change.trackCommitTimestamp ? 1 : 0);
  fields.setUint32(CRC, crc32c(updated, 0, CRC), true);
  return updated;
}

/**
 * The settings a hot standby may not run below (PostgreSQL's CheckRequiredParameterValues: the
 * standby refuses to start when its own value is lower than the primary's, as pg_control records it).
 */
export interface HotStandbyParameters {
  maxConnections: number;
  maxWorkerProcesses: number;
  maxWalSenders: number;
  maxPreparedTransactions: number;
  maxLocksPerTransaction: number;
}

/** Reads the hot-standby parameters of a control file; PS_ERR_IO when its CRC does not match. */
export function hotStandbyParameters(control: Uint8Array): HotStandbyParameters {
  if (!controlFileCrcValid(control)) throw new StrataError('PS_ERR_IO', 'pg_control fails its CRC check');
  const fields = view(control);
  return {
    maxConnections: fields.getInt32(MAX_CONNECTIONS, true),
    maxWorkerProcesses: fields.getInt32(MAX_WORKER_PROCESSES, true),
    maxWalSenders: fields.getInt32(MAX_WAL_SENDERS, true),
    maxPreparedTransactions: fields.getInt32(MAX_PREPARED_XACTS, true),
    maxLocksPerTransaction: fields.getInt32(MAX_LOCKS_PER_XACT, true),
  };
}

/** Every setting pg_control records from the primary's configuration. */
export interface ControlFileSettings extends HotStandbyParameters {
  walLevel: 'minimal' | 'replica' | 'logical';
  walLogHints: boolean;
  trackCommitTimestamp: boolean;
}

export function controlFileSettings(control: Uint8Array): ControlFileSettings {
  const fields = view(control);
  const level = fields.getInt32(WAL_LEVEL, true);
  return {
    ...hotStandbyParameters(control),
    walLevel: level === 0 ? 'minimal' : level === 2 ? 'logical' : 'replica',
    walLogHints: fields.getUint8(WAL_LOG_HINTS) !== 0,
    trackCommitTimestamp: fields.getUint8(TRACK_COMMIT_TIMESTAMP) !== 0,
  };
}
