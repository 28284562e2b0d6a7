/**
 * What Strata writes into a compute's data directory: a hot standby's postgresql.conf whose
 * hot-standby settings are never below the primary's (as pg_control records them), trust on
 * loopback only, standby.signal without primary_conninfo or restore_command, the primary's own
 * configuration replaced. Also the ISO 8601 times `--time` accepts.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pgHbaConf, postgresqlConf, socketDirectoryFor, writeComputeConfig } from '../../../src/compute/compute-config.js';
import { isStrataError } from '../../../src/errors.js';
import { parseIsoTimestampUs } from '../../../src/http/parameters.js';
import { hotStandbyParameters } from '../../../src/ingest/control-file.js';
import { postgresTimestampOf } from '../../../src/timeline/commit-times.js';
import { crc32c } from '../../../src/wal/crc32c.js';

/** A pg_control image with the five hot-standby settings at their PostgreSQL 15 offsets. */
function controlFile(values: { connections: number; workers: number; senders: number; prepared: number; locks: number }): Buffer {
  const control = Buffer.alloc(8192);
  control.writeInt32LE(values.connections, 180);
  control.writeInt32LE(values.workers, 184);
  control.writeInt32LE(values.senders, 188);
  control.writeInt32LE(values.prepared, 192);
  control.writeInt32LE(values.locks, 196);
  control.writeUInt32LE(crc32c(control, 0, 288), 288);
  return control;
}

const settingsOf = (text: string) => new Map(text.split('\n').filter((line) => line.includes(' = ')).map((line) => line.split(' = ') as [string, string]));

test('postgresql.conf: the port, loopback, a hot standby that never advances, settings not below the primary\'s', () => {
  const primary = {
    maxConnections: 200, maxWorkerProcesses: 4, maxWalSenders: 10, maxPreparedTransactions: 0, maxLocksPerTransaction: 128,
    walLevel: 'replica' as const, walLogHints: false, trackCommitTimestamp: false,
  };
  const settings = settingsOf(postgresqlConf({ computeId: 'c'.repeat(32), port: 55432, socketDirectory: "/w/it's", primary }));
  assert.is(settings.get('port'), '55432');
  assert.is(settings.get('listen_addresses'), "'127.0.0.1'");
  assert.is(settings.get('unix_socket_directories'), "'/w/it''s'", 'quotes are doubled');
  assert.is(settings.get('hot_standby'), 'on');
  assert.is(settings.get('primary_conninfo'), "''");
  assert.is(settings.get('restore_command'), "''");
  assert.is(settings.get('shared_buffers'), '32MB');
  assert.is(settings.get('max_connections'), '200', 'the primary\'s, above the floor');
  assert.is(settings.get('max_worker_processes'), '8', 'the floor, above the primary\'s');
  assert.is(settings.get('max_wal_senders'), '10');
  assert.is(settings.get('max_prepared_transactions'), '0');
  assert.is(settings.get('max_locks_per_transaction'), '128');
  assert.is(settingsOf(postgresqlConf({ computeId: 'c'.repeat(32), port: 1, socketDirectory: undefined, primary })).get('unix_socket_directories'), "''");
  assert.throws(() => postgresqlConf({ computeId: 'c', port: 70_000, socketDirectory: undefined, primary }));
  assert.is(settings.get('wal_level'), undefined, 'a read-only compute writes no WAL');
  const branch = settingsOf(postgresqlConf({ computeId: 'c'.repeat(32), port: 55432, socketDirectory: undefined, primary: { ...primary, maxWalSenders: 0, walLogHints: true }, mode: 'branch' }));
  assert.is(branch.get('wal_level'), 'replica', 'a branch streams its WAL to Strata');
  assert.is(branch.get('wal_log_hints'), 'on', 'as the primary had it');
  assert.is(branch.get('max_wal_senders'), '4');
  assert.is(branch.get('max_replication_slots'), '4');
});

