/**
 * The page oracle of the redo tests, shared by the tests that end with "every page equals the
 * primary" (redo-pages.test.ts, crash-sigkill.test.ts). What it compares and why is explained in
 * the header of test/integration/redo-pages.test.ts; in short, for each page of each WAL-logged
 * relation fork of a cleanly shut down primary, Strata's GetPage at the shutdown checkpoint:
 *  - against the primary: pd_lsn as it is (never masked), the rest with the access method's mask
 *    applied to both (as wal_consistency_checking compares); mismatches of each kind are listed;
 *  - against a stock standby that replayed the same WAL to the same checkpoint: byte for byte,
 *    nothing masked; pages where Strata differs from the primary exactly as PostgreSQL's own redo
 *    does are listed apart (changes the primary made without WAL);
 *  - CLOG and multixact segment files against Strata's SLRU segments, byte for byte.
 * The server is reached through `PageRequest` (an in-process TestServer's `request`, or fetch to a
 * server process).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { RmgrId } from '../../src/wal/types.js';
import { maskPage } from '../../src/walredo/masks.js';
import { type PostgresCluster, runPg } from './postgres.js';
import { IMPLEMENTED_REDO_RMGRS, unsupportedRmgrOf } from './redo-coverage.js';

const BLCKSZ = 8192;

/** An HTTP request to the Strata server: status and JSON or bytes (TestServer.request's shape). */
export type PageRequest = (method: string, path: string) => Promise<{ status: number; body: any }>;

export interface RelationFile {
  database: string; spcNode: number; dbNode: number; relNode: number; path: string; rmgr: number; name: string;
  /** Forks WAL describes: main and vm of permanent relations, the init fork of unlogged ones. */
  forks: readonly ('main' | 'vm' | 'init')[];
}

/** The rmgr whose mask applies to a relation's main-fork pages, by access method / relkind. */
function rmgrOfRelation(am: string, relkind: string): number {
  if (relkind === 'S') return RmgrId.Sequence;
  switch (am) {
    case 'btree': return RmgrId.Btree;
    case 'hash': return RmgrId.Hash;
    case 'gin': return RmgrId.Gin;
    case 'gist': return RmgrId.Gist;
    case 'spgist': return RmgrId.SPGist;
    case 'brin': return RmgrId.BRIN;
    case 'bloom': return RmgrId.Generic;
    default: return RmgrId.Heap;
  }
}

export async function relationFiles(cluster: PostgresCluster): Promise<RelationFile[]> {
  const databases = (await cluster.sql('SELECT datname FROM pg_database WHERE datallowconn ORDER BY oid')).split('\n');
  const files: RelationFile[] = [];
  const seen = new Set<string>();
  for (const database of databases) {
    const query = `
      SELECT CASE WHEN c.relisshared THEN 1664 WHEN c.reltablespace = 0 THEN (SELECT dattablespace FROM pg_database WHERE datname = current_database()) ELSE c.reltablespace END,
             CASE WHEN c.relisshared THEN 0 ELSE (SELECT oid FROM pg_database WHERE datname = current_database()) END,
             pg_relation_filenode(c.oid), pg_relation_filepath(c.oid), coalesce(a.amname, ''), c.relkind, c.relname, c.relpersistence
      FROM pg_class c LEFT JOIN pg_am a ON a.oid = c.relam
      WHERE pg_relation_filenode(c.oid) IS NOT NULL AND c.relpersistence IN ('p', 'u')`;
    for (const line of (await cluster.sql(query, database)).split('\n')) {
      const [spc, db, rel, path, am, relkind, name, persistence] = line.split('|');
      const key = `${spc}/${db}/${rel}`;
      if (seen.has(key)) continue;
      seen.add(key);
      // An unlogged relation's main fork is not WAL-logged (reset from its init fork after a crash).
      const forks = persistence === 'u' ? ['init'] as const : ['main', 'vm'] as const;
      files.push({ database, spcNode: Number(spc), dbNode: Number(db), relNode: Number(rel), path: path!, rmgr: rmgrOfRelation(am!, relkind!), name: name!, forks });
    }
  }
  return files;
}

