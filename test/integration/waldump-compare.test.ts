/**
 * The WAL decoder against pg_waldump, record for record, on real PostgreSQL 15 WAL.
 *
 * WHY: pg_waldump is PostgreSQL's own decoder. One cluster runs pgbench with wal_compression =
 * pglz, the broad SQL workload (test/fixtures/broad-workload.sql) with lz4, and more pgbench with
 * zstd, so the WAL holds every compression method, records spanning pages and segments, and ~90
 * record types of every rmgr but Tablespace and CLOG. Our `strata waldump` lines and pg_waldump's
 * are parsed by the same parser and compared field by field: lsn, prev, rmgr, record type name,
 * rec/tot length, xid and every block reference (rel, fork, blk, FPW). Then the incremental
 * decoder is fed the same bytes in random chunks, in 1-byte chunks, and from a record start in
 * the middle of a page, and must produce the same records; every full-page image must decompress
 * to a plausible page.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'uvu';
import { seededRandom } from '../helpers/seeded-random.js';
import * as assert from 'uvu/assert';
import { parseLsn, WAL_SEGMENT_SIZE, XLOG_BLCKSZ } from '../../src/lsn.js';
import type { Lsn } from '../../src/lsn.js';
import { readWalFileBatches } from '../../src/wal/segment-reader.js';
import type { DecodedRecord } from '../../src/wal/types.js';
import { RMGR_NAMES } from '../../src/wal/types.js';
import { decodeBlockImage, WalStreamDecoder } from '../../src/wal/wal-decoder.js';
import { formatRecordLine } from '../../src/wal/waldump.js';
import { PostgresCluster } from '../helpers/postgres.js';

interface ParsedLine {
  rmgr: string;
  recordLength: number;
  totalLength: number;
  xid: number;
  lsn: string;
  prev: string;
  name: string;
  blocks: string[];
}

const LINE = /^rmgr: (\S+)\s+len \(rec\/tot\):\s*(\d+)\/\s*(\d+), tx:\s*(\d+), lsn: ([0-9A-F]+\/[0-9A-F]{8}), prev ([0-9A-F]+\/[0-9A-F]{8}), desc: (\S+)/;
const BLOCK = /, blkref #(\d+): rel (\d+\/\d+\/\d+)(?: fork (\w+))? blk (\d+)( FPW(?: for WAL verification)?)?/g;

function parseLine(line: string): ParsedLine {
  const match = LINE.exec(line);
  if (!match) throw new Error(`unparsable waldump line: ${line}`);
  const blocks = [...line.matchAll(BLOCK)].map((block) => `#${block[1]} ${block[2]} ${block[3] ?? 'main'} ${block[4]}${block[5] ?? ''}`);
  return {
    rmgr: match[1]!, recordLength: Number(match[2]), totalLength: Number(match[3]), xid: Number(match[4]),
    lsn: match[5]!, prev: match[6]!, name: match[7]!, blocks,
  };
}

function lineKey(parsed: ParsedLine): string {
  return JSON.stringify(parsed);
}

interface WalRange {
  walDirectory: string;
  files: string[];
  startLsn: Lsn;
  endLsn: Lsn;
}

async function walFilesBetween(walDirectory: string, startLsn: Lsn, endLsn: Lsn): Promise<string[]> {
  const names = (await readdir(walDirectory)).filter((name) => /^[0-9A-F]{24}$/.test(name)).sort();
  const first = Math.floor(startLsn / WAL_SEGMENT_SIZE);
  const last = Math.floor((endLsn - 1) / WAL_SEGMENT_SIZE);
  return names
    .filter((name) => {
      const segment = parseInt(name.slice(8, 16), 16) * 256 + parseInt(name.slice(16, 24), 16);
      return segment >= first && segment <= last;
    })
    .map((name) => join(walDirectory, name));
}

async function decodeFiles(range: WalRange): Promise<DecodedRecord[]> {
  const records: DecodedRecord[] = [];
  for await (const batch of readWalFileBatches(range.files, { startLsn: range.startLsn, endLsn: range.endLsn })) {
    for (const record of batch) records.push(record);
  }
  return records;
}

async function setCompression(cluster: PostgresCluster, method: string): Promise<void> {
  await cluster.sql(`ALTER SYSTEM SET wal_compression = '${method}'`);
  await cluster.sql('SELECT pg_reload_conf()');
}

/** Runs the workloads on a fresh cluster and returns the WAL range they wrote. */
async function produceWal(cluster: PostgresCluster): Promise<WalRange> {
  await cluster.sql('CHECKPOINT');
  const startText = await cluster.sql('SELECT pg_current_wal_insert_lsn()');
  // Start at the page boundary before the first new record: exercises the page-header start.
  const startLsn = parseLsn(startText) - (parseLsn(startText) % XLOG_BLCKSZ);
  await setCompression(cluster, 'pglz');
  await cluster.pgbench(['-i', '-s', '1', '-q']);
  await cluster.pgbench(['-T', '4', '-c', '2', '-j', '2']);
  await setCompression(cluster, 'lz4');
  const workload = await readFile(new URL('../../../test/fixtures/broad-workload.sql', import.meta.url), 'utf8');
  await cluster.script(workload);
  await cluster.sql('CHECKPOINT');
  await setCompression(cluster, 'zstd');
  await cluster.pgbench(['-T', '2', '-c', '2', '-j', '2']);
  await cluster.sql('CHECKPOINT');
  // The WAL ends where the switch record sends the next record: the next segment's start.
  const switchLsn = parseLsn(await cluster.sql('SELECT pg_switch_wal()'));
  const endLsn = Math.ceil(switchLsn / WAL_SEGMENT_SIZE) * WAL_SEGMENT_SIZE;
  const walDirectory = join(cluster.dataDirectory, 'pg_wal');
  return { walDirectory, files: await walFilesBetween(walDirectory, startLsn, endLsn), startLsn, endLsn };
}

