/**
 * The pgwire replication client against a real PostgreSQL 15: system identity, slots, a streamed
 * base backup, WAL streaming through a slot with keepalives and status updates, a primary restart
 * with resume, and SCRAM / md5 password authentication.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PostgresCluster } from '../helpers/postgres.js';
import { ReplicationClient, type ReplicationMessage, type ReplicationStream } from '../../src/pgwire/replication-client.js';
import { PgConnection } from '../../src/pgwire/connection.js';
import { isStrataError, type StrataError } from '../../src/errors.js';
import { formatLsn, parseLsn, type Lsn } from '../../src/lsn.js';

let cluster: PostgresCluster;

test.before(async () => {
  // A short sender timeout makes the primary ask for a reply (a keepalive) after 2 s of silence.
  cluster = await PostgresCluster.create({ settings: { wal_sender_timeout: "'4s'" } });
});

test.after(async () => {
  await cluster.destroy();
});

async function expectCode(promise: Promise<unknown>, code: string): Promise<StrataError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isStrataError(error), String(error));
    assert.is((error as StrataError).code, code, (error as Error).message);
    return error as StrataError;
  }
  return assert.unreachable(`expected ${code}`) as never;
}

test('identifySystem reports the cluster identity', async () => {
  const client = await ReplicationClient.connect(cluster.connectionString());
  try {
    const identity = await client.identifySystem();
    assert.is(identity.systemId, await cluster.sql('SELECT system_identifier FROM pg_control_system()'));
    assert.is(identity.timeline, 1);
    assert.ok(identity.xlogPos > 0);
    assert.is(identity.dbName, null);
  } finally {
    await client.close();
  }
});

test('createPhysicalSlot, duplicate slot, dropSlot and missing slot', async () => {
  const client = await ReplicationClient.connect(cluster.connectionString());
  try {
    const slot = await client.createPhysicalSlot('dup_slot', { reserveWal: true });
    assert.is(slot.slotName, 'dup_slot');
    assert.is(await cluster.sql("SELECT restart_lsn IS NOT NULL FROM pg_replication_slots WHERE slot_name = 'dup_slot'"), 't');
    const duplicate = await expectCode(client.createPhysicalSlot('dup_slot', { reserveWal: true }), 'PS_ERR_ALREADY_EXISTS');
    assert.is(duplicate.context.sqlstate, '42710');
    await client.dropSlot('dup_slot');
    assert.is(await cluster.sql("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'dup_slot'"), '0');
    await expectCode(client.dropSlot('dup_slot'), 'PS_ERR_NOT_FOUND');
    assert.ok((await client.identifySystem()).xlogPos > 0, 'the connection stays usable after errors');
  } finally {
    await client.close();
  }
});

/** Lists tar member names from a stream of chunks, reading headers only (ustar, 512-byte blocks). */
async function tarMemberNames(chunks: AsyncIterable<Uint8Array>): Promise<string[]> {
  const names: string[] = [];
  let header = Buffer.alloc(0);
  let skip = 0;
  for await (const chunk of chunks) {
    let offset = 0;
    while (offset < chunk.length) {
      if (skip > 0) {
        const step = Math.min(skip, chunk.length - offset);
        skip -= step;
        offset += step;
        continue;
      }
      const take = Math.min(512 - header.length, chunk.length - offset);
      header = Buffer.concat([header, chunk.subarray(offset, offset + take)]);
      offset += take;
      if (header.length < 512) continue;
      const name = header.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
      if (name !== '') {
        const prefix = header.subarray(345, 500).toString('latin1').replace(/\0.*$/s, '');
        const size = parseInt(header.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
        names.push(prefix ? `${prefix}/${name}` : name);
        skip = Math.ceil(size / 512) * 512;
      }
      header = Buffer.alloc(0);
    }
  }
  return names;
}

test('baseBackup streams base.tar with pg_control and PG_VERSION', async () => {
  const client = await ReplicationClient.connect(cluster.connectionString());
  try {
    const backup = await client.baseBackup({ label: "strata's test", fastCheckpoint: true });
    assert.ok(backup.startLsn > 0);
    assert.is(backup.timeline, 1);
    const archives: string[] = [];
    let members: string[] = [];
    for await (const archive of backup.archives) {
      archives.push(archive.name);
      assert.is(archive.tablespaceOid, undefined);
      assert.is(archive.location, undefined);
      members = await tarMemberNames(archive.chunks);
    }
    assert.equal(archives, ['base.tar']);
    assert.ok(members.includes('global/pg_control'), 'pg_control is in base.tar');
    assert.ok(members.includes('PG_VERSION'), 'PG_VERSION is in base.tar');
    assert.ok(members.includes('backup_label'), 'backup_label is in base.tar');
    const end = await backup.finished;
    assert.ok(end.endLsn >= backup.startLsn, `${formatLsn(end.endLsn)} >= ${formatLsn(backup.startLsn)}`);
    assert.is(end.timeline, 1);
    assert.ok((await client.identifySystem()).xlogPos >= end.endLsn, 'the connection is free again');
  } finally {
    await client.close();
  }
});

test('a slow base backup consumer keeps the receive queue bounded (socket paused)', async () => {
  const queueBytesMax = 64 * 1024;
  const client = await ReplicationClient.connect(cluster.connectionString(), { receiveQueueBytesMax: queueBytesMax });
  try {
    const backup = await client.baseBackup({ label: 'slow', fastCheckpoint: true });
    let total = 0;
    let largestQueue = 0;
    let slowChunks = 0;
    for await (const archive of backup.archives) {
      for await (const chunk of archive.chunks) {
        total += chunk.length;
        if (slowChunks < 20) {
          slowChunks++;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        largestQueue = Math.max(largestQueue, client.connection.receiveQueueBytes);
      }
    }
    await backup.finished;
    assert.ok(total > 10 * 1024 * 1024, `the backup is large (${total} bytes)`);
    // The bound plus at most one socket read (64 KiB) and one message in flight.
    assert.ok(largestQueue <= queueBytesMax + 192 * 1024, `queue peaked at ${largestQueue} bytes`);
    assert.ok(largestQueue > 0, 'data did queue while the consumer slept');
  } finally {
    await client.close();
  }
});

/** Reads the stream until `until` returns true; answers keepalives that ask for a reply. */
class StreamReader {
  readonly iterator: AsyncIterator<ReplicationMessage>;
  received: Lsn;
  keepalives = 0;
  constructor(readonly stream: ReplicationStream, start: Lsn) {
    this.iterator = stream[Symbol.asyncIterator]();
    this.received = start;
  }

  async readUntil(until: (message: ReplicationMessage) => boolean, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      assert.ok(Date.now() < deadline, `timed out at ${formatLsn(this.received)}`);
      const next = await this.iterator.next();
      assert.not.ok(next.done, 'stream ended early');
      const message = next.value as ReplicationMessage;
      if (message.kind === 'xlogData') {
        assert.is(formatLsn(message.dataStart), formatLsn(this.received), 'XLogData is contiguous');
        this.received = message.dataStart + message.data.length;
        assert.ok(message.walEnd >= this.received);
      } else {
        this.keepalives++;
        if (message.replyRequested) this.stream.sendStatus({ write: this.received, flush: this.received, apply: this.received });
      }
      if (until(message)) return;
    }
  }
}

async function currentWalLsn(): Promise<Lsn> {
  return parseLsn(await cluster.sql('SELECT pg_current_wal_lsn()'));
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('streams WAL through a slot, answers keepalives, advances restart_lsn, survives a restart', async () => {
  let client = await ReplicationClient.connect(cluster.connectionString());
  try {
    await client.createPhysicalSlot('stream_slot', { reserveWal: true });
    const backup = await client.baseBackup({ label: 'stream', fastCheckpoint: true });
    for await (const archive of backup.archives) for await (const chunk of archive.chunks) void chunk;
    const { startLsn } = backup;
    await backup.finished;

    let stream = client.startReplication({ slotName: 'stream_slot', startLsn, timeline: 1 });
    let reader = new StreamReader(stream, startLsn);
    await cluster.sql('CREATE TABLE wal_source (id int, payload text); INSERT INTO wal_source SELECT g, repeat(\'x\', 200) FROM generate_series(1, 20000) g');
    const target = await currentWalLsn();
    await reader.readUntil(() => reader.received >= target);
    assert.ok(reader.received - startLsn > 4_000_000, 'several MiB of WAL arrived');

    await reader.readUntil((message) => message.kind === 'keepalive' && message.replyRequested);
    const flushed = reader.received;
    stream.sendStatus({ write: flushed, flush: flushed, apply: flushed });
    await waitFor(async () => parseLsn(await cluster.sql("SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'stream_slot'")) >= flushed, 'restart_lsn to advance');

    // A restart ends the stream with a coded error; the reader keeps answering the shutdown keepalive.
    const restarted = cluster.restart();
    const ended = await expectCode(reader.readUntil(() => false, 60_000), 'PS_ERR_UPSTREAM');
    assert.not.match(ended.message, /password/);
    await restarted;
    await client.close();

    client = await ReplicationClient.connect(cluster.connectionString());
    stream = client.startReplication({ slotName: 'stream_slot', startLsn: flushed, timeline: 1 });
    reader = new StreamReader(stream, flushed);
    await cluster.sql('INSERT INTO wal_source SELECT g, \'after restart\' FROM generate_series(1, 1000) g');
    const secondTarget = await currentWalLsn();
    await reader.readUntil(() => reader.received >= secondTarget);
    await stream.end();
    assert.is(stream.state, 'ended');
    await client.dropSlot('stream_slot');
  } finally {
    await client.close();
  }
});

test('START_REPLICATION of a missing slot fails with a coded error', async () => {
  const client = await ReplicationClient.connect(cluster.connectionString());
  try {
    const stream = client.startReplication({ slotName: 'no_such_slot', startLsn: await currentWalLsn() });
    await expectCode(stream[Symbol.asyncIterator]().next(), 'PS_ERR_NOT_FOUND');
  } finally {
    await client.close();
  }
});

async function addPasswordUsers(): Promise<void> {
  await cluster.script(`
    SET password_encryption = 'scram-sha-256';
    CREATE ROLE scramuser LOGIN REPLICATION PASSWORD 'scr''am pass';
    SET password_encryption = 'md5';
    CREATE ROLE md5user LOGIN PASSWORD 'md5-pass';
  `);
  const hba = join(cluster.dataDirectory, 'pg_hba.conf');
  const lines = [
    'host all scramuser 127.0.0.1/32 scram-sha-256',
    'host replication scramuser 127.0.0.1/32 scram-sha-256',
    'host all md5user 127.0.0.1/32 md5',
  ];
  await writeFile(hba, `${lines.join('\n')}\n${await readFile(hba, 'utf8')}`);
  await cluster.sql('SELECT pg_reload_conf()');
}

test('password authentication with SCRAM-SHA-256 and md5', async () => {
  await addPasswordUsers();
  const base = `host=127.0.0.1 port=${cluster.port} dbname=postgres`;
  const scram = await PgConnection.connect(`${base} user=scramuser password='scr\\'am pass'`);
  try {
    const [result] = await scram.simpleQuery('SELECT current_user, 1 AS one');
    assert.equal(result?.rows, [['scramuser', '1']]);
    assert.equal(result?.columns.map((column) => column.name), ['current_user', 'one']);
  } finally {
    await scram.close();
  }
  const replication = await ReplicationClient.connect(`postgresql://scramuser:scr'am%20pass@127.0.0.1:${cluster.port}/postgres`);
  try {
    assert.ok((await replication.identifySystem()).xlogPos > 0);
  } finally {
    await replication.close();
  }
  const md5 = await PgConnection.connect(`${base} user=md5user password=md5-pass`);
  try {
    assert.equal((await md5.simpleQuery('SELECT current_user'))[0]?.rows, [['md5user']]);
  } finally {
    await md5.close();
  }
  const wrong = await expectCode(PgConnection.connect(`${base} user=scramuser password=wrong-secret`), 'PS_ERR_UPSTREAM');
  assert.is(wrong.context.sqlstate, '28P01');
  assert.not.match(wrong.message + JSON.stringify(wrong.context), /wrong-secret/);
  await expectCode(PgConnection.connect(`${base} user=md5user`), 'PS_ERR_BAD_CONFIG');
});

test('simpleQuery errors keep the connection usable; a closed socket is PS_ERR_UPSTREAM', async () => {
  const connection = await PgConnection.connect(cluster.connectionString());
  try {
    const error = await expectCode(connection.simpleQuery('SELECT * FROM no_such_table'), 'PS_ERR_UPSTREAM');
    assert.is(error.context.sqlstate, '42P01');
    assert.is(error.context.severity, 'ERROR');
    const results = await connection.simpleQuery('SELECT 1; SELECT NULL::text AS empty');
    assert.equal(results.map((result) => result.rows), [[['1']], [[null]]]);
    const pid = connection.backendKey?.processId;
    assert.ok(pid !== undefined);
    await cluster.sql(`SELECT pg_terminate_backend(${pid})`);
    const terminated = await expectCode(connection.simpleQuery('SELECT 1'), 'PS_ERR_UPSTREAM');
    assert.ok(connection.closed);
    assert.ok(terminated.context.sqlstate === undefined || terminated.context.sqlstate === '57P01', String(terminated.context.sqlstate));
  } finally {
    await connection.close();
  }
});

test('connect to a closed port fails with a coded error', async () => {
  await expectCode(PgConnection.connect('host=127.0.0.1 port=1 user=x connect_timeout=2'), 'PS_ERR_UPSTREAM');
});

test.run();
