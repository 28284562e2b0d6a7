/**
 * Storage hot paths: puts into the open in-memory layer, flush to a delta file, and reconstruct
 * lookups served from layer files.
 *
 * Method: one process, warm JIT (a small warm-up round first), wall clock via performance.now().
 *   - image puts/s: 8,192 distinct keys × one 8 KiB image each (64 MiB), into an InMemoryLayer;
 *   - record puts/s: 500,000 puts of 100-byte WAL records over 10,000 keys, ascending LSNs;
 *   - flush MB/s: LayeredTimelineStore.flush of ~64 MiB of images + ~50 MiB of records to a temp
 *     directory (includes fsync and reopening the file);
 *   - lookups/s: getReconstructData of random keys at the latest LSN, from files only (image plus
 *     the records above it), sequentially awaited.
 *
 * Reference numbers (2-core container, Node 20.20, overlay disk), first run of this benchmark:
 *   image puts 103k/s (~800 MiB/s), record puts 2.9-3.6 M/s, flush 92-122 MiB/s (126 MiB),
 *   lookups 10.8k/s with 61 records + 1 image each (one coalesced positioned read per file).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { relBlockKey, type Key } from '../../src/keys.js';
import { silentLogger } from '../../src/observability/log.js';
import { InMemoryLayer } from '../../src/storage/in-memory-layer.js';
import { LayeredTimelineStore } from '../../src/storage/layered-timeline-store.js';
import type { Value } from '../../src/value.js';

const IMAGE_COUNT = 8192;
const RECORD_PUTS = 500_000;
const RECORD_KEYS = 10_000;
const LOOKUPS = 20_000;

function keys(count: number): Key[] {
  return Array.from({ length: count }, (_, block) => relBlockKey({ spcNode: 1663, dbNode: 5, relNode: 16384, forkNumber: 0 }, block));
}

function rate(count: number, milliseconds: number): number {
  return Math.round((count / milliseconds) * 1000);
}

function putImages(target: { put(key: Key, lsn: number, value: Value): void }, keyList: Key[], startLsn: number): number {
  const bytes = new Uint8Array(8192).fill(7);
  const value: Value = { kind: 'image', bytes };
  for (let index = 0; index < keyList.length; index++) target.put(keyList[index]!, startLsn + index, value);
  return startLsn + keyList.length;
}

function putRecords(target: { put(key: Key, lsn: number, value: Value): void }, keyList: Key[], startLsn: number, count: number): number {
  const value: Value = { kind: 'walRecord', willInit: false, blockId: 0, record: new Uint8Array(100).fill(3) };
  for (let index = 0; index < count; index++) target.put(keyList[index % keyList.length]!, startLsn + index, value);
  return startLsn + count;
}

export async function run(): Promise<{ name: string; results: Record<string, number | string> }> {
  const imageKeys = keys(IMAGE_COUNT);
  const recordKeys = keys(RECORD_KEYS);
  putRecords(new InMemoryLayer(), recordKeys, 1, 50_000);
  let started = performance.now();
  putImages(new InMemoryLayer(), imageKeys, 1);
  const imagePutsPerSecond = rate(IMAGE_COUNT, performance.now() - started);
  started = performance.now();
  putRecords(new InMemoryLayer(), recordKeys, 1, RECORD_PUTS);
  const recordPutsPerSecond = rate(RECORD_PUTS, performance.now() - started);

  const directory = mkdtempSync(join(tmpdir(), 'strata-bench-storage-'));
  try {
    const store = await LayeredTimelineStore.open({ directory, logger: silentLogger() });
    let lsn = putImages(store, imageKeys, 1);
    lsn = putRecords(store, imageKeys, lsn, RECORD_PUTS);
    const flushedBytes = store.openLayerBytes;
    started = performance.now();
    await store.flush(lsn);
    const flushMilliseconds = performance.now() - started;
    started = performance.now();
    let seed = 12345;
    for (let index = 0; index < LOOKUPS; index++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      await store.getReconstructData(imageKeys[seed % IMAGE_COUNT]!, lsn);
    }
    const lookupsPerSecond = rate(LOOKUPS, performance.now() - started);
    await store.close();
    return {
      name: 'storage/put-get',
      results: {
        imagePutsPerSecond,
        recordPutsPerSecond,
        flushMegabytesPerSecond: Math.round((flushedBytes / 1048576 / flushMilliseconds) * 1000),
        flushedMegabytes: Math.round(flushedBytes / 1048576),
        lookupsPerSecond,
        recordsPerLookup: Math.round(RECORD_PUTS / IMAGE_COUNT),
      },
    };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await run()));
}