/** The pages of a relation fork's files (segments of 1 GB: `path`, `path.1`, …); empty when missing. */
export async function readForkPages(dataDirectory: string, path: string): Promise<Uint8Array[]> {
  const pages: Uint8Array[] = [];
  for (let segment = 0; ; segment++) {
    const file = join(dataDirectory, segment === 0 ? path : `${path}.${segment}`);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch {
      return pages;
    }
    for (let offset = 0; offset + BLCKSZ <= bytes.length; offset += BLCKSZ) pages.push(new Uint8Array(bytes.subarray(offset, offset + BLCKSZ)));
    if (bytes.length < 1024 * 1024 * 1024) return pages;
  }
}

export function firstDifference(left: Uint8Array, right: Uint8Array): number {
  for (let index = 0; index < left.length; index++) if (left[index] !== right[index]) return index;
  return -1;
}

export interface Comparison {
  compared: number;
  /** Pages whose bytes differ after both are masked as wal_consistency_checking masks them. */
  mismatches: string[];
  /** Pages whose pd_lsn (never masked here) differs. */
  lsnMismatches: string[];
  byFork: Map<string, number>;
  /**
   * Pages where Strata differs from the primary exactly as PostgreSQL's own redo (the standby)
   * does: changes the primary makes without WAL, which no WAL consumer can see.
   */
  asPostgresRedo: string[];
  /** Pages where Strata equals the primary but the standby does not (VM bits lost by WAL_LOG copies). */
  beyondPostgresRedo: string[];
  /** Pages compared with the standby byte for byte, nothing masked, and those that differ. */
  unmaskedCompared: number;
  unmaskedDifferences: string[];
  unsupported: Map<string, number>;
  failures: string[];
  unloggedVmPages: number;
}

export function newComparison(): Comparison {
  return {
    compared: 0, mismatches: [], lsnMismatches: [], byFork: new Map(), asPostgresRedo: [], beyondPostgresRedo: [], unmaskedCompared: 0,
    unmaskedDifferences: [], unsupported: new Map(), failures: [], unloggedVmPages: 0,
  };
}

/** How `ours` differs from `theirs`: masked as wal_consistency_checking masks, and in pd_lsn (never masked). */
export function differences(ours: Uint8Array, theirs: Uint8Array, rmgr: number, block: number): { lsn: string | undefined; masked: string | undefined } {
  const lsn = pageLsnOf(ours) === pageLsnOf(theirs) ? undefined : `pd_lsn ${pageLsnOf(ours)} vs ${pageLsnOf(theirs)}`;
  const left = ours.slice();
  const right = theirs.slice();
  maskPage(rmgr, left, block);
  maskPage(rmgr, right, block);
  const at = firstDifference(left, right);
  return { lsn, masked: at < 0 ? undefined : `first difference at byte ${at}: ${left[at]} vs ${right[at]}` };
}

export function pageLsnOf(page: Uint8Array): string {
  const view = new DataView(page.buffer, page.byteOffset, 8);
  return `${view.getUint32(0, true).toString(16).toUpperCase()}/${view.getUint32(4, true).toString(16).toUpperCase()}`;
}

export interface PageSpec {
  rel: string; fork: string; block: number; lsn: string; rmgr: number; label: string;
  /** The primary's page. */
  expected: Uint8Array;
  /** PostgreSQL's own redo of the same WAL: the standby's page (undefined: not compared with one). */
  standby?: Uint8Array | undefined;
}

