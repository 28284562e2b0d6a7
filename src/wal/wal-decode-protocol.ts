/**
 * Messages between a WalDecodeThread (wal-decode-stage.ts) and its thread
 * (workers/wal-decode-thread.ts). Kept apart so both sides type-check against one definition.
 *
 *   thread ──ready──► main                                        (once, after start-up)
 *   main ──open {session, startLsn}──────────────────► thread   (a stream session)
 *   main ──decode {session, id, bytes (transferred)}──► thread ──decoded {session, id, batch, sourceIds}──► main
 *   main ──files {session, paths, range, credits}─────► thread ──batch {session, batch, sourceIds}… end──► main
 *   main ──credit {session}───────────────────────────► thread   (one more batch may be sent)
 *   main ──files {…, ports}──► thread ──batch… end/failed──► each port   (batches straight to
 *          consumers on other threads: each port returns its own credits; main gets end {records})
 *   main ──close {session}────────────────────────────► thread
 *   any failure of a session: ──failed {session, id?, error}──► main
 */
import type { SerializedStrataError } from '../errors.js';
import type { Lsn } from '../lsn.js';
import type { MessagePort } from 'node:worker_threads';
import type { PackedRecords } from './packed-records.js';

export type WalDecodeRequest =
  | { kind: 'open'; session: number; startLsn: Lsn; segmentSize: number }
  | { kind: 'decode'; session: number; id: number; bytes: ArrayBuffer }
  | {
    kind: 'files'; session: number; paths: string[]; startLsn: Lsn | undefined; endLsn: Lsn | undefined; segmentSize: number; credits: number;
    /** Deliver the batches to these ports (transferred) instead of to main; see WalDecodePortMessage. */
    ports?: MessagePort[];
  }
  | { kind: 'credit'; session: number }
  | { kind: 'close'; session: number };

export type WalDecodeResponse =
  /** Sent once, when the thread has loaded its modules and listens. */
  | { kind: 'ready' }
  /**
   * `sourceIds[i]` names `batch.sources[i]` within the session (source-identity.ts): every message
   * arrives with new SharedArrayBuffer objects, the ids say which are the same memory.
   */
  | { kind: 'decoded'; session: number; id: number; batch: PackedRecords; sourceIds: number[] }
  | { kind: 'batch'; session: number; batch: PackedRecords; sourceIds: number[] }
  /** `records`: how many records the session decoded. */
  | { kind: 'end'; session: number; records: number }
  | { kind: 'failed'; session: number; id: number | undefined; error: SerializedStrataError };

/**
 * What a consumer port of a files session (`ports`) receives, and what it answers: one `credit`
 * per batch it has finished with (it starts with the session's credits). `end` and `failed` are
 * the last message; the consumer closes the port then.
 */
export type WalDecodePortMessage =
  | { kind: 'batch'; batch: PackedRecords }
  | { kind: 'end'; records: number }
  | { kind: 'failed'; error: SerializedStrataError };

export type WalDecodePortAnswer = { kind: 'credit' };
