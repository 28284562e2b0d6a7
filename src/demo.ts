/**
 * The quick-start job: a local PostgreSQL 15 primary, a Strata server attached to it, and a
 * pgbench workload, with a progress line every second:
 *
 *   t=12s primary 0/5A3C1F8  strata 0/5A3A000 (lag 8.5 KiB)  durable 0/4F00028  ingest 14.2 MB/s 41k rec/s
 *
 * At the end it compares the pgbench tables' sizes between the primary and Strata, then pages:
 * the primary's own (pageinspect's get_raw_page) against Strata's GetPage@LSN at the primary's
 * LSN of the moment, which Strata builds with its own redo from the last image and the records
 * after it: their page LSNs (pd_lsn) equal, and their bytes equal once both are masked as
 * PostgreSQL's wal_consistency_checking masks them (hint bits, unused space). Then it stops
 * everything and removes the temporary directories (Ctrl-C does the same early).
 *
 * Usage: node dist/src/demo.js [--seconds N] [--scale N] [--clients N] [--keep]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from './config.js';
import type { TimelineInfo } from './http/management-api.js';
import { formatLsn, parseLsn } from './lsn.js';
import { RmgrId } from './wal/types.js';
import { BLCKSZ } from './walredo/page.js';
import { maskPage } from './walredo/masks.js';
import { createLogger } from './observability/log.js';
import { PostgresCluster, spawnPg } from './platform/postgres-cluster.js';
import { startServer } from './server.js';

interface DemoOptions { seconds: number; scale: number; clients: number; keep: boolean }

function parseArguments(argv: string[]): DemoOptions {
  const options: DemoOptions = { seconds: 60, scale: 5, clients: 4, keep: false };
  for (let index = 0; index < argv.length; index += 1) {
    const name = argv[index];
    const value = Number(argv[index + 1]);
    if (name === '--keep') { options.keep = true; continue; }
    if (name !== '--seconds' && name !== '--scale' && name !== '--clients') throw new Error(`unknown argument ${name}`);
    if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} needs a positive whole number`);
    options[name.slice(2) as 'seconds' | 'scale' | 'clients'] = value;
    index += 1;
  }
  return options;
}

const say = (text: string) => process.stdout.write(`${text}\n`);
const mebibytes = (bytes: number) => (bytes / 1048576).toFixed(1);

async function main(): Promise<void> {
  const options = parseArguments(process.argv.slice(2));
  const workdir = await mkdtemp(join(tmpdir(), 'strata-demo-'));
  const logFile = join(workdir, 'strata.log');
  say(`strata demo: pgbench scale ${options.scale}, ${options.clients} clients, ${options.seconds} s; logs in ${logFile}`);
  const cluster = await PostgresCluster.create({ settings: { max_wal_size: '2GB' } });
  const config = resolveConfig({ workdir, overrides: ['listen_http_addr=127.0.0.1:0', `log_file=${logFile}`, 'checkpoint_timeout=5s'] });
  const { openSync } = await import('node:fs');
  const logger = createLogger({ destinationFd: openSync(logFile, 'a'), level: 'info' });
  const server = await startServer(config, { logger });
  let stopping = false;
  const stopAll = async () => {
    if (stopping) return;
    stopping = true;
    await server.stop().catch(() => undefined);
    await cluster.destroy().catch(() => undefined);
    if (!options.keep) await rm(workdir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => { say('\nstopping…'); void stopAll().then(() => process.exit(130)); });
  try {
    say(`primary on 127.0.0.1:${cluster.port}; strata API on ${server.httpUrl}`);
    say('pgbench -i …');
    await cluster.pgbench(['-i', '-s', String(options.scale), '-q']);
    const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
      const response = await fetch(server.httpUrl + path, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
      const parsed = await response.json() as T & { msg?: string };
      if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${parsed.msg ?? ''}`);
      return parsed;
    };
    const tenant = await api<{ id: string }>('POST', '/v1/tenant', {});
    say(`tenant ${tenant.id}: attaching (slot + base backup + streaming)…`);
    const timeline = await api<TimelineInfo>('POST', `/v1/tenant/${tenant.id}/timeline`, { from_primary: cluster.connectionString() });
    const base = `/v1/tenant/${tenant.id}/timeline/${timeline.timeline_id}`;
    say(`timeline ${timeline.timeline_id}: consistent from ${timeline.initdb_lsn}, streaming from ${timeline.last_record_lsn}`);
    const pgbench = spawnPg('pgbench', ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', '-c', String(options.clients), '-j', '2', '-T', String(options.seconds), '-n', 'postgres']);
    const finished = new Promise<number>((resolve) => pgbench.on('close', (code) => resolve(code ?? 1)));
    let done = false;
    void finished.then(() => { done = true; });
    const started = Date.now();
    let previous = { lsn: parseLsn(timeline.last_record_lsn), records: 0, at: Date.now() };
    while (!done && !stopping) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const primaryLsn = parseLsn(await cluster.sql('SELECT pg_current_wal_insert_lsn()'));
      const info = await api<TimelineInfo>('GET', base);
      const lsn = parseLsn(info.last_record_lsn);
      const seconds = (Date.now() - previous.at) / 1000;
      const records = info.wal_records_ingested ?? 0;
      say(`t=${Math.round((Date.now() - started) / 1000)}s primary ${formatLsn(primaryLsn)}  strata ${info.last_record_lsn} (lag ${((primaryLsn - lsn) / 1024).toFixed(1)} KiB)` +
        `  durable ${info.disk_consistent_lsn}  ingest ${mebibytes((lsn - previous.lsn) / seconds)} MB/s ${Math.round((records - previous.records) / seconds / 1000)}k rec/s  walreceiver ${info.walreceiver?.state ?? '?'}`);
      previous = { lsn, records, at: Date.now() };
    }
    const code = await finished;
    say(`pgbench finished (exit ${code}); checking relation sizes…`);
    const target = await cluster.sql('SELECT pg_current_wal_insert_lsn()');
    for (const table of ['pgbench_accounts', 'pgbench_branches', 'pgbench_tellers', 'pgbench_history', 'pgbench_accounts_pkey']) {
      const [relNode, blocks] = (await cluster.sql(`SELECT pg_relation_filenode('${table}'), pg_relation_size('${table}') / 8192`)).split('|');
      const ours = await api<{ size: number }>('GET', `${base}/relsize?rel=1663/5/${relNode}&fork=main&lsn=${target}`);
      say(`  ${table.padEnd(22)} primary ${blocks} blocks, strata ${ours.size} blocks ${Number(blocks) === ours.size ? 'ok' : 'MISMATCH'}`);
    }
    say('checking pages: the primary\'s (get_raw_page) against Strata\'s GetPage@LSN, rebuilt by its redo: pd_lsn as it is, the rest masked…');
    await cluster.sql('CREATE EXTENSION IF NOT EXISTS pageinspect');
    const pageAt = async (relNode: string, block: number, lsn: string): Promise<Uint8Array> => {
      const response = await fetch(`${server.httpUrl}${base}/getpage?rel=1663/5/${relNode}&fork=main&blk=${block}&lsn=${lsn}`);
      if (!response.ok) throw new Error(`getpage of 1663/5/${relNode} block ${block} at ${lsn}: ${response.status} ${await response.text()}`);
      return new Uint8Array(await response.arrayBuffer());
    };
    for (const [table, rmgr] of [['pgbench_branches', RmgrId.Heap], ['pgbench_tellers', RmgrId.Heap], ['pgbench_accounts', RmgrId.Heap], ['pgbench_history', RmgrId.Heap], ['pgbench_accounts_pkey', RmgrId.Btree]] as const) {
      const [relNode, size] = (await cluster.sql(`SELECT pg_relation_filenode('${table}'), pg_relation_size('${table}') / ${BLCKSZ}`)).split('|');
      const count = Number(size);
      // Small tables whole; big ones at their first, middle and last pages.
      const blocks = count <= 8 ? Array.from({ length: count }, (_, block) => block) : [...new Set([0, 1, count >> 1, count - 1])];
      let equal = 0;
      const mismatches: string[] = [];
      for (const block of blocks) {
        // A page that changed between the two reads (autovacuum) is read again, twice at most.
        let difference = -1;
        for (let attempt = 0; attempt < 3; attempt++) {
          const [hex, lsn] = (await cluster.sql(`SELECT encode(get_raw_page('${table}', ${block}), 'hex'), pg_current_wal_insert_lsn()`)).split('|');
          const theirs = new Uint8Array(Buffer.from(hex!, 'hex'));
          const ours = await pageAt(relNode!, block, lsn!);
          // pd_lsn (bytes 0-7) is compared before masking: it is part of the page.
          difference = theirs.subarray(0, 8).findIndex((byte, index) => byte !== ours[index]);
          if (difference < 0) {
            maskPage(rmgr, theirs, block);
            maskPage(rmgr, ours, block);
            difference = theirs.findIndex((byte, index) => byte !== ours[index]);
          }
          if (difference < 0) break;
        }
        if (difference < 0) equal += 1;
        else mismatches.push(`block ${block} from byte ${difference}${difference < 8 ? ' (pd_lsn)' : ''}`);
      }
      say(`  ${table.padEnd(22)} ${equal} of ${blocks.length} pages equal${mismatches.length === 0 ? ' ok' : `  MISMATCH ${mismatches.join(', ')}`}`);
    }
  } finally {
    await stopAll();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`strata demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