export async function comparePage(request: PageRequest, base: string, spec: PageSpec, into: Comparison): Promise<void> {
  const response = await request('GET', `${base}/getpage?rel=${spec.rel}&fork=${spec.fork}&blk=${spec.block}&lsn=${spec.lsn}`);
  if (response.status === 501) {
    const message = String((response.body as { msg?: string; message?: string }).msg ?? (response.body as { message?: string }).message ?? JSON.stringify(response.body));
    const rmgr = unsupportedRmgrOf(message) ?? 'unknown';
    into.unsupported.set(rmgr, (into.unsupported.get(rmgr) ?? 0) + 1);
    if (IMPLEMENTED_REDO_RMGRS.has(rmgr)) into.failures.push(`${spec.label}: 501 for implemented ${rmgr}: ${message}`);
    return;
  }
  if (response.status === 404 && spec.fork === 'vm' && spec.expected.subarray(24).every((byte) => byte === 0)) {
    // PostgreSQL extends the visibility map without WAL (VACUUM pins VM pages before it knows
    // whether it will set a bit): a VM page no record ever touched has no bits set, which is what
    // a missing VM page means too. Counted, not compared.
    into.unloggedVmPages += 1;
    return;
  }
  if (response.status !== 200) {
    into.failures.push(`${spec.label}: HTTP ${response.status} ${JSON.stringify(response.body).slice(0, 300)}`);
    return;
  }
  const ours = new Uint8Array(response.body as Uint8Array);
  into.compared += 1;
  into.byFork.set(spec.fork, (into.byFork.get(spec.fork) ?? 0) + 1);
  const maskRmgr = spec.fork === 'main' || spec.fork === 'init' ? spec.rmgr : RmgrId.Xlog;
  const primary = differences(ours, spec.expected, maskRmgr, spec.block);
  const standby = spec.standby === undefined ? undefined : differences(ours, spec.standby, maskRmgr, spec.block);
  if (spec.standby !== undefined) {
    // PostgreSQL's own redo, byte for byte: nothing masked (the standby ran no queries, so it set
    // no hint bits of its own).
    into.unmaskedCompared += 1;
    const at = firstDifference(ours, spec.standby);
    if (at >= 0) into.unmaskedDifferences.push(`${spec.label}: byte ${at}: strata ${ours[at]} standby ${spec.standby[at]}`);
  }
  if (primary.lsn === undefined && primary.masked === undefined) {
    if (standby !== undefined && (standby.lsn !== undefined || standby.masked !== undefined)) {
      into.beyondPostgresRedo.push(`${spec.label}: PostgreSQL's redo differs from the primary (${standby.masked ?? standby.lsn}); Strata equals the primary`);
    }
    return;
  }
  if (standby !== undefined && standby.lsn === undefined && standby.masked === undefined) {
    // The primary changed this page without WAL (or wrote it outside shared buffers): PostgreSQL's
    // own redo ends where Strata does. Listed, not a mismatch.
    into.asPostgresRedo.push(`${spec.label}: ${primary.masked ?? primary.lsn} (strata vs primary), as PostgreSQL's redo`);
    return;
  }
  if (primary.lsn !== undefined) into.lsnMismatches.push(`${spec.label}: ${primary.lsn} (strata vs primary)`);
  if (primary.masked !== undefined) into.mismatches.push(`${spec.label}: ${primary.masked} (strata vs primary)`);
}

/**
 * Stops the standby once it has replayed the primary's shutdown checkpoint: its shutdown
 * restartpoint then writes every page, and its files are PostgreSQL's own redo of the WAL Strata
 * ingested. WHY not ask it over SQL: a session reads catalogs and sets hint bits on their pages,
 * and the standby's pages are compared byte for byte. So: stop it, read the checkpoint its
 * restartpoint recorded, and start it again (no session) while that is not the primary's last.
 */
export async function stopAfterReplaying(standby: PostgresCluster, checkpoint: string): Promise<void> {
  for (let attempt = 0; attempt < 30; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    await standby.stop('fast');
    const control = (await runPg('pg_controldata', ['-D', standby.dataDirectory])).stdout;
    if (/Latest checkpoint location:\s+(\S+)/.exec(control)?.[1] === checkpoint) return;
    await standby.start();
  }
  assert.unreachable(`the standby did not replay the primary's shutdown checkpoint ${checkpoint}`);
}

/**
 * Compares every page of every fork in `files` on the primary (and the standby, when given) with
 * Strata's GetPage at `lsn` (see the header).
 */
