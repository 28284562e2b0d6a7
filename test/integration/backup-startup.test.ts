/**
 * The proof that the backup's PostgreSQL-format pieces are right: a stock PostgreSQL 15 starts
 * from a data directory whose WAL is only Strata's synthesized segment and whose pg_control is
 * Strata's rewrite, as if it had shut down cleanly at an LSN where it never had any WAL.
 *
 * WHY against real PostgreSQL: startup checks the control file's CRC and version, the segment's
 * long page header (system identifier, sizes), every page header it reads, the checkpoint
 * record's CRC, length, rmgr and prev-link, and then writes its own WAL after the record on the
 * same page. Only a real server checks all of that, and only pg_controldata and pg_waldump say
 * what PostgreSQL itself reads from the files.
 *
 *   initdb, some data, clean stop
 *   ├─ the real shutdown checkpoint record: its main data re-encodes byte for byte
 *   ├─ round 1: X a few pages past the real WAL's end, L = checkpointLocationFor(X) mid-segment;
 *   │  nextXid and nextOid raised: pg_controldata, pg_waldump read them; start as primary; the
 *   │  counters are honoured; new WAL after L; crash (immediate stop): recovery from our
 *   │  checkpoint replays the server's own WAL after our record; clean stop and start; data intact
 *   └─ round 2: X at the start of a later segment (the record after a long page header); start
 *      as a hot standby: read-only queries, in recovery, replayed up to our record's end; stop;
 *      start without standby.signal: recovers from our checkpoint and becomes a primary
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeCheckPoint, shutdownCheckpointAt, type CheckPoint } from '../../src/backup/checkpoint.js';
import { readControlFileInfo, shutdownControlFile } from '../../src/backup/control-file.js';
import { buildCheckpointSegment, checkpointLocationFor, walSegmentFileName, walSegmentNumber } from '../../src/backup/wal-segment.js';
import { formatLsn, parseLsn, type Lsn } from '../../src/lsn.js';
import { CONTROL_FILE_CHECKPOINT_OFFSET, decodeXlogRecord } from '../../src/wal/records/xlog.js';
import { WalStreamDecoder } from '../../src/wal/wal-decoder.js';
import { PostgresCluster, runPg } from '../helpers/postgres.js';

const execFileAsync = promisify(execFile);
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Writes a file the server can own: postgres, mode 0600. */
async function writeOwned(path: string, bytes: Uint8Array): Promise<void> {
  await writeFile(path, bytes, { mode: 0o600 });
  if (isRoot) await execFileAsync('chown', ['postgres:postgres', path]);
}

async function controlData(cluster: PostgresCluster): Promise<Map<string, string>> {
  const { stdout } = await runPg('pg_controldata', ['-D', cluster.dataDirectory]);
  return new Map(stdout.split('\n').filter((line) => line.includes(':')).map((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).trim(), line.slice(colon + 1).trim()] as [string, string];
  }));
}

/** The real shutdown checkpoint record pg_control points to, from the cluster's own WAL. */
async function realCheckpointRecord(cluster: PostgresCluster, location: Lsn) {
  const file = join(cluster.dataDirectory, 'pg_wal', walSegmentFileName(1, walSegmentNumber(location)));
  const segment = await readFile(file);
  const segmentStart = walSegmentNumber(location) * 16 * 1024 * 1024;
  const pageStart = location - (location % 8192);
  const decoder = new WalStreamDecoder(pageStart);
  decoder.feed(segment.subarray(pageStart - segmentStart));
  for (;;) {
    const record = decoder.next();
    assert.ok(record !== undefined, 'the checkpoint record is in the segment');
    if (record.lsn === location) return record;
  }
}

interface Installed {
  location: Lsn;
  checkpoint: CheckPoint;
  recordEndLsn: Lsn;
}

/**
 * Replaces the stopped cluster's WAL with Strata's segment for a backup at `lsn` and its
 * pg_control with Strata's rewrite; `adjust` changes the checkpoint first.
 */