test('pg_hba.conf trusts the local socket and 127.0.0.1 only, replication included', () => {
  const rules = pgHbaConf().split('\n').filter((line) => line !== '' && !line.startsWith('#')).map((line) => line.split(/\s+/));
  assert.equal(rules.map((rule) => rule.at(-1)), ['trust', 'trust', 'trust', 'trust']);
  assert.ok(rules.every((rule) => rule[0] === 'local' || rule[3] === '127.0.0.1/32'));
  assert.ok(rules.some((rule) => rule[1] === 'replication'));
});

test('socket directories too long for sun_path fall back to TCP only', () => {
  assert.is(socketDirectoryFor('/w/computes/abc', 5432), '/w/computes/abc');
  assert.is(socketDirectoryFor('/' + 'x'.repeat(120), 5432), undefined);
});

test('writeComputeConfig replaces the primary\'s files, reads pg_control, signals a standby', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'strata-compute-config-'));
  try {
    await mkdir(join(directory, 'global'));
    await writeFile(join(directory, 'global', 'pg_control'), controlFile({ connections: 300, workers: 16, senders: 5, prepared: 7, locks: 64 }));
    await writeFile(join(directory, 'postgresql.conf'), "port = 5432\narchive_command = 'cp %p /archive'\n");
    await writeFile(join(directory, 'postgresql.auto.conf'), "primary_conninfo = 'host=primary'\n");
    await writeFile(join(directory, 'recovery.signal'), '');
    await writeComputeConfig(directory, { computeId: 'c'.repeat(32), port: 55433, socketDirectory: directory });
    const conf = await readFile(join(directory, 'postgresql.conf'), 'utf8');
    assert.not.match(conf, /archive_command/);
    assert.is(settingsOf(conf).get('max_connections'), '300');
    assert.is(settingsOf(conf).get('max_prepared_transactions'), '7');
    assert.not.match(await readFile(join(directory, 'postgresql.auto.conf'), 'utf8'), /primary_conninfo/);
    assert.ok(existsSync(join(directory, 'standby.signal')));
    assert.not.ok(existsSync(join(directory, 'recovery.signal')));
    assert.ok(existsSync(join(directory, 'pg_ident.conf')));
    // A damaged control file is an I/O error, not a guess.
    const damaged = controlFile({ connections: 1, workers: 1, senders: 1, prepared: 1, locks: 1 });
    damaged[180] = 99;
    assert.throws(() => hotStandbyParameters(damaged), (error: unknown) => isStrataError(error, 'PS_ERR_IO'));
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
});

test('--time: ISO 8601 to PostgreSQL TimestampTz, to the microsecond, UTC without an offset', () => {
  const base = postgresTimestampOf(Date.parse('2026-01-02T03:04:05Z'));
  assert.is(parseIsoTimestampUs('time', '2026-01-02T03:04:05Z'), base);
  assert.is(parseIsoTimestampUs('time', '2026-01-02T03:04:05'), base, 'no offset: UTC');
  assert.is(parseIsoTimestampUs('time', '2026-01-02 03:04:05.000001'), base + 1);
  assert.is(parseIsoTimestampUs('time', '2026-01-02T03:04:05.123456Z'), base + 123_456);
  assert.is(parseIsoTimestampUs('time', '2026-01-02T05:04:05+02:00'), base);
  assert.is(parseIsoTimestampUs('time', '2026-01-02T05:04:05+0200'), base);
  assert.is(parseIsoTimestampUs('time', '2026-01-02T03:04Z'), base - 5_000_000);
  assert.is(parseIsoTimestampUs('time', '2026-01-02'), postgresTimestampOf(Date.parse('2026-01-02T00:00:00Z')));
  assert.is(parseIsoTimestampUs('time', '2000-01-01T00:00:00Z'), 0, 'the PostgreSQL epoch');
  for (const bad of ['yesterday', '2026-13-45T00:00:00Z', '2026-02-30T00:00:00Z', '2026-01-02T25:00:00Z', '2026-01-02T03:04:05.1234567Z', 1_767_225_600, '']) {
    assert.throws(() => parseIsoTimestampUs('time', bad), (error: unknown) => isStrataError(error, 'PS_ERR_BAD_REQUEST'), String(bad));
  }
});

test.run();