export async function compareRelationPages(options: {
  files: readonly RelationFile[]; primaryDirectory: string; standbyDirectory: string | undefined; request: PageRequest; base: string; lsn: string;
}): Promise<Comparison> {
  const result = newComparison();
  for (const file of options.files) {
    for (const fork of file.forks) {
      const path = fork === 'main' ? file.path : `${file.path}_${fork}`;
      const pages = await readForkPages(options.primaryDirectory, path);
      const redone = options.standbyDirectory === undefined ? undefined : await readForkPages(options.standbyDirectory, path);
      for (let block = 0; block < pages.length; block++) {
        await comparePage(options.request, options.base, {
          rel: `${file.spcNode}/${file.dbNode}/${file.relNode}`, fork, block, lsn: options.lsn, rmgr: file.rmgr, expected: pages[block]!,
          standby: redone === undefined ? undefined : redone[block] ?? new Uint8Array(BLCKSZ), label: `${file.database}.${file.name} ${fork} blk ${block}`,
        }, result);
      }
    }
  }
  return result;
}

/** Every pg_xact and pg_multixact segment file of the primary against Strata's segment at `lsn`. */
export async function compareSlruSegments(primaryDirectory: string, request: PageRequest, base: string, lsn: string): Promise<{ compared: number; mismatches: string[] }> {
  const mismatches: string[] = [];
  let compared = 0;
  for (const [kind, directory] of [['clog', 'pg_xact'], ['multixact_offsets', 'pg_multixact/offsets'], ['multixact_members', 'pg_multixact/members']] as const) {
    for (const name of (await readdir(join(primaryDirectory, directory))).filter((file) => /^[0-9A-F]{4,}$/.test(file))) {
      const expected = new Uint8Array(await readFile(join(primaryDirectory, directory, name)));
      const response = await request('GET', `${base}/slru?kind=${kind}&segment=${parseInt(name, 16)}&lsn=${lsn}`);
      compared += 1;
      if (response.status !== 200) {
        mismatches.push(`${directory}/${name}: HTTP ${response.status} ${JSON.stringify(response.body).slice(0, 200)}`);
        continue;
      }
      const ours = new Uint8Array(response.body as Uint8Array);
      const differs = firstDifference(ours, expected);
      if (ours.length !== expected.length || differs >= 0) {
        mismatches.push(`${directory}/${name}: ${ours.length} vs ${expected.length} bytes, first difference at ${differs} (page ${Math.floor(differs / BLCKSZ)}): strata ${ours[differs]} primary ${expected[differs]}`);
      }
    }
  }
  return { compared, mismatches };
}

/** Prints what a full comparison found (counts, then the first lines of each list). */
export function printComparison(result: Comparison, files: number, lsn: string): void {
  const unsupported = [...result.unsupported].map(([rmgr, count]) => `${rmgr}=${count}`).join(' ') || 'none';
  const forks = [...result.byFork].map(([fork, count]) => `${fork} ${count}`).join(', ');
  console.log(`pages at ${lsn}: compared ${result.compared} (${forks}) of ${files} relations with the primary and with a standby's redo; masked mismatches ${result.mismatches.length}; pd_lsn mismatches ${result.lsnMismatches.length}; 501 by rmgr: ${unsupported}; VM pages extended without WAL (no bits set): ${result.unloggedVmPages}`);
  console.log(`  pages where the primary has changes no WAL carries and Strata equals PostgreSQL's own redo (the standby): ${result.asPostgresRedo.length}`);
  for (const line of result.asPostgresRedo) console.log(`    ${line}`);
  console.log(`  pages where Strata equals the primary and PostgreSQL's own redo does not: ${result.beyondPostgresRedo.length}`);
  for (const line of result.beyondPostgresRedo.slice(0, 3)) console.log(`    ${line}`);
  console.log(`  pages compared with the standby unmasked: ${result.unmaskedCompared}; differing: ${result.unmaskedDifferences.length}`);
  for (const line of result.unmaskedDifferences.slice(0, 40)) console.log(`    ${line}`);
  for (const line of result.mismatches.slice(0, 10)) console.log(`  mismatch: ${line}`);
  for (const line of result.lsnMismatches.slice(0, 10)) console.log(`  pd_lsn mismatch: ${line}`);
  for (const line of result.failures.slice(0, 10)) console.log(`  failure: ${line}`);
}
