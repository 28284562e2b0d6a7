/**
 * Strata's redo against PostgreSQL 15 itself: real WAL written with `wal_consistency_checking =
 * all` (test/helpers/consistency-wal.ts: pgbench plus a reduced broad workload) carries, for every
 * page a record touched, the page as PostgreSQL left it; the verifier (src/walredo/verify.ts)
 * replays each record on the previous image of each page and compares, masked as rm_mask does.
 *
 * WHY this is the redo acceptance test: it covers every record type the workload produces, byte
 * for byte, with PostgreSQL as the oracle. It demands zero mismatches and zero failures overall,
 * and no unsupported record type in the resource managers of IMPLEMENTED_REDO_RMGRS
 * (test/helpers/redo-coverage.ts), which grows as redo modules land (the per-type report printed below shows what is still unsupported).
 */
import { IMPLEMENTED_REDO_RMGRS } from '../helpers/redo-coverage.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatLsn } from '../../src/lsn.js';
import { RMGR_NAMES } from '../../src/wal/types.js';
import { format, verifyWalFiles, type VerifyReport } from '../../src/walredo/verify.js';
import { createConsistencyWal } from '../helpers/consistency-wal.js';

/** Resource managers whose redo is implemented: none of their record types may be unsupported. */
const IMPLEMENTED_RMGRS: readonly string[] = [...IMPLEMENTED_REDO_RMGRS];

let report: VerifyReport | undefined;

test.before(async () => {
  const wal = await createConsistencyWal();
  try {
    const started = performance.now();
    report = await verifyWalFiles(wal.walFiles, { startLsn: wal.startLsn, endLsn: wal.endLsn });
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const megabytes = ((wal.endLsn - wal.startLsn) / 1e6).toFixed(0);
    process.stdout.write(`WAL ${formatLsn(wal.startLsn)}..${formatLsn(wal.endLsn)} (${megabytes} MB) verified in ${seconds} s\n${format(report)}`);
  } finally {
    await wal.cluster.destroy();
  }
});

function verified(): VerifyReport {
  assert.ok(report, 'the WAL was verified');
  return report!;
}

test('the oracle WAL was read and pages were compared', () => {
  const result = verified();
  assert.ok(result.records > 10_000, `only ${result.records} records`);
  assert.ok(result.checked > 0, 'no page was compared');
  assert.is(result.evictions, 0, 'page states were evicted: raise pagesMax or shrink the workload');
});

test('redo matches PostgreSQL on every compared page', () => {
  const result = verified();
  const bad = result.types.filter((counts) => counts.mismatches > 0).map((counts) => `${counts.name}: ${counts.mismatches}`);
  assert.is(result.mismatches, 0, `mismatches: ${bad.join(', ')}`);
});

test('redo never fails', () => {
  const result = verified();
  const bad = result.types.filter((counts) => counts.failed > 0).map((counts) => `${counts.name}: ${counts.failed}`);
  assert.is(result.failed, 0, `failures: ${bad.join(', ')}`);
});

test('implemented resource managers support every record type of the workload', () => {
  const implemented = new Set(IMPLEMENTED_RMGRS.map((name) => (RMGR_NAMES as readonly string[]).indexOf(name)));
  const unsupported = verified().types
    .filter((counts) => implemented.has(counts.rmgrId) && counts.unsupported > 0)
    .map((counts) => `${counts.name}: ${counts.unsupported}`);
  assert.equal(unsupported, []);
});

test('every implemented resource manager had pages compared', () => {
  const result = verified();
  for (const name of IMPLEMENTED_RMGRS) {
    const id = (RMGR_NAMES as readonly string[]).indexOf(name);
    const checked = result.types.filter((counts) => counts.rmgrId === id).reduce((sum, counts) => sum + counts.checked, 0);
    assert.ok(checked > 0, `no ${name} page was compared`);
  }
});

/**
 * Record types PostgreSQL writes only in corner cases, which the broad workload sets up on purpose
 * (test/fixtures/broad-workload.sql): each must occur and have pages compared.
 */
const CORNER_CASE_TYPES = ['Heap2/LOCK_UPDATED', 'BRIN/UPDATE', 'Hash/VACUUM_ONE_PAGE', 'Hash/MOVE_PAGE_CONTENTS'];

test('the corner-case record types the workload sets up occur and are compared', () => {
  const result = verified();
  for (const name of CORNER_CASE_TYPES) {
    const counts = result.types.filter((each) => each.name === name || each.name.startsWith(`${name}+`));
    const checked = counts.reduce((sum, each) => sum + each.checked, 0);
    assert.ok(checked > 0, `${name}: ${counts.length === 0 ? 'never occurred' : 'no page compared'} (types seen: ${result.types.map((each) => each.name).filter((each) => each.startsWith(name.split('/')[0]!)).join(', ')})`);
  }
});

test.run();
