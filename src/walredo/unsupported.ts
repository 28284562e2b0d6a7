/** The redo of a resource manager (or record type) Strata does not implement: a clear error, never a page. */
import { StrataError } from '../errors.js';
import { formatLsn } from '../lsn.js';
import type { RmgrRedo } from './types.js';

export function unsupportedRedo(name: string): RmgrRedo {
  return {
    name,
    redo(_page, record, blockId) {
      throw new StrataError('PS_ERR_REDO_UNSUPPORTED', `redo of ${name} records (info 0x${record.info.toString(16)}) is not implemented`, {
        rmgr: name, info: record.info, lsn: formatLsn(record.lsn), block_id: blockId,
      });
    },
  };
}
