/**
 * Shared helpers of the storage unit tests: temp directories, keys, values, a seeded random
 * generator, and a fault-injecting Fs wrapping the real one.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { relBlockKey, type Key } from '../../../src/keys.js';
import { nodeFs, type Fs, type FsFileHandle } from '../../../src/storage/fs.js';
import type { ReconstructData, Value } from '../../../src/value.js';

export function withTempDirectory<T>(body: (directory: string) => Promise<T>): Promise<T> {
  const directory = mkdtempSync(join(tmpdir(), 'strata-storage-'));
  return body(directory).finally(() => rmSync(directory, { recursive: true, force: true }));
}

export function blockKey(blockNumber: number, relNode = 16384): Key {
  return relBlockKey({ spcNode: 1663, dbNode: 5, relNode, forkNumber: 0 }, blockNumber);
}

export function page(fill: number, length = 8192): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let index = 0; index < length; index++) bytes[index] = (fill + index * 7) & 0xff;
  return bytes;
}

export function image(fill: number, length = 8192): Value {
  return { kind: 'image', bytes: page(fill, length) };
}

export function record(fill: number, willInit = false, length = 100): Value {
  return { kind: 'walRecord', willInit, blockId: fill & 0x1f, record: page(fill, length) };
}

/** Mulberry32: small, seedable, good enough for test data. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Faults {
  /** Total bytes the fs may write before a write throws (after writing part of its buffer). */
  writeBytesBudget?: number;
  failRename?: boolean;
  failSync?: boolean;
}

/** The real fs with failures injected according to `faults` (mutable during a test). */
export function faultyFs(faults: Faults): Fs {
  let written = 0;
  const wrap = (handle: FsFileHandle): FsFileHandle => ({
    read: (buffer, offset, length, position) => handle.read(buffer, offset, length, position),
    async write(buffer, offset, length, position) {
      const budget = faults.writeBytesBudget;
      if (budget !== undefined && written + length > budget) {
        const partial = Math.max(0, budget - written);
        if (partial > 0) await handle.write(buffer, offset, partial, position);
        written += partial;
        throw new Error('injected write failure');
      }
      written += length;
      return handle.write(buffer, offset, length, position);
    },
    sync: () => (faults.failSync ? Promise.reject(new Error('injected fsync failure')) : handle.sync()),
    size: () => handle.size(),
    close: () => handle.close(),
  });
  return {
    open: async (path, mode) => wrap(await nodeFs.open(path, mode)),
    rename: (source, target) => (faults.failRename ? Promise.reject(new Error('injected rename failure')) : nodeFs.rename(source, target)),
    unlink: (path) => nodeFs.unlink(path),
    readdir: (path) => nodeFs.readdir(path),
    mkdirRecursive: (path) => nodeFs.mkdirRecursive(path),
    syncDirectory: (path) => nodeFs.syncDirectory(path),
  };
}

/** Versions of every key, oldest first, as a reference model keeps them. */
export type ReferenceVersions = Map<string, { lsn: number; value: Value }[]>;

/** What a read of `key` at `lsn` must collect: the newest image or will-init version at or below it, and what follows. */
export function referenceReconstruct(versions: ReferenceVersions, key: string, lsn: number): ReconstructData | undefined {
  const visible = (versions.get(key) ?? []).filter((version) => version.lsn <= lsn);
  if (visible.length === 0) return undefined;
  let start = 0;
  for (let index = visible.length - 1; index >= 0; index--) {
    const value = visible[index]!.value;
    if (value.kind === 'image' || value.willInit) { start = index; break; }
  }
  const data: ReconstructData = { image: undefined, records: [] };
  for (const version of visible.slice(start)) {
    if (version.value.kind === 'image') data.image = { lsn: version.lsn, bytes: version.value.bytes };
    else data.records.push({ lsn: version.lsn, value: version.value });
  }
  return data;
}
