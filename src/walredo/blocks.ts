/**
 * Block lookup shared by the dispatcher and the redo modules. WHY its own module: redo.ts imports
 * the rmgr table, which imports every redo module; a redo module that imported redo.ts would close
 * an import cycle in which, loaded first, it could see the table before its own export exists.
 */
import type { DecodedBlock, DecodedRecord } from '../wal/types.js';

/** The block reference `blockId` of `record`, or undefined. */
export function findBlock(record: DecodedRecord, blockId: number): DecodedBlock | undefined {
  const blocks = record.blocks;
  for (let index = 0; index < blocks.length; index++) if (blocks[index]!.blockId === blockId) return blocks[index];
  return undefined;
}
