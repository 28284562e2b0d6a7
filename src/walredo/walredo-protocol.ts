/** What the walredo pool (walredo-pool.ts) and its workers (workers/walredo-thread.ts) exchange. */
import type { SerializedStrataError } from '../errors.js';
import type { ReconstructData, StrataRecord } from '../value.js';

export interface RedoJob {
  /** The page's key (36 hex digits), for error messages. */
  key: string;
  data: ReconstructData;
}

export interface RedoBatchTask {
  /** The jobs, packed by redo-batch-codec.ts (the pool's input buffer, reused). */
  batch: SharedArrayBuffer;
  /** The Strata records the packed jobs refer to by index. */
  strataRecords: StrataRecord[];
  /**
   * The batch's page buffer (walredo-pool.ts, reused from batch to batch): the worker writes page
   * `index` of the batch at `index * BLCKSZ`; a failed job's slot is zeroed.
   */
  pages: SharedArrayBuffer;
}

export interface RedoBatchResult {
  /** Pages the worker wrote into the task's buffer: jobs.length. */
  pagesWritten: number;
  errors: { index: number; error: SerializedStrataError }[];
  recordsApplied: number;
}