function formatLsnText(lsn: Lsn): string {
  return `${Math.floor(lsn / 0x1_0000_0000).toString(16).toUpperCase()}/${(lsn % 0x1_0000_0000).toString(16).toUpperCase()}`;
}

async function compareWithPgWaldump(cluster: PostgresCluster, range: WalRange, records: DecodedRecord[]): Promise<void> {
  const output = await cluster.waldump(formatLsnText(range.startLsn), formatLsnText(range.endLsn));
  const theirs = output.split('\n').filter((line) => line.startsWith('rmgr: ')).map(parseLine);
  const ours = records.map((record) => parseLine(formatRecordLine(record)));
  assert.ok(theirs.length > 10_000, `pg_waldump printed only ${theirs.length} records`);
  for (let index = 0; index < Math.min(ours.length, theirs.length); index++) {
    if (lineKey(ours[index]!) !== lineKey(theirs[index]!)) {
      assert.fixture(formatRecordLine(records[index]!), output.split('\n').filter((line) => line.startsWith('rmgr: '))[index]!, `record ${index} differs`);
    }
  }
  assert.is(ours.length, theirs.length, 'record count');
}

function countByType(records: readonly DecodedRecord[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const record of records) {
    const name = RMGR_NAMES[record.rmgrId] ?? String(record.rmgrId);
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

/** Every image restores to 8192 bytes with a sane page header (or an all-zero new page). */
function checkImages(records: readonly DecodedRecord[]): Map<string, number> {
  const methods = new Map<string, number>();
  const page = new Uint8Array(XLOG_BLCKSZ);
  for (const record of records) {
    for (const block of record.blocks) {
      if (!block.hasImage) continue;
      methods.set(block.imageCompression, (methods.get(block.imageCompression) ?? 0) + 1);
      decodeBlockImage(block, page);
      const view = new DataView(page.buffer);
      const lower = view.getUint16(12, true);
      const upper = view.getUint16(14, true);
      const special = view.getUint16(16, true);
      const sizeVersion = view.getUint16(18, true);
      if (lower === 0 && upper === 0 && sizeVersion === 0) continue;
      assert.ok(sizeVersion === (XLOG_BLCKSZ | 4), `page size/version ${sizeVersion} at ${record.lsn}`);
      assert.ok(lower <= upper && upper <= special && special <= XLOG_BLCKSZ, `page bounds ${lower}/${upper}/${special} at ${record.lsn}`);
    }
  }
  return methods;
}

async function walBytes(range: WalRange): Promise<{ bytes: Uint8Array; baseLsn: Lsn }> {
  const parts = await Promise.all(range.files.map((file) => readFile(file)));
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return { bytes, baseLsn: Math.floor(range.startLsn / WAL_SEGMENT_SIZE) * WAL_SEGMENT_SIZE };
}

/** Feeds bytes from `startLsn` in chunks chosen by `chunkSize`; returns records ending by `endLsn`. */
function decodeInChunks(wal: { bytes: Uint8Array; baseLsn: Lsn }, startLsn: Lsn, endLsn: Lsn, chunkSize: () => number, stopAfterBytes = Infinity): DecodedRecord[] {
  const decoder = new WalStreamDecoder(startLsn);
  const records: DecodedRecord[] = [];
  let offset = startLsn - wal.baseLsn;
  const stop = Math.min(wal.bytes.length, endLsn - wal.baseLsn, offset + stopAfterBytes);
  while (offset < stop) {
    const size = Math.min(chunkSize(), stop - offset);
    decoder.feed(wal.bytes.subarray(offset, offset + size));
    offset += size;
    for (let record = decoder.next(); record !== undefined; record = decoder.next()) records.push(record);
  }
  return records;
}

function sameRecords(actual: readonly DecodedRecord[], expected: readonly DecodedRecord[], label: string): void {
  assert.ok(actual.length > 0, `${label}: no records`);
  for (let index = 0; index < actual.length; index++) {
    const left = actual[index]!;
    const right = expected[index]!;
    assert.ok(right !== undefined, `${label}: extra record at ${left.lsn}`);
    assert.is(left.lsn, right.lsn, `${label}: lsn of record ${index}`);
    assert.is(left.endLsn, right.endLsn, `${label}: end of record ${index}`);
    assert.equal(left.record, right.record, `${label}: bytes of record ${index}`);
  }
}

let cluster: PostgresCluster | undefined;
let range: WalRange | undefined;
let records: DecodedRecord[] = [];

test.before(async () => {
  cluster = await PostgresCluster.create({
    settings: {
      wal_level: 'logical', wal_log_hints: 'on', track_commit_timestamp: 'on', max_prepared_transactions: 4,
      wal_keep_size: "'4GB'", autovacuum: 'off',
    },
  });
  range = await produceWal(cluster);
  const started = process.hrtime.bigint();
  records = await decodeFiles(range);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(`decoded ${records.length} records, ${((range.endLsn - range.startLsn) / 1048576).toFixed(1)} MiB of WAL in ${seconds.toFixed(2)} s`);
});

test.after(async () => {
  await cluster?.destroy();
});

test('every record equals pg_waldump: lsn, prev, rmgr, type, lengths, xid, block references', async () => {
  assert.ok(cluster && range);
  await compareWithPgWaldump(cluster, range, records);
  const counts = [...countByType(records)].map(([name, count]) => `${name}=${count}`).join(' ');
  console.log(`records per rmgr: ${counts}`);
  const types = new Set(records.map((record) => formatRecordLine(record).split('desc: ')[1]!.split(' ')[0]! + '/' + record.rmgrId));
  console.log(`distinct record types: ${types.size}`);
  assert.ok(types.size >= 60, `only ${types.size} record types`);
});

test('every full-page image restores, with pglz, lz4 and zstd all present', () => {
  const methods = checkImages(records);
  console.log(`images by compression: ${[...methods].map(([method, count]) => `${method}=${count}`).join(' ')}`);
  for (const method of ['pglz', 'lz4', 'zstd', 'none']) assert.ok((methods.get(method) ?? 0) > 0, `no ${method} images`);
});

test('records spanning pages and segments are decoded', () => {
  assert.ok(range);
  const spanningPage = records.filter((record) => Math.floor(record.lsn / XLOG_BLCKSZ) !== Math.floor((record.endLsn - 1) / XLOG_BLCKSZ));
  const spanningSegment = records.filter((record) => Math.floor(record.lsn / WAL_SEGMENT_SIZE) !== Math.floor((record.endLsn - 1) / WAL_SEGMENT_SIZE));
  assert.ok(spanningPage.length > 100, `only ${spanningPage.length} records span pages`);
  assert.ok(range.files.length >= 2, 'the workload must fill more than one segment');
  console.log(`records spanning pages: ${spanningPage.length}, spanning segments: ${spanningSegment.length}`);
});

test('random-sized chunks decode to the same records', async () => {
  assert.ok(range);
  const wal = await walBytes(range);
  const random = seededRandom(20240917);
  const chunked = decodeInChunks(wal, range.startLsn, range.endLsn, () => 1 + Math.floor(random() * random() * 200_000));
  sameRecords(chunked, records, 'random chunks (seed 20240917)');
  assert.is(chunked.length, records.length);
});

test('1-byte chunks decode to the same records', async () => {
  assert.ok(range);
  const wal = await walBytes(range);
  const oneByte = decodeInChunks(wal, range.startLsn, range.endLsn, () => 1, 256 * 1024);
  sameRecords(oneByte, records, '1-byte chunks');
});

test('decoding can start at a record start in the middle of a page', async () => {
  assert.ok(range);
  const wal = await walBytes(range);
  const middle = Math.floor(records.length / 2);
  const startIndex = records.findIndex((record, index) => index >= middle && record.lsn % XLOG_BLCKSZ > 100);
  const start = records[startIndex]!;
  const random = seededRandom(7);
  const fromMiddle = decodeInChunks(wal, start.lsn, range.endLsn, () => 1 + Math.floor(random() * 70_000));
  sameRecords(fromMiddle, records.slice(startIndex), 'mid-page start');
  assert.is(fromMiddle.length, records.length - startIndex);
});

test.run();