async function installBackupWal(cluster: PostgresCluster, lsn: Lsn, adjust: (checkpoint: CheckPoint) => CheckPoint): Promise<Installed> {
  const controlPath = join(cluster.dataDirectory, 'global', 'pg_control');
  const walDirectory = join(cluster.dataDirectory, 'pg_wal');
  const original = await readFile(controlPath);
  const info = readControlFileInfo(original);
  const location = checkpointLocationFor(lsn, info.walSegmentSize);
  const checkpoint = shutdownCheckpointAt(adjust(info.checkpoint), location, BigInt(Math.floor(Date.now() / 1000)));
  const segment = buildCheckpointSegment({
    checkpoint, location, timelineId: info.checkpoint.thisTimeLineId, systemIdentifier: info.systemIdentifier, segmentSize: info.walSegmentSize,
  });
  for (const name of await readdir(walDirectory)) {
    if (/^[0-9A-F]{24}$/.test(name)) await rm(join(walDirectory, name));
  }
  await writeOwned(join(walDirectory, segment.fileName), segment.bytes);
  await writeOwned(controlPath, shutdownControlFile({ control: original, checkpoint, checkpointLocation: location, timeSeconds: Math.floor(Date.now() / 1000) }));
  return { location, checkpoint, recordEndLsn: segment.recordEndLsn };
}

async function assertControlData(cluster: PostgresCluster, installed: Installed): Promise<void> {
  const fields = await controlData(cluster);
  const epoch = installed.checkpoint.nextXid >> 32n;
  const xid = installed.checkpoint.nextXid & 0xffffffffn;
  assert.is(fields.get('Database cluster state'), 'shut down');
  assert.is(fields.get('Latest checkpoint location'), formatLsn(installed.location));
  assert.is(fields.get("Latest checkpoint's REDO location"), formatLsn(installed.location));
  assert.is(fields.get("Latest checkpoint's REDO WAL file"), walSegmentFileName(1, walSegmentNumber(installed.location)));
  assert.is(fields.get("Latest checkpoint's NextXID"), `${epoch}:${xid}`);
  assert.is(fields.get("Latest checkpoint's NextOID"), String(installed.checkpoint.nextOid));
  assert.is(fields.get("Latest checkpoint's oldestActiveXID"), '0');
  assert.is(fields.get('Minimum recovery ending location'), '0/0');
  assert.is(fields.get('Backup start location'), '0/0');
  assert.is(fields.get('End-of-backup record required'), 'no');
  assert.is(fields.get('Fake LSN counter for unlogged rels'), formatLsn(installed.location));
}

/** pg_waldump's form of an LSN in its lsn/prev fields: the low half padded to 8 digits. */
function waldumpLsn(lsn: Lsn): string {
  const [high, low] = formatLsn(lsn).split('/');
  return `${high}/${low!.padStart(8, '0')}`;
}

async function assertWaldump(cluster: PostgresCluster, installed: Installed): Promise<void> {
  const { stdout } = await runPg('pg_waldump', ['-p', join(cluster.dataDirectory, 'pg_wal'), '-s', formatLsn(installed.location), '-n', '1']);
  const xid = `${installed.checkpoint.nextXid >> 32n}:${installed.checkpoint.nextXid & 0xffffffffn}`;
  assert.match(stdout, `rmgr: XLOG        len (rec/tot):    114/   114, tx:          0, lsn: ${waldumpLsn(installed.location)}, prev 0/00000000, desc: CHECKPOINT_SHUTDOWN redo ${formatLsn(installed.location)};`, stdout);
  assert.match(stdout, `; xid ${xid}; oid ${installed.checkpoint.nextOid};`);
  assert.match(stdout, '; shutdown');
}

let cluster: PostgresCluster | undefined;

test.after(async () => {
  if (process.env.STRATA_PRINT_PG_LOG) console.log(await readFile(cluster!.logFile, "utf8"));
  await cluster?.destroy();
});

