/**
 * The commit-time index: recovery_target_time's rule (everything before the first commit whose
 * time is after T) on commits whose times are not sorted by LSN, its bounded thinning (inexact
 * answers are conservative), and its file format (v2, and v1 files still read).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CommitTimeIndex } from '../../../src/timeline/commit-times.js';

/** The rule, by brute force: end LSN of the last commit before the first one after `t`. */
function reference(commits: readonly [number, number][], t: number): number | 'future' | 'past' {
  const first = commits.findIndex(([, time]) => time > t);
  if (first === -1) return 'future';
  if (first === 0) return 'past';
  return commits[first - 1]![0];
}

test('answers follow recovery_target_time on commits whose times are out of LSN order', () => {
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
    const answer = index.lsnForTime(t);
    if (expected === 'future' || expected === 'past') assert.is(answer.kind, expected, `t=${t}`);
    else assert.equal(answer, { kind: 'present', lsn: expected, exact: true }, `t=${t}`);
    checked += 1;
  }
  console.log(`  ${checked} times checked against the rule over ${commits.length} commits, ${index.size} samples kept`);
});

test('thinning keeps memory bounded and inexact answers never include a later commit', () => {
  const index = new CommitTimeIndex({ samplesMax: 64 });
  const commits: [number, number][] = [];
  for (let n = 1; n <= 10_000; n++) commits.push([n * 100, n * 10]);
  for (const [end, at] of commits) index.add(end, at);
  assert.ok(index.size <= 64, `size ${index.size}`);
  let exact = 0;
  for (let t = 10; t < 100_000; t += 13) {
    const answer = index.lsnForTime(t);
    if (answer.kind !== 'present') continue;
    // Commit n ends at n*100 at time n*10: the right answer is the end of the last commit ≤ t.
    const right = Math.floor(t / 10) * 100;
    assert.ok(answer.lsn <= right, `t=${t}: ${answer.lsn} includes a commit after the time (right ${right})`);
    if (answer.exact) { assert.is(answer.lsn, right, `t=${t}`); exact += 1; }
  }
  assert.ok(exact > 0, 'recent history stays exact');
});

test('the file round-trips; a reloaded index marks the first new sample inexact', () => {
  const index = new CommitTimeIndex();
  for (let n = 1; n <= 100; n++) index.add(n * 100, n * 10);
  const copy = CommitTimeIndex.decode(index.encode(5000), 'test');
  assert.is(copy.size, 50);
  assert.equal(copy.lsnForTime(255), { kind: 'present', lsn: 2500, exact: true });
  copy.add(6000, 600);
  assert.equal(copy.lsnForTime(555), { kind: 'present', lsn: 5000, exact: false });
  assert.throws(() => CommitTimeIndex.decode(Buffer.from('nonsense-nonsense'), 'bad'), /corrupt/);
});

test.run();
