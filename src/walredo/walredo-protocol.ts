/** What the walredo pool (walredo-pool.ts) and its workers (workers/walredo-thread.ts) exchange. */
import type { SerializedStrataError } from '../errors.js';
import type { ReconstructData } from '../storage/value.js';

export interface RedoJob {
  /** The page's key (36 hex digits), for error messages. */
  key: string;
  data: ReconstructData;
}

export interface RedoBatchTask {
  jobs: RedoJob[];
}

export interface RedoBatchResult {
  /** jobs.length pages of BLCKSZ bytes, in job order (transferred); a failed job's slot is zeros. */
  pages: ArrayBuffer;
  errors: { index: number; error: SerializedStrataError }[];
  recordsApplied: number;
}
