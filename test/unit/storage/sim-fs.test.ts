/**
 * The simulated disk (src/storage/sim-fs.ts) keeps exactly what POSIX promises across a crash,
 * and its crash points and injected errors behave as the crash simulation relies on. Last, the
 * crash-safe write protocol (crashsafe.ts) is run against a crash at every one of its operations:
 * the file is then always wholly old or wholly new.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readSmallFile, writeFileCrashSafe } from '../../../src/storage/crashsafe.js';
import type { Fs } from '../../../src/storage/fs.js';
import { SimulatedCrash, SimulatedDisk, type SimulatedDiskOptions } from '../../../src/storage/sim-fs.js';
import { seededRandom } from './storage-harness.js';

const DIRECTORY = '/sim/timeline';

function disk(options: Partial<SimulatedDiskOptions> = {}): SimulatedDisk {
  return new SimulatedDisk({ random: seededRandom(7), unsyncedWrites: 'drop', unsyncedDirectoryChanges: 'drop', ...options });
}

async function mounted(simulated: SimulatedDisk): Promise<Fs> {
  const fs = simulated.mount();
  await fs.mkdirRecursive(DIRECTORY);
  return fs;
}

async function writeFile(fs: Fs, name: string, text: string, steps: { sync: boolean }): Promise<void> {
  const handle = await fs.open(`${DIRECTORY}/${name}`, 'createExclusive');
  await handle.write(Buffer.from(text), 0, text.length, 0);
  if (steps.sync) await handle.sync();
  await handle.close();
}

async function text(fs: Fs, name: string): Promise<string> {
  return (await readSmallFile(fs, `${DIRECTORY}/${name}`)).toString('utf8');
}

test('a created file whose directory was not fsynced disappears; one that was stays', async () => {
  const simulated = disk();
  const fs = await mounted(simulated);
  await writeFile(fs, 'kept', 'durable', { sync: true });
  await fs.syncDirectory(DIRECTORY);
  await writeFile(fs, 'lost', 'data synced, entry not', { sync: true });
  assert.equal(await fs.readdir(DIRECTORY), ['kept', 'lost']);
  simulated.crash();
  const after = simulated.mount();
  assert.equal(await after.readdir(DIRECTORY), ['kept']);
  assert.is(await text(after, 'kept'), 'durable');
});

test('unsynced writes are lost (drop) or kept as a prefix (torn)', async () => {
  const dropping = disk();
  const fs = await mounted(dropping);
  await writeFile(fs, 'file', 'never synced', { sync: false });
  await fs.syncDirectory(DIRECTORY);
  dropping.crash();
  assert.is(await text(dropping.mount(), 'file'), '');
  const prefixes = new Set<string>();
  for (let seed = 0; seed < 40; seed++) {
    const tearing = disk({ unsyncedWrites: 'torn', random: seededRandom(seed) });
    const torn = await mounted(tearing);
    const handle = await torn.open(`${DIRECTORY}/file`, 'createExclusive');
    await handle.write(Buffer.from('abc'), 0, 3, 0);
    await handle.sync();
    await handle.write(Buffer.from('defg'), 0, 4, 3);
    await handle.write(Buffer.from('hij'), 0, 3, 7);
    await torn.syncDirectory(DIRECTORY);
    tearing.crash();
    const content = await text(tearing.mount(), 'file');
    assert.ok('abcdefghij'.startsWith(content) && content.startsWith('abc'), `a torn file is its synced bytes plus a prefix: ${content}`);
    prefixes.add(content);
  }
  assert.ok(prefixes.size >= 4, `several tear points seen: ${[...prefixes].join(' ')}`);
});

test('a rename or unlink not followed by a directory fsync is undone', async () => {
  const simulated = disk();
  const fs = await mounted(simulated);
  await writeFile(fs, 'a', 'A', { sync: true });
  await writeFile(fs, 'b', 'B', { sync: true });
  await fs.syncDirectory(DIRECTORY);
  await fs.rename(`${DIRECTORY}/a`, `${DIRECTORY}/b`);
  await fs.unlink(`${DIRECTORY}/b`);
  assert.equal(await fs.readdir(DIRECTORY), []);
  simulated.crash();
  const after = simulated.mount();
  assert.equal(await after.readdir(DIRECTORY), ['a', 'b']);
  assert.is(await text(after, 'b'), 'B');
  await after.rename(`${DIRECTORY}/a`, `${DIRECTORY}/b`);
  await after.syncDirectory(DIRECTORY);
  simulated.crash();
  assert.equal(await simulated.mount().readdir(DIRECTORY), ['b']);
  assert.is(await text(simulated.mount(), 'b'), 'A');
});

test('with the prefix mode, unsynced directory changes survive in order, never out of it', async () => {
  const outcomes = new Set<string>();
  for (let seed = 0; seed < 40; seed++) {
    const simulated = disk({ unsyncedDirectoryChanges: 'prefix', random: seededRandom(seed) });
    const fs = await mounted(simulated);
    await writeFile(fs, 'x', 'X', { sync: true });
    await fs.rename(`${DIRECTORY}/x`, `${DIRECTORY}/y`);
    await fs.unlink(`${DIRECTORY}/y`);
    simulated.crash();
    const names = (await simulated.mount().readdir(DIRECTORY)).join(',');
    assert.ok(['', 'x', 'y'].includes(names), `a prefix of create, rename, unlink: '${names}'`);
    outcomes.add(names);
  }
  assert.equal([...outcomes].sort(), ['', 'x', 'y']);
});

test('the crash point throws, freezes the disk, and kills the mounted Fs for good', async () => {
  const simulated = disk();
  const fs = await mounted(simulated);
  simulated.crashAtOperation = simulated.operations + 3;
  const handle = await fs.open(`${DIRECTORY}/f`, 'createExclusive');
  await handle.write(Buffer.from('12'), 0, 2, 0);
  try {
    await handle.sync();
    assert.unreachable('the third operation is the crash point');
  } catch (error) {
    assert.instance(error, SimulatedCrash);
    assert.is((error as SimulatedCrash).operation, 'sync');
  }
  assert.ok(simulated.frozen);
  await fs.readdir(DIRECTORY).then(() => assert.unreachable('frozen'), (error: unknown) => assert.instance(error, SimulatedCrash));
  simulated.crash();
  await fs.readdir(DIRECTORY).then(() => assert.unreachable('a dead process'), (error: unknown) => assert.instance(error, SimulatedCrash));
  assert.equal(await simulated.mount().readdir(DIRECTORY), []);
});

test('an injected fsync error is sticky for its file, and nothing of it becomes durable', async () => {
  const simulated = disk({ ioErrorRate: 0.5, random: seededRandom(3) });
  const fs = await mounted(simulated);
  let failedSyncs = 0;
  for (let file = 0; file < 30 && failedSyncs === 0; file++) {
    const handle = await fs.open(`${DIRECTORY}/f${file}`, 'createExclusive');
    try {
      await handle.write(Buffer.from('data'), 0, 4, 0);
    } catch {
      continue;
    }
    try {
      await handle.sync();
    } catch (error) {
      assert.is((error as { code?: string }).code, 'EIO');
      failedSyncs++;
      for (let retry = 0; retry < 5; retry++) {
        await handle.sync().then(() => assert.unreachable('a retried fsync of a failed file must fail'), (again: unknown) => assert.is((again as { code?: string }).code, 'EIO'));
      }
    }
  }
  assert.is(failedSyncs, 1);
  assert.ok(simulated.ioErrors >= 1);
});

test('crash-safe writes are all old or all new at a crash at any of their operations', async () => {
  let crashPoints = 0;
  for (let crashAt = 1; ; crashAt++) {
    for (const mode of ['drop', 'torn'] as const) {
      const simulated = disk({ unsyncedWrites: mode, unsyncedDirectoryChanges: mode === 'drop' ? 'drop' : 'prefix', random: seededRandom(crashAt) });
      const fs = await mounted(simulated);
      await writeFileCrashSafe(fs, `${DIRECTORY}/metadata`, Buffer.from('old contents'));
      simulated.crashAtOperation = simulated.operations + crashAt;
      const finished = await writeFileCrashSafe(fs, `${DIRECTORY}/metadata`, Buffer.from('new contents, longer')).then(() => true, () => false);
      simulated.crash();
      const after = simulated.mount();
      const names = (await after.readdir(DIRECTORY)).filter((name) => !name.endsWith('.strata-temp'));
      assert.equal(names, ['metadata']);
      const content = await text(after, 'metadata');
      if (finished) assert.is(content, 'new contents, longer', 'a write that returned is durable');
      else assert.ok(content === 'old contents' || content === 'new contents, longer', `wholly old or new: '${content}'`);
      if (finished) return assert.ok(crashPoints >= 5, `crashed at ${crashPoints} points`);
    }
    crashPoints++;
  }
});

test.run();
