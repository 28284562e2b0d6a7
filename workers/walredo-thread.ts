/**
 * A walredo worker (piscina task module, src/walredo/walredo-pool.ts): reconstructs a batch of
 * pages with Strata's TypeScript redo (src/walredo/reconstruct.ts), reading the packed jobs in
 * place (src/walredo/redo-batch-codec.ts) and writing the pages straight into the batch's page
 * buffer (shared memory the pool reuses from batch to batch). A job that fails fails alone: its error (a serialized StrataError naming the
 * key, LSN and record type) goes back in its slot, and the other jobs of the batch still run.
 */
import { isStrataError, StrataError } from '../src/errors.js';
import { BLCKSZ } from '../src/walredo/page.js';
import { reconstructJob } from '../src/walredo/reconstruct.js';
import { decodeRedoBatch } from '../src/walredo/redo-batch-codec.js';
import type { RedoBatchResult, RedoBatchTask } from '../src/walredo/walredo-protocol.js';

export default function redoBatch(task: RedoBatchTask): RedoBatchResult {
  if (!(task.batch instanceof SharedArrayBuffer) || !Array.isArray(task.strataRecords)) throw new StrataError('PS_ERR_REDO_FAILED', 'a redo task carries no batch');
  const jobs = decodeRedoBatch(new Uint8Array(task.batch), task.strataRecords);
  if (!(task.pages instanceof SharedArrayBuffer) || task.pages.byteLength < jobs.length * BLCKSZ) {
    throw new StrataError('PS_ERR_REDO_FAILED', `the batch's page buffer does not hold ${jobs.length} pages`);
  }
  const pages = new Uint8Array(task.pages, 0, jobs.length * BLCKSZ);
  const errors: RedoBatchResult['errors'] = [];
  let recordsApplied = 0;
  jobs.forEach((job, index) => {
    try {
      reconstructJob(job, pages.subarray(index * BLCKSZ, (index + 1) * BLCKSZ));
      recordsApplied += job.data.records.length;
    } catch (error) {
      pages.fill(0, index * BLCKSZ, (index + 1) * BLCKSZ);
      const strata = isStrataError(error)
        ? error
        : new StrataError('PS_ERR_REDO_FAILED', `redo of ${job.key} failed: ${error instanceof Error ? error.message : String(error)}`, { key: job.key });
      errors.push({ index, error: strata.toJSON() });
    }
  });
  return { pagesWritten: jobs.length, errors, recordsApplied };
}
