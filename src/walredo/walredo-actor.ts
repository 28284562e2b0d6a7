/**
 * The walredo manager actor of a tenant: timelines ask it for pages (`Redo`), it batches the jobs
 * that arrive together and hands each batch to the walredo pool (walredo-pool.ts), so that one
 * round trip to a redo worker carries many pages.
 *
 *   timeline actor ──ask Redo{key, data}──► walredo/<tenant> ──batch (≤ BATCH_JOBS_MAX)──► pool
 *                  ◄─────────── page ─────────────┘ (or the job's own StrataError)
 *
 * States: it has none beyond the batch being collected; `Redo` is `concurrent` (never queued
 * behind another redo: no actor waits while a redo is in flight), bounded by the mailbox capacity,
 * and a batch is sent on the next turn of the event loop (setImmediate) or when it is full.
 */
import type { Behavior } from '../actor/types.js';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { ReconstructData } from '../value.js';
import { defaultWalRedoPool, type WalRedoPool } from './walredo-pool.js';
import type { RedoJob } from './walredo-protocol.js';

export type WalRedoMessage = { kind: 'Redo'; key: string; data: ReconstructData };

const BATCH_JOBS_MAX = 64;

export function walredoAddress(tenantId: string): string {
  return `walredo/${tenantId}`;
}

interface PendingJob {
  job: RedoJob;
  resolve: (page: Uint8Array) => void;
  reject: (error: Error) => void;
}

export function createWalRedoBehavior(args: { tenantId: string; pool?: () => WalRedoPool }): Behavior<WalRedoMessage> {
  const pool = args.pool ?? defaultWalRedoPool;
  let pending: PendingJob[] = [];
  let scheduled = false;

  const send = (): void => {
    scheduled = false;
    const batch = pending.slice(0, BATCH_JOBS_MAX);
    pending = pending.slice(batch.length);
    if (pending.length > 0) schedule();
    pool().redo(batch.map((entry) => entry.job)).then(
      (outcomes) => outcomes.forEach((outcome, index) => {
        const entry = batch[index]!;
        if (outcome instanceof Uint8Array) entry.resolve(outcome);
        else entry.reject(outcome);
      }),
      (error: unknown) => {
        const failure = error instanceof Error ? error : new StrataError('PS_ERR_REDO_FAILED', String(error));
        for (const entry of batch) entry.reject(failure);
      },
    );
  };

  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(send);
  };

  return {
    concurrent: (message) => message.kind === 'Redo',
    receive(message) {
      assert(message.kind === 'Redo', 'the walredo actor only redoes pages');
      return new Promise<Uint8Array>((resolve, reject) => {
        pending.push({ job: { key: message.key, data: message.data }, resolve, reject });
        if (pending.length >= BATCH_JOBS_MAX) send();
        else schedule();
      });
    },
  };
}
