/**
 * The storage engine end to end (issue 10's "done when"): a PostgreSQL 15 primary running pgbench
 * in rounds, Strata attached with tiny checkpoint and compaction settings, so that the run makes
 * L0 deltas, L1 deltas and image layers; a branch created mid-run; GC with a horizon that makes it
 * remove superseded layers; a restart.
 *
 * Oracle: after each round (the primary quiet), pages captured on the primary with pageinspect's
 * get_raw_page, with the insert LSN. GetPage at that LSN must return them: pd_lsn compared as is,
 * the rest masked only as wal_consistency_checking masks (hint bits the primary sets without
 * WAL). Compared on the timeline before and after compaction, after GC (where the LSN is at or
 * above the cutoff; below it reads must be refused with PS_ERR_LSN_TOO_OLD), after a restart, and
 * on the branch at its branch point (read through the ancestor, whose GC must keep it).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseLsn } from '../../src/lsn.js';
import type { TimelineInfo } from '../../src/http/management-api.js';
import { RmgrId } from '../../src/wal/types.js';
import { maskPage } from '../../src/walredo/masks.js';
import { PostgresCluster } from '../helpers/postgres.js';
import { eventually, startTestServer, type TestServer } from '../helpers/strata-server.js';

interface Capture { rel: string; block: number; rmgr: number; lsn: string; page: Uint8Array; label: string }
interface LayerListing {
  in_memory_layers: unknown[];
  historic_layers: { kind: 'Delta' | 'Image'; l0: boolean; layer_file_name: string }[];
  read_amplification: number[];
}

const ROUNDS = 4;
const SAMPLED = [
  { relation: 'pgbench_branches', rmgr: RmgrId.Heap, blocks: [0] },
  { relation: 'pgbench_tellers', rmgr: RmgrId.Heap, blocks: [0] },
  { relation: 'pgbench_accounts', rmgr: RmgrId.Heap, blocks: [0, 1, 7, 50, 100, 200, 300] },
  { relation: 'pgbench_accounts_pkey', rmgr: RmgrId.Btree, blocks: [0, 1, 2, 10, 30] },
  { relation: 'pgbench_history', rmgr: RmgrId.Heap, blocks: [0] },
];

function pageLsnOf(page: Uint8Array): string {
  const view = new DataView(page.buffer, page.byteOffset, 8);
  return `${view.getUint32(0, true).toString(16).toUpperCase()}/${view.getUint32(4, true).toString(16).toUpperCase()}`;
}

async function captureRound(cluster: PostgresCluster, round: number): Promise<Capture[]> {
  const captures: Capture[] = [];
  const pending: Omit<Capture, 'lsn'>[] = [];
  for (const sample of SAMPLED) {
    const rel = (await cluster.sql(`SELECT (SELECT dattablespace FROM pg_database WHERE datname = current_database()) || '/' || (SELECT oid FROM pg_database WHERE datname = current_database()) || '/' || pg_relation_filenode('${sample.relation}')`)).trim();
    const blocks = Number(await cluster.sql(`SELECT pg_relation_size('${sample.relation}') / 8192`));
    for (const block of sample.blocks) {
      if (block >= blocks) continue;
      const hex = await cluster.sql(`SELECT encode(get_raw_page('${sample.relation}', ${block}), 'hex')`);
      pending.push({ rel, block, rmgr: sample.rmgr, page: new Uint8Array(Buffer.from(hex, 'hex')), label: `round ${round} ${sample.relation} blk ${block}` });
    }
  }
  const lsn = await cluster.sql('SELECT pg_current_wal_insert_lsn()');
  for (const entry of pending) captures.push({ ...entry, lsn, label: `${entry.label} @ ${lsn}` });
  return captures;
}

/** Compares GetPage at each capture's LSN; returns how many were compared. */
async function comparePages(server: TestServer, base: string, captures: readonly Capture[], what: string): Promise<number> {
  const problems: string[] = [];
  for (const capture of captures) {
    const response = await server.request('GET', `${base}/getpage?rel=${capture.rel}&fork=main&blk=${capture.block}&lsn=${capture.lsn}`);
    if (response.status !== 200) {
      problems.push(`${capture.label}: HTTP ${response.status} ${JSON.stringify(response.body).slice(0, 200)}`);
      continue;
    }
    const ours = new Uint8Array(response.body as Uint8Array);
    if (pageLsnOf(ours) !== pageLsnOf(capture.page)) problems.push(`${capture.label}: pd_lsn ${pageLsnOf(ours)} vs ${pageLsnOf(capture.page)}`);
    const left = ours.slice();
    const right = capture.page.slice();
    maskPage(capture.rmgr, left, capture.block);
    maskPage(capture.rmgr, right, capture.block);
    const at = left.findIndex((byte, index) => byte !== right[index]);
    if (at >= 0) problems.push(`${capture.label}: first masked difference at byte ${at}`);
  }
  console.log(`${what}: compared ${captures.length} pages, ${problems.length} differ`);
  assert.equal(problems, [], what);
  return captures.length;
}

async function layers(server: TestServer, base: string): Promise<LayerListing> {
  return (await server.request('GET', `${base}/layer`)).body as LayerListing;
}

function summarize(listing: LayerListing): { l0: number; l1: number; images: number } {
  const historic = listing.historic_layers;
  return {
    l0: historic.filter((layer) => layer.kind === 'Delta' && layer.l0).length,
    l1: historic.filter((layer) => layer.kind === 'Delta' && !layer.l0).length,
    images: historic.filter((layer) => layer.kind === 'Image').length,
  };
}

