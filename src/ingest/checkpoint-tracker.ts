/**
 * The primary's current CheckPoint, kept up to date record by record, the way PostgreSQL's redo
 * keeps ShmemVariableCache and MultiXactState: so that a backup at ANY LSN, not only at a
 * checkpoint record, can start a compute whose counters are past everything in its pages.
 *
 * WHY: a compute started from a backup at X takes nextXid, nextOid and nextMulti from the
 * checkpoint in it. Were they those of the last checkpoint before X, the compute would hand out
 * xids, OIDs and multixacts that records up to X already used: rows would look committed or
 * in progress by the wrong transaction, OIDs would collide. Redo (xlogrecovery.c, xact.c,
 * multixact.c) advances them from the WAL; so does this tracker:
 *
 *   every record      nextXid past xl_xid                  (ApplyWalRecord)
 *   xact commit/abort nextXid past the subtransactions     (xact_redo_commit/abort)
 *   xact assignment   nextXid past the subtransactions     (RecordKnownAssignedTransactionIds)
 *   XLOG NEXTOID      nextOid = the record's               (xlog_redo)
 *   MULTIXACT CREATE  nextMulti, nextMultiOffset past it,  (multixact_redo)
 *                     nextXid past its member xids
 *   MULTIXACT TRUNC.  oldestMulti, oldestMultiDB           (multixact_redo → SetMultiXactIdLimit)
 *   CHECKPOINT SHUT.  everything from the record           (xlog_redo)
 *   CHECKPOINT ONLINE the record, but nextXid/nextMulti/oldestMulti/oldestXid only as minimums
 *                     and nextOid kept (PostgreSQL prefers NEXTOID records to an online
 *                     checkpoint's nextOid, which may be older)
 *
 * nextXid in steps of XID_ADVANCE_STEP (as Neon's pageserver): each change is one more value of
 * the checkpoint key, so nextXid jumps to the next multiple of 1024 above the xid instead of
 * following every transaction: one write per 1024 xids. Skipping xids is harmless (they are simply
 * never assigned), and safe for CLOG: 1024 divides CLOG_XACTS_PER_PAGE (32768), so the rounded value
 * is on the page of the xid that caused it, or the first xid of the next page, which the compute
 * zeroes itself when it assigns it (ExtendCLOG); either way the compute finds the CLOG page it
 * needs. Xids are compared modulo 2^32 (TransactionIdPrecedes); crossing 2^32 increments the
 * epoch, and the special xids 0..2 are skipped (a nextXid rounded to 0 becomes FirstNormal, 3).
 *
 * The hot path is WalIngest's test `((xid - nextXidLow) | 0) >= 0`: one subtraction and compare
 * per record, true only for an xid at or past nextXid (once per 1024 xids).
 */
import { assert } from '../assert.js';
import type { CheckPoint } from '../wal/records/xlog.js';

/** nextXid advances in multiples of this (a divisor of CLOG_XACTS_PER_PAGE = 32768). */
export const XID_ADVANCE_STEP = 1024;
const CLOG_XACTS_PER_PAGE = 32768;
/** FirstNormalTransactionId: 0 invalid, 1 bootstrap, 2 frozen. */
export const FIRST_NORMAL_XID = 3;
/** FirstMultiXactId: 0 is InvalidMultiXactId. */
const FIRST_MULTI_XACT_ID = 1;

// A rounded nextXid never skips a CLOG page (see the header).
assert(CLOG_XACTS_PER_PAGE % XID_ADVANCE_STEP === 0, 'the xid step divides a CLOG page');

