/**
 * PostgreSQL's page masking before a consistency comparison (access/common/bufmask.c and each
 * access method's rm_mask). Placeholder until the masking module lands: masks only the page LSN
 * and checksum, which every rm_mask masks.
 */
import type { PageMask } from './types.js';

const maskLsnAndChecksum: PageMask = (page) => {
  page.fill(0, 0, 10);
};

/** Masks `page` (block `blockNumber`) as the rm_mask of resource manager `rmgrId` does. */
export function maskPage(rmgrId: number, page: Uint8Array, blockNumber: number): void {
  void rmgrId;
  maskLsnAndChecksum(page, blockNumber);
}
