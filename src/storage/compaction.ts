/**
 * L0 → L1 compaction: the pure file work (which layers to merge, and when, is the store's and its
 * compaction actor's business).
 *
 * WHY: every L0 delta covers the whole key space, so a read must search each of them. Merging a
 * run of L0 files into L1 deltas partitioned by key range means a read of key K searches only the
 * one L1 file of that run that holds K.
 *
 *   L0  [ all keys | LSN a..b ) [ all keys | b..c ) ... [ all keys | y..z )
 *                                  │ k-way merge by (key, LSN)
 *                                  ▼
 *   L1  [ keys k0..k1 | a..z ) [ keys k1..k2 | a..z ) ... each about targetFileBytes
 *
 * The merge streams: each input is read in spans (LayerFileReader.scanEncoded) and each output is
 * written through the crash-safe LayerFileWriter, whose memory is its index (48 bytes per
 * version); values are copied as their encoded bytes, checked by CRC on the way in and
 * checksummed again on the way out, never decoded. An output file is cut only between keys, so
 * all versions of a key in this LSN range sit in one L1 file. A (key, LSN) found in two inputs
 * (possible only after an interrupted compaction was retried) is written once, from the newer
 * input.
 */
import { assert } from '../assert.js';
import type { Key } from '../keys.js';
import type { Lsn } from '../lsn.js';
import type { Fs } from './fs.js';
import { LayerFileKind } from './layer-file-format.js';
import type { LayerFileReader, ScannedEntry } from './layer-file-reader.js';
import { LayerFileWriter, type FinishedLayerFile } from './layer-file-writer.js';

export interface CompactL0Options {
  fs: Fs;
  directory: string;
  /** The L0 files to merge, any order. */
  inputs: readonly LayerFileReader[];
  /** An output file is closed at the first key boundary past this size. */
  targetFileBytes: number;
  /** Called between output files (a failpoint, an abort check). */
  betweenFiles?: () => Promise<void>;
}

export interface CompactL0Result {
  outputs: FinishedLayerFile[];
  lsnStart: Lsn;
  lsnEnd: Lsn;
  entries: number;
  bytesWritten: number;
}

/** The LSN range the L1 outputs of merging `inputs` carry. */
export function compactionLsnRange(inputs: readonly { lsnStart: Lsn; lsnEnd: Lsn }[]): { lsnStart: Lsn; lsnEnd: Lsn } {
  assert(inputs.length > 0, 'compaction needs inputs');
  return {
    lsnStart: Math.min(...inputs.map((input) => input.lsnStart)),
    lsnEnd: Math.max(...inputs.map((input) => input.lsnEnd)),
  };
}

interface Cursor {
  iterator: AsyncGenerator<ScannedEntry>;
  current: ScannedEntry | undefined;
  /** Higher wins a (key, LSN) tie: the input with the higher lsnEnd. */
  rank: number;
}

/** Merges `inputs` into L1 delta files; every input version lands in exactly one output. */
export async function compactL0(options: CompactL0Options): Promise<CompactL0Result> {
  assert(options.targetFileBytes > 0, 'target file size must be positive');
  const { lsnStart, lsnEnd } = compactionLsnRange(options.inputs);
  const ranked = [...options.inputs].sort((left, right) => left.lsnEnd - right.lsnEnd);
  const cursors: Cursor[] = [];
  for (let rank = 0; rank < ranked.length; rank++) {
    const iterator = ranked[rank]!.scanEncoded();
    const first = await iterator.next();
    cursors.push({ iterator, current: first.done ? undefined : first.value, rank });
  }
  const outputs: FinishedLayerFile[] = [];
  let writer: LayerFileWriter | undefined;
  let entries = 0;
  let bytesWritten = 0;
  let lastKey: Key | undefined;
  let lastLsn = -1;
  try {
    for (;;) {
      // Smallest (key, LSN); on a tie the newest input. Inputs are few (about compaction_threshold).
      let best: Cursor | undefined;
      for (const cursor of cursors) {
        const entry = cursor.current;
        if (entry === undefined) continue;
        const held = best?.current;
        if (held === undefined || entry.key < held.key || (entry.key === held.key && (entry.lsn < held.lsn || (entry.lsn === held.lsn && cursor.rank > best!.rank)))) best = cursor;
      }
      if (best === undefined) break;
      const entry = best.current!;
      const duplicate = entry.key === lastKey && entry.lsn === lastLsn;
      if (!duplicate) {
        if (writer !== undefined && entry.key !== lastKey && writer.bytesEstimate >= options.targetFileBytes) {
          const full = writer;
          writer = undefined;
          const finished = await full.finish({ lsnStart, lsnEnd });
          outputs.push(finished);
          bytesWritten += finished.fileBytes;
          await options.betweenFiles?.();
        }
        writer ??= await LayerFileWriter.create(options.fs, options.directory, LayerFileKind.Delta);
        await writer.add(entry.key, entry.lsn, entry.encoded);
        entries++;
        lastKey = entry.key;
        lastLsn = entry.lsn;
      }
      // Drop every other input's copy of this (key, LSN), then advance.
      for (const cursor of cursors) {
        while (cursor.current !== undefined && cursor !== best && cursor.current.key === entry.key && cursor.current.lsn === entry.lsn) {
          const next = await cursor.iterator.next();
          cursor.current = next.done ? undefined : next.value;
        }
      }
      const next = await best.iterator.next();
      best.current = next.done ? undefined : next.value;
    }
    if (writer !== undefined) {
      const finished = await writer.finish({ lsnStart, lsnEnd });
      writer = undefined;
      outputs.push(finished);
      bytesWritten += finished.fileBytes;
    }
  } catch (error) {
    await writer?.abort();
    for (const cursor of cursors) await cursor.iterator.return(undefined);
    throw error;
  }
  return { outputs, lsnStart, lsnEnd, entries, bytesWritten };
}
