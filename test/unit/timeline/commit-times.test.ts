/**
 * The commit-time index: recovery_target_time's rule (everything before the first commit whose
 * time is after T) on commits whose times are not sorted by LSN, exact answers from sealed block
 * files with only the unsealed tail in memory, and its file format.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeFs } from '../../../src/storage/fs.js';
import { BLOCK_SAMPLES, CommitTimeIndex, readCommitTimes, writeCommitTimes } from '../../../src/timeline/commit-times.js';

/** The rule, by brute force: end LSN of the last commit before the first one after `t`. */
function reference(commits: readonly [number, number][], t: number): number | 'future' | 'past' {
  const first = commits.findIndex(([, time]) => time > t);
  if (first === -1) return 'future';
  if (first === 0) return 'past';
  return commits[first - 1]![0];
}

test('answers follow recovery_target_time on commits whose times are out of LSN order', async () => {
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const commits: [number, number][] = [];
  let lsn = 1000;
  let time = 1_000_000;
  for (let index = 0; index < 5000; index++) {
    lsn += 8 + Math.floor(random() * 400);
    time += Math.floor(random() * 300);
    // One commit in five took its timestamp a little before its predecessor's.
    commits.push([lsn, random() < 0.2 ? time - Math.floor(random() * 500) : time]);
  }
  const index = new CommitTimeIndex();
  for (const [end, at] of commits) index.add(end, at);
  let checked = 0;
  for (let t = 999_000; t <= time + 1000; t += 37) {
    const expected = reference(commits, t);
    const answer = await index.lsnForTime(t);
    if (expected === 'future' || expected === 'past') assert.is(answer.kind, expected, `t=${t}`);
    else assert.equal(answer, { kind: 'present', lsn: expected, exact: true }, `t=${t}`);
    checked += 1;
  }
  console.log(`  ${checked} times checked against the rule over ${commits.length} commits, ${index.size} samples kept`);
});

test('sealed blocks: exact answers from files, memory holds only the unsealed tail, strays removed at load', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'strata-commit-times-'));
  try {
    const index = await readCommitTimes(nodeFs, directory);
    const total = BLOCK_SAMPLES * 3 + 123;
    for (let n = 1; n <= total; n++) index.add(n * 100, n * 10);
    await writeCommitTimes(nodeFs, directory, index, (BLOCK_SAMPLES * 2 + 50) * 100);
    assert.is(index.sealedBlocks, 2, 'full durable blocks are sealed');
    assert.is(index.size, total - 2 * BLOCK_SAMPLES, 'memory keeps the rest');
    for (const t of [15, 10 * BLOCK_SAMPLES + 5, 10 * (BLOCK_SAMPLES * 2 + 7) + 3, 10 * (total - 1) + 1]) {
      assert.equal(await index.lsnForTime(t), { kind: 'present', lsn: Math.floor(t / 10) * 100, exact: true }, `t=${t}`);
    }
    assert.equal(await index.lsnForTime(5), { kind: 'past' });
    assert.equal(await index.lsnForTime(10 * total), { kind: 'future' });
    // Read back: the sealed blocks and the durable samples; a block the snapshot does not name goes.
    await writeFile(join(directory, 'commit-times-000000ff'), 'stray');
    const reread = await readCommitTimes(nodeFs, directory);
    assert.ok(!(await readdir(directory)).includes('commit-times-000000ff'));
    assert.is(reread.sealedBlocks, 2);
    assert.equal(await reread.lsnForTime(10 * BLOCK_SAMPLES + 5), { kind: 'present', lsn: BLOCK_SAMPLES * 100, exact: true });
    assert.equal(await reread.lsnForTime(10 * (BLOCK_SAMPLES * 2 + 49) + 5), { kind: 'present', lsn: (BLOCK_SAMPLES * 2 + 49) * 100, exact: true });
    assert.is(reread.lsnAtOrBefore(10 * (BLOCK_SAMPLES + 3)), BLOCK_SAMPLES * 100, 'GC\'s question is answered from block ends (conservative)');
    // GC prunes the blocks wholly below its cutoff: their times become `past`, the rest stay exact.
    assert.is(await reread.pruneBelow((BLOCK_SAMPLES + 10) * 100), 1);
    assert.is(reread.sealedBlocks, 1);
    assert.ok(!(await readdir(directory)).includes('commit-times-00000000'), 'the pruned block file is gone');
    assert.equal(await reread.lsnForTime(15), { kind: 'past' });
    assert.equal(await reread.lsnForTime(10 * (BLOCK_SAMPLES + 7) + 5), { kind: 'present', lsn: (BLOCK_SAMPLES + 7) * 100, exact: true });
    const afterPrune = await readCommitTimes(nodeFs, directory);
    assert.is(afterPrune.sealedBlocks, 1);
    assert.is(afterPrune.size, 50, 'the prune kept the durable samples in the snapshot');
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
});

test('the file round-trips; a reloaded index marks the first new sample inexact', async () => {
  const index = new CommitTimeIndex();
  for (let n = 1; n <= 100; n++) index.add(n * 100, n * 10);
  const copy = CommitTimeIndex.decode(index.encode(5000), 'test');
  assert.is(copy.size, 50);
  assert.equal(await copy.lsnForTime(255), { kind: 'present', lsn: 2500, exact: true });
  copy.add(6000, 600);
  assert.equal(await copy.lsnForTime(555), { kind: 'present', lsn: 5000, exact: false });
  assert.throws(() => CommitTimeIndex.decode(Buffer.from('nonsense-nonsense'), 'bad'), /corrupt/);
});

test.run();
