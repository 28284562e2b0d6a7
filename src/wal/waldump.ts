/**
 * `strata waldump FILE…`: decodes WAL segment files offline and prints one line per record in
 * the layout of PostgreSQL 15's pg_waldump, so the two outputs can be diffed field by field.
 *
 * WHY the exact layout: pg_waldump is the reference decoder. Matching its columns (pg_waldump.c
 * XLogDumpDisplayRecord and xlogdesc.c XLogRecGetBlockRefInfo, short format) turns every decoder
 * check into a text diff:
 *
 *   rmgr: %-11s len (rec/tot): %6u/%6u, tx: %10u, lsn: %X/%08X, prev %X/%08X, desc: NAME DETAIL
 *   then per block reference: `, blkref #N: rel S/D/R blk B` (`fork F` before `blk` unless the
 *   main fork), then ` FPW` when an image is to be applied, or ` FPW for WAL verification`.
 *
 * `rec` is the record length without image bytes (xl_tot_len minus every bimg_len). DETAIL is the
 * rmgr-specific description; it comes from an optional `describe` function (the typed record
 * decoders provide one) and is empty otherwise, so a line reads `desc: INSERT , blkref #0: …`.
 */
import { assert } from '../assert.js';
import type { Lsn } from '../lsn.js';
import { recordTypeName } from './record-names.js';
import { readWalFileBatches } from './segment-reader.js';
import type { WalFileOptions } from './segment-reader.js';
import { FORK_NAMES, RMGR_NAMES } from './types.js';
import type { DecodedRecord } from './types.js';

/** Returns the rmgr-specific detail pg_waldump prints after the record type name (may be ''). */
export type RecordDescriber = (record: DecodedRecord) => string;

const OUTPUT_BATCH_CHARACTERS = 256 * 1024;
const TWO_TO_32 = 0x1_0000_0000;

/** pg_waldump's `%X/%08X`: upper-case hex, the low half zero-padded to eight digits. */
export function formatLsnPadded(lsn: Lsn): string {
  const high = Math.floor(lsn / TWO_TO_32);
  const low = lsn % TWO_TO_32;
  return `${high.toString(16).toUpperCase()}/${low.toString(16).toUpperCase().padStart(8, '0')}`;
}

/** The record length pg_waldump prints as `rec`: total length minus all image bytes. */
export function recordLengthWithoutImages(record: DecodedRecord): number {
  let imageBytes = 0;
  for (const block of record.blocks) if (block.imageBytes !== undefined) imageBytes += block.imageBytes.length;
  return record.totalLength - imageBytes;
}

/** The `, blkref #N: …` suffix of every block reference. */
export function formatBlockReferences(record: DecodedRecord): string {
  let text = '';
  for (const block of record.blocks) {
    const rel = block.rel;
    text += `, blkref #${block.blockId}: rel ${rel.spcNode}/${rel.dbNode}/${rel.relNode}`;
    if (block.forkNumber !== 0) text += ` fork ${FORK_NAMES[block.forkNumber] ?? 'unknown'}`;
    text += ` blk ${block.blockNumber}`;
    if (block.hasImage) text += block.applyImage ? ' FPW' : ' FPW for WAL verification';
  }
  return text;
}

/** One record as pg_waldump prints it (without the newline). */
export function formatRecordLine(record: DecodedRecord, describe?: RecordDescriber): string {
  const rmgrName = RMGR_NAMES[record.rmgrId] ?? `custom${String(record.rmgrId).padStart(3, '0')}`;
  const detail = describe === undefined ? '' : describe(record);
  return (
    `rmgr: ${rmgrName.padEnd(11)} ` +
    `len (rec/tot): ${String(recordLengthWithoutImages(record)).padStart(6)}/${String(record.totalLength).padStart(6)}, ` +
    `tx: ${String(record.xid).padStart(10)}, ` +
    `lsn: ${formatLsnPadded(record.lsn)}, prev ${formatLsnPadded(record.prevLsn)}, ` +
    `desc: ${recordTypeName(record.rmgrId, record.info)} ${detail}` +
    formatBlockReferences(record)
  );
}

async function write(out: NodeJS.WritableStream, text: string): Promise<void> {
  if (out.write(text)) return;
  await new Promise<void>((resolve) => out.once('drain', () => resolve()));
}

export interface WaldumpOptions extends WalFileOptions {
  describe?: RecordDescriber;
}

/** Decodes the files and writes one pg_waldump-style line per record; returns the record count. */
export async function runWaldump(files: string[], out: NodeJS.WritableStream, options: WaldumpOptions = {}): Promise<number> {
  assert(files.length > 0, 'waldump needs at least one file');
  let count = 0;
  let pending = '';
  for await (const batch of readWalFileBatches(files, options)) {
    for (const record of batch) {
      pending += formatRecordLine(record, options.describe) + '\n';
      count++;
      if (pending.length >= OUTPUT_BATCH_CHARACTERS) {
        await write(out, pending);
        pending = '';
      }
    }
  }
  if (pending.length > 0) await write(out, pending);
  assert(count >= 0, 'record count is never negative');
  return count;
}
