/**
 * TimelineMetadataWriter (timeline-metadata.ts): overlapping updates of the metadata file (a
 * flush's disk_consistent_lsn, GC's cutoff) land in the order they were asked for. Found by the
 * crash simulation: unserialized, the older of two overlapping writes could finish last, and the
 * persisted GC cutoff went back below the one GC had deleted layers for. The simulated disk's
 * seeded latency makes overlapping writes finish in varied orders, the same way for each seed.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedDisk } from '../../../src/storage/sim-fs.js';
import { readTimelineMetadata, TimelineMetadataWriter, writeTimelineMetadata, type TimelineMetadata } from '../../../src/storage/timeline-metadata.js';
import { seededRandom } from './storage-harness.js';

const DIRECTORY = '/sim/timeline';
const INITIAL: TimelineMetadata = {
  diskConsistentLsn: 0, prevRecordLsn: 0, ancestorTimelineId: null, ancestorLsn: 0, latestGcCutoffLsn: 0, initdbLsn: 0, pgVersion: 15, walSource: null,
};

async function hops(count: number): Promise<void> {
  for (let hop = 0; hop < count; hop++) await Promise.resolve();
}

test('overlapping updates land in order: the file ends with every update, whatever the I/O timing', async () => {
  let overlapped = 0;
  for (let seed = 1; seed <= 60; seed++) {
    const random = seededRandom(seed);
    const disk = new SimulatedDisk({ random: seededRandom(seed + 1000), unsyncedWrites: 'drop', unsyncedDirectoryChanges: 'drop', latency: true });
    const fs = disk.mount();
    await fs.mkdirRecursive(DIRECTORY);
    await writeTimelineMetadata(fs, DIRECTORY, INITIAL);
    const writer = new TimelineMetadataWriter(fs, DIRECTORY, INITIAL);
    for (let round = 1; round <= 8; round++) {
      const flush = writer.update({ diskConsistentLsn: round * 100 });
      await hops(Math.floor(random() * 40));
      const gc = writer.update({ latestGcCutoffLsn: round * 100 - 50 });
      const [flushed, collected] = await Promise.all([flush, gc]);
      if (flushed.latestGcCutoffLsn !== collected.latestGcCutoffLsn) overlapped++;
      assert.equal(await readTimelineMetadata(fs, DIRECTORY), writer.current, `seed ${seed} round ${round}`);
      assert.is(writer.current.latestGcCutoffLsn, round * 100 - 50);
      assert.is(writer.current.diskConsistentLsn, round * 100);
    }
  }
  assert.ok(overlapped > 0, 'some updates were asked while an earlier write was in flight');
});

test('a failed write does not lose its update: the next write carries it', async () => {
  const disk = new SimulatedDisk({ random: seededRandom(5), unsyncedWrites: 'drop', unsyncedDirectoryChanges: 'drop' });
  const fs = disk.mount();
  await fs.mkdirRecursive(DIRECTORY);
  const writer = new TimelineMetadataWriter(fs, DIRECTORY, INITIAL);
  disk.crashAtOperation = disk.operations + 1;
  await writer.update({ latestGcCutoffLsn: 70 }).then(() => assert.unreachable('the disk froze'), () => undefined);
  disk.crash();
  const after = new TimelineMetadataWriter(disk.mount(), DIRECTORY, writer.current);
  await after.update({ diskConsistentLsn: 90 });
  const persisted = await readTimelineMetadata(disk.mount(), DIRECTORY);
  assert.is(persisted?.latestGcCutoffLsn, 70);
  assert.is(persisted?.diskConsistentLsn, 90);
});

test.run();
