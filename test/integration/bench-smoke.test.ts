/**
 * Smoke test of the benchmark reference: a small real pgbench workload is crash-stopped, a copy is
 * recovered by PostgreSQL, and the measurement must describe what PostgreSQL really replayed. The
 * record count is checked against an independent count (one text line per record from pg_waldump
 * over the same range), so a wrong range or a wrong parser fails here rather than in a benchmark
 * table. Scale 1 for 3 s keeps the file well under a minute.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { measurePostgresRecovery, parseRecoveryLog, replayOnceSeconds, type RecoveryMeasurement } from '../../bench/postgres-recovery.js';
import { runInterleaved } from '../../bench/walredo/redo.bench.js';
import { generatePgbenchWal, recordEndLsn, type WalWorkload } from '../../bench/wal-workload.js';
import { formatLsn, parseLsn } from '../../src/lsn.js';

let workload: WalWorkload | undefined;
let measurement: RecoveryMeasurement | undefined;

function fixture(): { workload: WalWorkload; measurement: RecoveryMeasurement } {
  if (!workload || !measurement) throw new Error('the workload was not generated');
  return { workload, measurement };
}

test.before(async () => {
  workload = await generatePgbenchWal({ scale: 1, seconds: 3, clients: 4 });
  measurement = await measurePostgresRecovery(workload);
});

test.after(async () => {
  await workload?.destroy();
});

test('PostgreSQL replays a positive number of records in positive time', () => {
  const { measurement } = fixture();
  assert.ok(measurement.records > 0, `records ${measurement.records}`);
  assert.ok(measurement.seconds > 0, `seconds ${measurement.seconds}`);
  assert.ok(measurement.recordsPerSecond > 0 && measurement.megabytesPerSecond > 0);
  assert.is(measurement.runSeconds.length, 2);
});

test('the replayed range is ordered and is the workload range', () => {
  const { workload, measurement } = fixture();
  assert.ok(parseLsn(measurement.redoEnd) >= parseLsn(measurement.redoStart));
  assert.ok(parseLsn(measurement.redoDoneAt) < parseLsn(measurement.redoEnd));
  assert.is(measurement.redoStart, formatLsn(workload.startLsn));
  assert.is(measurement.redoEnd, formatLsn(workload.endLsn));
  assert.is(measurement.bytes, workload.walBytes);
  assert.ok(measurement.matchesWorkload);
});

test('the record count equals the records pg_waldump prints for the range', async () => {
  const { workload, measurement } = fixture();
  const text = await workload.cluster.waldump(measurement.redoStart, measurement.redoEnd);
  const lines = text.split('\n').filter((line) => line.startsWith('rmgr:'));
  assert.is(measurement.records, lines.length);
  assert.is(workload.recordCount, lines.length);
  const last = lines[lines.length - 1] ?? '';
  const printed = /lsn: ([0-9A-F]+\/[0-9A-F]+)/.exec(last)?.[1] ?? '';
  assert.is(formatLsn(parseLsn(printed)), measurement.redoDoneAt, 'the last record is where PostgreSQL stopped');
});

test('PostgreSQL and Strata replays taken in turns: one of each per pair, ratios of the same pairs', async () => {
  const { workload } = fixture();
  const order: string[] = [];
  const result = await runInterleaved({
    walDirectory: workload.walDirectory, startLsn: workload.startLsn, endLsn: workload.endLsn, pairs: 3, workers: 2,
    postgresReplaySeconds: async () => {
      order.push('postgres');
      return replayOnceSeconds(workload.dataDirectory);
    },
  });
  assert.equal(order, ['postgres', 'postgres', 'postgres']);
  assert.is(result.postgresSeconds.length, 3);
  assert.is(result.strataSeconds.length, 3);
  assert.is(result.ownCpuSecondsDuringPostgres.length, 3);
  assert.ok(result.ownCpuSecondsDuringPostgres.every((seconds) => seconds >= 0));
  assert.ok([...result.postgresSeconds, ...result.strataSeconds].every((seconds) => seconds > 0));
  result.pairRatios.forEach((ratio, pair) => assert.is(ratio, result.postgresSeconds[pair]! / result.strataSeconds[pair]!));
  assert.is(result.medianPairRatio, [...result.pairRatios].sort((first, second) => first - second)[1]);
  assert.is(result.fastestRatio, Math.min(...result.postgresSeconds) / Math.min(...result.strataSeconds));
  let refused: unknown;
  await runInterleaved({ ...workload, pairs: 0, postgresReplaySeconds: async () => 1 }).catch((error: unknown) => { refused = error; });
  assert.instance(refused, RangeError);
});

test('recordEndLsn skips the page headers a record crosses', () => {
  assert.is(recordEndLsn(0x1000018, 54), 0x1000018 + 54);
  // 100 bytes before a page end, 300-byte record: 100 + short header 24 + 200.
  assert.is(recordEndLsn(0x2000 - 100, 300), 0x2000 + 24 + 200);
  // Crossing into a new segment takes the 40-byte long header.
  assert.is(recordEndLsn(0x2000000 - 8, 32), 0x2000000 + 40 + 24);
});

test('parseRecoveryLog times redo between the two log lines', () => {
  const log = [
    '1795461320.121 [5657] LOG:  redo starts at 0/21867A8',
    '1795461320.204 [5657] LOG:  unexpected pageaddr 0/1454000 in log segment 000000010000000000000003, offset 4538368',
    '1795461320.204 [5657] LOG:  redo done at 0/3453FA0 system usage: CPU: user: 0.05 s, system: 0.02 s, elapsed: 0.08 s',
  ].join('\n');
  const run = parseRecoveryLog(log);
  assert.is(run.seconds, 0.083);
  assert.is(run.postgresElapsedSeconds, 0.08);
  assert.is(formatLsn(run.redoStart), '0/21867A8');
  assert.is(formatLsn(run.redoDoneAt), '0/3453FA0');
});

test.run();