test('a stock PostgreSQL 15 starts from the synthesized pg_control and WAL segment, as primary and as hot standby', async () => {
  cluster = await PostgresCluster.create();
  await cluster.sql('CREATE TABLE before_backup AS SELECT generate_series(1, 500) AS n');
  await cluster.stop();
  const real = readControlFileInfo(await readFile(join(cluster.dataDirectory, 'global', 'pg_control')));

  // The real shutdown checkpoint record: the layout encodeCheckPoint writes, byte for byte.
  const record = await realCheckpointRecord(cluster, real.checkpointLocation);
  const body = decodeXlogRecord(record);
  assert.is(body.type, 'checkpointShutdown');
  assert.equal(body.type === 'checkpointShutdown' && body.checkpoint, real.checkpoint);
  assert.equal([...encodeCheckPoint(real.checkpoint)], [...record.mainData], 'main data re-encodes byte for byte');
  const control = await readFile(join(cluster.dataDirectory, 'global', 'pg_control'));
  assert.equal([...control.subarray(CONTROL_FILE_CHECKPOINT_OFFSET, CONTROL_FILE_CHECKPOINT_OFFSET + 88)], [...record.mainData]);

  // Round 1: a few pages past the end of the real WAL, counters raised.
  const nextXid = BigInt(Math.ceil((Number(real.checkpoint.nextXid) + 3000) / 1024) * 1024);
  const round1 = await installBackupWal(cluster, real.checkpointLocation + 3 * 8192 + 1000, (checkpoint) => ({ ...checkpoint, nextXid, nextOid: 50000 }));
  assert.ok(round1.location % (16 * 1024 * 1024) !== 40, 'mid-segment: a short page header before the record');
  await assertControlData(cluster, round1);
  await assertWaldump(cluster, round1);
  await cluster.start();
  assert.is(await cluster.sql('SELECT 1'), '1');
  assert.is(await cluster.sql('SELECT count(*) FROM before_backup'), '500');
  await cluster.sql('CREATE TABLE t AS SELECT generate_series(1, 1000) AS n');
  assert.ok(BigInt(await cluster.sql('SELECT txid_current()')) >= nextXid, 'nextXid honoured');
  assert.ok(Number(await cluster.sql("SELECT 't'::regclass::oid")) >= 50000, 'nextOid honoured');
  const lsn1 = parseLsn(await cluster.sql('SELECT pg_current_wal_lsn()'));
  assert.ok(lsn1 > round1.location, `WAL continues after the record (${formatLsn(lsn1)})`);
  // A crash: recovery starts at our checkpoint (still the latest) and replays the server's own
  // WAL that follows our record on its page and the pages after.
  assert.is((await controlData(cluster)).get('Latest checkpoint location'), formatLsn(round1.location));
  await cluster.stop('immediate');
  await cluster.start();
  assert.is(await cluster.sql('SELECT count(*), sum(n) FROM t'), '1000|500500');
  await cluster.stop();
  await cluster.start();
  assert.is(await cluster.sql('SELECT count(*), sum(n) FROM t'), '1000|500500');
  await cluster.stop();

  // Round 2: at the start of a later segment, started as a hot standby.
  const afterRound1 = readControlFileInfo(await readFile(join(cluster.dataDirectory, 'global', 'pg_control')));
  const segmentStart = (walSegmentNumber(afterRound1.checkpointLocation) + 2) * 16 * 1024 * 1024;
  const round2 = await installBackupWal(cluster, segmentStart, (checkpoint) => checkpoint);
  assert.is(round2.location, segmentStart + 40, 'right after the long page header');
  await assertControlData(cluster, round2);
  await assertWaldump(cluster, round2);
  await writeOwned(join(cluster.dataDirectory, 'standby.signal'), new Uint8Array(0));
  await writeFile(join(cluster.dataDirectory, 'postgresql.conf'), '\nhot_standby = on\n', { flag: 'a' });
  const started = Date.now();
  await cluster.start();
  assert.ok(Date.now() - started < 30_000, 'the standby accepts connections promptly');
  assert.is(await cluster.sql('SELECT pg_is_in_recovery()'), 't');
  assert.is(await cluster.sql('SELECT count(*) FROM t'), '1000');
  assert.is(await cluster.sql('SELECT pg_last_wal_replay_lsn()'), formatLsn(round2.recordEndLsn));
  await cluster.stop();
  await rm(join(cluster.dataDirectory, 'standby.signal'));
  await cluster.start();
  assert.is(await cluster.sql('SELECT pg_is_in_recovery()'), 'f');
  await cluster.sql('INSERT INTO t SELECT generate_series(1001, 1010)');
  assert.is(await cluster.sql('SELECT count(*) FROM t'), '1010');
  await cluster.stop();
});

test.run();