async function caughtUp(server: TestServer, base: string, lsn: string): Promise<void> {
  await eventually(async () => {
    const info = (await server.request('GET', base)).body as TimelineInfo;
    return parseLsn(info.last_record_lsn) >= parseLsn(lsn) ? true : undefined;
  }, 60_000, `Strata reaching ${lsn}`);
}

test('pgbench rounds make L0, L1 and image layers; GC removes superseded layers; a branch and history read correctly throughout', async () => {
  const cluster = await PostgresCluster.create({ settings: { autovacuum: 'off' } });
  let server: TestServer | undefined;
  try {
    await cluster.sql('CREATE EXTENSION pageinspect');
    server = await startTestServer({ allowLogs: [/replication connection lost/] });
    const config = {
      checkpoint_distance: '256KiB', checkpoint_timeout: '1s', compaction_threshold: 3, compaction_target_size: '1MiB',
      compaction_period: '500ms', image_creation_threshold: 2, gc_period: '0s', pitr_interval: '0s',
    };
    const refused = await server.request('POST', '/v1/tenant', { config: { ...config, compaction_threshold: 'many' } });
    assert.is(refused.status, 400, 'a bad tenant setting is refused');
    assert.match(JSON.stringify(refused.body), /compaction_threshold/);
    const tenant = await server.post<{ id: string }>('/v1/tenant', { config });
    const created = await server.post<TimelineInfo>(`/v1/tenant/${tenant.id}/timeline`, { from_primary: cluster.connectionString() });
    const base = `/v1/tenant/${tenant.id}/timeline/${created.timeline_id}`;
    await cluster.pgbench(['-i', '-s', '2', '-q']);

    const rounds: Capture[][] = [];
    let branchBase: string | undefined;
    let branchCaptures: Capture[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      await cluster.pgbench(['-c', '2', '-T', '3', '-n']);
      const captures = await captureRound(cluster, round);
      await caughtUp(server, base, captures[0]!.lsn);
      rounds.push(captures);
      await comparePages(server, base, captures, `round ${round}, as ingested`);
      if (round === 1) {
        const branch = await server.post<TimelineInfo>(`/v1/tenant/${tenant.id}/timeline`, { ancestor_timeline_id: created.timeline_id, ancestor_start_lsn: captures[0]!.lsn });
        assert.is(branch.ancestor_timeline_id, created.timeline_id);
        assert.is(branch.ancestor_lsn, captures[0]!.lsn);
        branchBase = `/v1/tenant/${tenant.id}/timeline/${branch.timeline_id}`;
        branchCaptures = captures;
        await comparePages(server, branchBase, captures, 'branch at its branch point');
      }
    }
    assert.ok(branchBase !== undefined);
    const deleteParent = await server.request('DELETE', base);
    assert.is(deleteParent.status, 409, 'a timeline with a child cannot be deleted');

    // Every earlier LSN still reads its captures after the periodic compaction passes.
    await server.request('PUT', `${base}/checkpoint`);
    await server.request('PUT', `${base}/compact?force=true`);
    const before = summarize(await layers(server, base));
    console.log(`layers before GC: ${JSON.stringify(before)}`);
    assert.ok(before.l1 > 0, 'compaction wrote L1 deltas');
    assert.ok(before.images > 1, 'compaction wrote image layers beyond the import');
    for (const captures of rounds) await comparePages(server, base, captures, `after compaction, ${captures[0]!.label.split(' pgbench')[0]}`);

    // GC with the cutoff at the last round's LSN: earlier LSNs are refused, the last one reads, and
    // the branch (whose point lies below the cutoff) still reads through its ancestor.
    const info = (await server.request('GET', base)).body as TimelineInfo;
    const lastLsn = parseLsn(rounds[ROUNDS - 1]![0]!.lsn);
    const horizon = parseLsn(info.last_record_lsn) - lastLsn;
    const gc = await server.request('PUT', `${base}/do_gc`, { gc_horizon: horizon });
    assert.is(gc.status, 200, JSON.stringify(gc.body));
    const outcome = gc.body as { layers_total: number; layers_removed: number; layers_needed_by_branches: number };
    console.log(`GC: ${JSON.stringify(outcome)}`);
    assert.ok(outcome.layers_removed > 0, 'GC removed superseded layers');
    assert.ok(outcome.layers_needed_by_branches > 0, 'GC kept layers for the branch point');
    const after = summarize(await layers(server, base));
    console.log(`layers after GC: ${JSON.stringify(after)}`);
    await comparePages(server, base, rounds[ROUNDS - 1]!, 'after GC, last round');
    const old = rounds[0]![0]!;
    const tooOld = await server.request('GET', `${base}/getpage?rel=${old.rel}&fork=main&blk=${old.block}&lsn=${old.lsn}`);
    assert.is(tooOld.status, 410, `a read below the GC cutoff is refused: ${JSON.stringify(tooOld.body)}`);
    assert.match(JSON.stringify(tooOld.body), /GC cutoff/);
    await comparePages(server, branchBase, branchCaptures, 'branch after its ancestor\'s GC');

    // A restart loads everything back (ancestors before branches) and reads the same.
    await server.restart();
    await comparePages(server, base, rounds[ROUNDS - 1]!, 'after restart, last round');
    await comparePages(server, branchBase, branchCaptures, 'branch after restart');
    const amplification = (await layers(server, base)).read_amplification;
    console.log(`read amplification since restart (layers searched: reads): ${amplification.map((count, index) => (count > 0 ? `${index}:${count}` : '')).filter(Boolean).join(' ')}`);

    // The branch is a leaf: it can be deleted, then so could the parent.
    assert.is((await server.request('DELETE', branchBase)).status, 200);
    assert.is((await server.request('GET', branchBase)).status, 404);
    server.logs.assertClean();
  } finally {
    await server?.stop();
    await cluster.destroy();
  }
});

test.run();
