/**
 * Smoke test of the attach benchmark (bench/storage/attach-import.bench.ts) at pgbench scale 1:
 * both sides really run (the bench itself checks the attached timeline's pgbench_accounts size
 * against the primary's), the numbers it reports are the numbers it measured (ratios of the same
 * pairs, the median of them, peaks at or above idle), the import wrote image layers about the
 * size of the database, and the server logged no WARN or ERROR. About half a minute.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { describeAttachImport, runAttachImport } from '../../bench/storage/attach-import.bench.js';

test('pg_basebackup and attach taken in turns, with consistent ratios and memory figures', async () => {
  const result = await runAttachImport({ scale: 1, pairs: 2 });
  assert.is(result.basebackupSeconds.length, 2);
  assert.is(result.attach.length, 2);
  assert.ok(result.databaseBytes > 10 * 1024 * 1024, `database of ${result.databaseBytes} bytes`);
  for (const [pair, turn] of result.attach.entries()) {
    assert.ok(turn.seconds > 0 && result.basebackupSeconds[pair]! > 0);
    assert.is(result.pairRatios[pair], turn.seconds / result.basebackupSeconds[pair]!);
    assert.ok(turn.idleRssBytes > 0 && turn.peakRssBytes >= turn.idleRssBytes, `rss idle ${turn.idleRssBytes} peak ${turn.peakRssBytes}`);
    assert.ok(turn.cpuSeconds > 0 && result.basebackupCpuSeconds[pair]! > 0, 'both sides used CPU');
    assert.ok(turn.layerFiles > 0, 'the attach wrote image layer files');
    assert.ok(turn.layerBytes > result.databaseBytes / 2 && turn.layerBytes < result.databaseBytes * 2, `layers ${turn.layerBytes} for a database of ${result.databaseBytes}`);
    assert.equal(turn.warnings, [], 'the server logged no WARN or ERROR');
  }
  assert.is(result.medianPairRatio, Math.max(...result.pairRatios), 'the median of two is the upper one');
  assert.is(result.peakAboveIdleBytesMax, Math.max(...result.attach.map((turn) => turn.peakRssBytes - turn.idleRssBytes)));
  const fields = describeAttachImport(result);
  assert.is(fields.pairs, 2);
  assert.is(fields.imageLayerFiles, result.attach[0]!.layerFiles);
  const refused = await runAttachImport({ scale: 1, pairs: 0 }).then(() => undefined, (error: unknown) => error);
  assert.instance(refused, RangeError);
});

test.run();
