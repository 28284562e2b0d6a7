/**
 * Which redo module handles which resource manager (by rmgr id, wal/types.ts RmgrId). Resource
 * managers whose records never reference a relation page (XLOG apart from full-page images, which
 * the dispatcher restores; transaction, CLOG, multixact, standby, relmap, dbase, tablespace,
 * commit_ts, replication origin, logical message) have no entry: their effects on pages Strata
 * serves come through Strata records (CLOG, visibility map, multixact) or metadata.
 */
import { RmgrId } from '../wal/types.js';
import { brinRedo } from './brin.js';
import { btreeRedo } from './btree.js';
import { genericRedo } from './generic.js';
import { ginRedo } from './gin.js';
import { gistAfterImageRestore, gistRedo } from './gist.js';
import { hashRedo } from './hash.js';
import { heap2Redo } from './heap2.js';
import { heapRedo } from './heap.js';
import { sequenceRedo } from './sequence.js';
import { spgistRedo } from './spgist.js';
import type { RmgrRedo } from './types.js';

export const RMGR_REDO: readonly (RmgrRedo | undefined)[] = (() => {
  const table: (RmgrRedo | undefined)[] = new Array(256).fill(undefined);
  table[RmgrId.Heap] = heapRedo;
  table[RmgrId.Heap2] = heap2Redo;
  table[RmgrId.Btree] = btreeRedo;
  table[RmgrId.Hash] = hashRedo;
  table[RmgrId.Gin] = ginRedo;
  table[RmgrId.Gist] = { ...gistRedo, afterImageRestore: (page, record, blockId) => { gistAfterImageRestore(page, record, blockId); } };
  table[RmgrId.SPGist] = spgistRedo;
  table[RmgrId.BRIN] = brinRedo;
  table[RmgrId.Sequence] = sequenceRedo;
  table[RmgrId.Generic] = genericRedo;
  return table;
})();
