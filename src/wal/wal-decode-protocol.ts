/**
 * Messages between a WalDecodeThread (wal-decode-stage.ts) and its thread
 * (workers/wal-decode-thread.ts). Kept apart so both sides type-check against one definition.
 *
 *   thread ──ready──► main                                        (once, after start-up)
 *   main ──open {session, startLsn}──────────────────► thread   (a stream session)
 *   main ──decode {session, id, bytes (transferred)}──► thread ──decoded {session, id, batch}──► main
 *   main ──files {session, paths, range, credits}─────► thread ──batch {session, batch}… end──► main
 *   main ──credit {session}───────────────────────────► thread   (one more batch may be sent)
 *   main ──close {session}────────────────────────────► thread
 *   any failure of a session: ──failed {session, id?, error}──► main
 */
import type { SerializedStrataError } from '../errors.js';
import type { Lsn } from '../lsn.js';
import type { PackedRecords } from './packed-records.js';

export type WalDecodeRequest =
  | { kind: 'open'; session: number; startLsn: Lsn; segmentSize: number }
  | { kind: 'decode'; session: number; id: number; bytes: ArrayBuffer }
  | { kind: 'files'; session: number; paths: string[]; startLsn: Lsn | undefined; endLsn: Lsn | undefined; segmentSize: number; credits: number }
  | { kind: 'credit'; session: number }
  | { kind: 'close'; session: number };

export type WalDecodeResponse =
  /** Sent once, when the thread has loaded its modules and listens. */
  | { kind: 'ready' }
  | { kind: 'decoded'; session: number; id: number; batch: PackedRecords }
  | { kind: 'batch'; session: number; batch: PackedRecords }
  | { kind: 'end'; session: number }
  | { kind: 'failed'; session: number; id: number | undefined; error: SerializedStrataError };
