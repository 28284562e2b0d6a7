/**
 * A walredo worker (piscina task module, src/walredo/walredo-pool.ts): reconstructs a batch of
 * pages with Strata's TypeScript redo (src/walredo/reconstruct.ts), reading the packed jobs in
 * place through a reused index (src/walredo/redo-batch-codec.ts RedoBatchIndex) and writing the
 * pages straight into the batch's page buffer (shared memory the pool reuses from batch to
 * batch). A job that fails fails alone: its error (a serialized StrataError naming the key, LSN
 * and record type) goes back in its slot, and the other jobs of the batch still run.
 */
import { isStrataError, StrataError } from '../src/errors.js';
import { BLCKSZ } from '../src/walredo/page.js';
import { IndexedBatchRedo } from '../src/walredo/reconstruct.js';
import { RedoBatchIndex } from '../src/walredo/redo-batch-codec.js';
import type { RedoBatchResult, RedoBatchTask } from '../src/walredo/walredo-protocol.js';

/** Reused from batch to batch: the batch's index and the decoded records. */
const batchIndex = new RedoBatchIndex();
const batchRedo = new IndexedBatchRedo();

export default function redoBatch(task: RedoBatchTask): RedoBatchResult {
  if (!(task.batch instanceof SharedArrayBuffer) || !Array.isArray(task.strataRecords)) throw new StrataError('PS_ERR_REDO_FAILED', 'a redo task carries no batch');
  const source = new Uint8Array(task.batch);
  const batch = batchIndex.read(source, task.strataRecords.length);
  const jobCount = batch.jobCount;
  if (!(task.pages instanceof SharedArrayBuffer) || task.pages.byteLength < jobCount * BLCKSZ) {
    throw new StrataError('PS_ERR_REDO_FAILED', `the batch's page buffer does not hold ${jobCount} pages`);
  }
  const pages = new Uint8Array(task.pages, 0, jobCount * BLCKSZ);
  batchRedo.prepare(batch, source);
  const errors: RedoBatchResult['errors'] = [];
  let recordsApplied = 0;
  for (let index = 0; index < jobCount; index++) {
    try {
      recordsApplied += batchRedo.reconstruct(index, source, task.strataRecords, pages.subarray(index * BLCKSZ, (index + 1) * BLCKSZ));
    } catch (error) {
      pages.fill(0, index * BLCKSZ, (index + 1) * BLCKSZ);
      const key = batch.key(source, index);
      const strata = isStrataError(error)
        ? error
        : new StrataError('PS_ERR_REDO_FAILED', `redo of ${key} failed: ${error instanceof Error ? error.message : String(error)}`, { key });
      errors.push({ index, error: strata.toJSON() });
    }
  }
  return { pagesWritten: jobCount, errors, recordsApplied };
}
