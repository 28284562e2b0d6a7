/**
 * Visibility-map pages copied by CREATE DATABASE ... STRATEGY WAL_LOG (PostgreSQL 15's default),
 * given the bits the primary's copy has although the WAL does not carry them.
 *
 * WHY: WAL_LOG copies every page of every fork of the template through shared buffers and logs
 * each copy as an XLOG_FPI record (bufmgr.c RelationCopyStorageUsingBuffer: memcpy, then
 * log_newpage_buffer with page_std = true). A visibility-map page is initialized with pd_lower 24
 * and pd_upper 8192, and keeps its bits in what a standard page calls its hole, so the logged image
 * holds only the 24-byte page header. The primary's copy has the template's bits; PostgreSQL's own
 * redo (a standby) restores a VM page without any. Strata returns the primary's page.
 *
 * How: such an image is recognised by its shape (a VM-fork image whose hole runs from byte 24 to
 * the end: no other path logs VM pages as standard pages; heap VISIBLE records and ALTER TABLE SET
 * TABLESPACE log them whole). The copy keeps its relfilenode, and its header is the template page's
 * header byte for byte (pd_lsn, flags, pointers: the image is taken before the copy's LSN is set),
 * so the source is the page of the same relfilenode and block in another database whose header
 * equals the image's just before the record. That page, stamped with the record's LSN as redo
 * stamps a restored image, is what the primary wrote. Without such a page (the template dropped,
 * or no header matches) the image is stored as PostgreSQL's redo restores it, without bits.
 */
import { relBlockKey, type Key } from '../keys.js';
import type { Lsn } from '../lsn.js';
import { stampRestoredImage } from '../page-lsn.js';
import type { TimelineStore } from '../storage/types.js';
import { decodeBlockImage } from '../wal/wal-decoder.js';
import { BLCKSZ, ForkNumber, type DecodedBlock, type DecodedRecord } from '../wal/types.js';
import { XLOG_FPI } from '../wal/records/xlog.js';
import { RmgrId } from '../wal/types.js';
import { ABSENT, type MetadataCache } from './metadata-cache.js';
import { parseDbDirEntry } from './metadata-codec.js';
import { materializeAt, type PageMaterializer } from './relation-ops.js';

const PAGE_HEADER_BYTES = 24;
const FORK_BIT_VM = 1 << ForkNumber.VisibilityMap;

/** A block of an XLOG_FPI record whose image lost a VM page's bits to the standard-page hole. */
export function isBitlessVmCopy(record: DecodedRecord, block: DecodedBlock): boolean {
  return record.rmgrId === RmgrId.Xlog && (record.info & 0xf0) === XLOG_FPI && block.forkNumber === ForkNumber.VisibilityMap
    && block.hasImage && block.applyImage && block.holeOffset === PAGE_HEADER_BYTES && block.holeOffset + block.holeLength === BLCKSZ;
}

export interface VmCopyOptions {
  store: TimelineStore;
  cache: MetadataCache;
  /** The state just before the record: its start, or the previous record's end. */
  readLsn: Lsn;
  materializePage: PageMaterializer | undefined;
}

/**
 * The page the primary wrote for `block` (see isBitlessVmCopy), stamped with the record's LSN, or
 * undefined when no source page is found.
 */
export async function recoverVmCopy(options: VmCopyOptions, record: DecodedRecord, block: DecodedBlock): Promise<Uint8Array | undefined> {
  const header = decodeBlockImage(block).subarray(0, PAGE_HEADER_BYTES);
  for (const entry of await options.cache.databases()) {
    const { spcNode, dbNode } = parseDbDirEntry(entry);
    if (spcNode === block.rel.spcNode && dbNode === block.rel.dbNode) continue;
    const source = await sourcePage(options, { spcNode, dbNode, relNode: block.rel.relNode, forkNumber: ForkNumber.VisibilityMap }, block.blockNumber);
    if (source === undefined || !sameBytes(source, header)) continue;
    const page = source.slice();
    stampRestoredImage(page, 0, record.endLsn);
    return page;
  }
  return undefined;
}

async function sourcePage(options: VmCopyOptions, rel: { spcNode: number; dbNode: number; relNode: number; forkNumber: number }, blockNumber: number): Promise<Uint8Array | undefined> {
  const directory = await options.cache.relDir(rel.spcNode, rel.dbNode);
  if (((directory.get(rel.relNode) ?? 0) & FORK_BIT_VM) === 0) return undefined;
  const size = await options.cache.size(rel);
  if (size === ABSENT || blockNumber >= size) return undefined;
  const key: Key = relBlockKey(rel, blockNumber);
  if (options.materializePage === undefined) {
    // Without redo (ingest tools and tests) only a page stored whole can be the source.
    const data = await options.store.getReconstructData(key, options.readLsn);
    return data?.records.length === 0 ? data.image?.bytes : undefined;
  }
  return materializeAt(options.store, key, options.readLsn, options.materializePage);
}

function sameBytes(page: Uint8Array, header: Uint8Array): boolean {
  for (let index = 0; index < header.length; index++) if (page[index] !== header[index]) return false;
  return true;
}