/** TransactionIdPrecedes / MultiXactIdPrecedes / MultiXactOffsetPrecedes: `a` before `b` modulo 2^32. */
export function precedes32(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export class CheckpointTracker {
  #checkpoint: CheckPoint;
  /** The low 32 bits of nextXid: an xid that does not precede it needs nextXid advanced. */
  nextXidLow: number;
  /** True when the checkpoint changed since the last `takeChanged()`. */
  changed = false;

  constructor(checkpoint: CheckPoint) {
    this.#checkpoint = { ...checkpoint };
    this.nextXidLow = Number(checkpoint.nextXid & 0xffff_ffffn);
  }

  get checkpoint(): Readonly<CheckPoint> {
    return this.#checkpoint;
  }

  /** Whether `xid` needs nextXid advanced (the caller's hot-path test, spelled out). */
  needsXid(xid: number): boolean {
    return xid >= FIRST_NORMAL_XID && !precedes32(xid, this.nextXidLow);
  }

  /** nextXid past `xid`, rounded up to XID_ADVANCE_STEP; nothing when it is already past. */
  observeXid(xid: number): void {
    if (!this.needsXid(xid)) return;
    let target = (((xid + 1 + XID_ADVANCE_STEP - 1) & ~(XID_ADVANCE_STEP - 1)) >>> 0);
    let epoch = this.#checkpoint.nextXid >> 32n;
    if (target < this.nextXidLow) epoch += 1n; // crossed 2^32
    if (target < FIRST_NORMAL_XID) target = FIRST_NORMAL_XID;
    const nextXid = (epoch << 32n) | BigInt(target);
    assert(nextXid > this.#checkpoint.nextXid, 'nextXid only moves forward');
    this.setNextXid(nextXid);
    assert(precedes32(xid, this.nextXidLow), 'nextXid is past the xid');
  }

  observeXids(xids: readonly number[]): void {
    for (let index = 0; index < xids.length; index++) this.observeXid(xids[index]!);
  }

  /** XLOG_NEXTOID: the counter is the record's (it may wrap, so no comparison). */
  observeNextOid(nextOid: number): void {
    if (this.#checkpoint.nextOid === nextOid) return;
    this.#checkpoint.nextOid = nextOid;
    this.changed = true;
  }

  /** MULTIXACT CREATE_ID of `multiXactId` with `memberCount` members at `offset`. */
  observeMultiXact(multiXactId: number, offset: number, memberCount: number): void {
    let nextMulti = (multiXactId + 1) >>> 0;
    if (nextMulti < FIRST_MULTI_XACT_ID) nextMulti = FIRST_MULTI_XACT_ID;
    this.advanceMulti(nextMulti, (offset + memberCount) >>> 0);
  }

  /** MultiXactAdvanceNextMXact: both counters as minimums. */
  private advanceMulti(nextMulti: number, nextMultiOffset: number): void {
    const checkpoint = this.#checkpoint;
    if (precedes32(checkpoint.nextMulti, nextMulti)) {
      checkpoint.nextMulti = nextMulti;
      this.changed = true;
    }
    if (precedes32(checkpoint.nextMultiOffset, nextMultiOffset)) {
      checkpoint.nextMultiOffset = nextMultiOffset;
      this.changed = true;
    }
  }

  /** MULTIXACT TRUNCATE_ID: the oldest multixact is now `oldestMulti` (endTruncOff). */
  observeMultiXactTruncate(oldestMulti: number, oldestMultiDb: number): void {
    const checkpoint = this.#checkpoint;
    if (checkpoint.oldestMulti === oldestMulti && checkpoint.oldestMultiDb === oldestMultiDb) return;
    checkpoint.oldestMulti = oldestMulti;
    checkpoint.oldestMultiDb = oldestMultiDb;
    this.changed = true;
  }

  /** A checkpoint record: shutdown ones replace everything, online ones partly (see the header). */
  observeCheckpoint(record: CheckPoint, shutdown: boolean): void {
    const current = this.#checkpoint;
    if (shutdown) {
      this.#checkpoint = { ...record };
    } else {
      const merged: CheckPoint = { ...record, nextOid: current.nextOid };
      merged.nextXid = record.nextXid > current.nextXid ? record.nextXid : current.nextXid;
      if (precedes32(record.nextMulti, current.nextMulti)) merged.nextMulti = current.nextMulti;
      if (precedes32(record.nextMultiOffset, current.nextMultiOffset)) merged.nextMultiOffset = current.nextMultiOffset;
      if (precedes32(record.oldestMulti, current.oldestMulti)) {
        merged.oldestMulti = current.oldestMulti;
        merged.oldestMultiDb = current.oldestMultiDb;
      }
      if (precedes32(record.oldestXid, current.oldestXid)) {
        merged.oldestXid = current.oldestXid;
        merged.oldestXidDb = current.oldestXidDb;
      }
      this.#checkpoint = merged;
    }
    this.nextXidLow = Number(this.#checkpoint.nextXid & 0xffff_ffffn);
    this.changed = true;
  }

  /** Returns whether the checkpoint changed since the last call, and clears the flag. */
  takeChanged(): boolean {
    const changed = this.changed;
    this.changed = false;
    return changed;
  }

  private setNextXid(nextXid: bigint): void {
    this.#checkpoint.nextXid = nextXid;
    this.nextXidLow = Number(nextXid & 0xffff_ffffn);
    this.changed = true;
  }
}
