/**
 * GetPage@LSN's last step: a page from its ReconstructData (the newest image at or below the LSN
 * and the values after it, storage/value.ts). PostgreSQL WAL records go through the redo
 * dispatcher (redo.ts), Strata records through strata-records.ts; without an image the page starts
 * as zeros (the oldest value initializes it).
 *
 * Pure and synchronous: it runs on the walredo worker threads (workers/walredo-thread.ts) and in
 * tests. Errors are StrataErrors naming the key and the value's LSN.
 */
import { isStrataError, StrataError } from '../errors.js';
import { formatLsn } from '../lsn.js';
import type { ReconstructData } from '../storage/value.js';
import { decodeXLogRecord } from '../wal/xlog-record.js';
import { BLCKSZ } from './page.js';
import { redoBlock } from './redo.js';
import { applyStrataRecord } from './strata-records.js';

/** Builds the page of `key` from `data` into `target` (BLCKSZ bytes; a new page when omitted). */
export function reconstructPage(key: string, data: ReconstructData, target?: Uint8Array): Uint8Array {
  return reconstructNamed({ key }, data, target);
}

/**
 * reconstructPage for a job whose key is read only when an error names it. WHY: the walredo
 * worker's jobs carry their keys packed (redo-batch-codec.ts); making a string of each key cost
 * as much as redoing a short chain.
 */
export function reconstructJob(job: { readonly key: string; readonly data: ReconstructData }, target: Uint8Array): Uint8Array {
  return reconstructNamed(job, job.data, target);
}

function reconstructNamed(named: { readonly key: string }, data: ReconstructData, target?: Uint8Array): Uint8Array {
  const page = target ?? new Uint8Array(BLCKSZ);
  if (page.length !== BLCKSZ) throw new StrataError('PS_ERR_REDO_FAILED', `a page is ${BLCKSZ} bytes, got ${page.length}`);
  if (data.image === undefined) {
    page.fill(0);
  } else {
    if (data.image.bytes.length !== BLCKSZ) {
      throw new StrataError('PS_ERR_REDO_FAILED', `image of ${named.key} at ${formatLsn(data.image.lsn)} is ${data.image.bytes.length} bytes, not a page`, { key: named.key });
    }
    page.set(data.image.bytes);
  }
  for (const { lsn, value } of data.records) {
    try {
      if (value.kind === 'walRecord') {
        // The value is stored at the record's end LSN; its start is not kept (messages only).
        const record = decodeXLogRecord(value.record, lsn, lsn);
        redoBlock(page, record, value.blockId);
      } else {
        applyStrataRecord(page, value.record);
      }
    } catch (error) {
      if (isStrataError(error)) {
        throw new StrataError(error.code, `${named.key} at ${formatLsn(lsn)}: ${error.message}`, { ...error.context, key: named.key, value_lsn: formatLsn(lsn) }, { cause: error });
      }
      throw new StrataError('PS_ERR_REDO_FAILED', `${named.key} at ${formatLsn(lsn)}: ${error instanceof Error ? error.message : String(error)}`, { key: named.key }, { cause: error });
    }
  }
  return page;
}
