/**
 * A moment of a primary's history, taken so that a compute at its LSN or its time must answer
 * exactly the recorded results: LOCK … IN EXCLUSIVE MODE on the pgbench tables first, so every
 * pgbench transaction that committed before is fully done (its commit time before the recorded
 * time) and none commits until the lock goes; then the insert LSN, clock_timestamp() (UTC, to the
 * microsecond) and the results, in one statement.
 */
import type { PostgresCluster } from '../../src/platform/postgres-cluster.js';

export interface Moment {
  lsn: string;
  /** ISO 8601, UTC, microseconds. */
  time: string;
  results: string;
}

/** `resultsSql` is one SQL expression (text); `before` runs first, outside the lock. */
export async function captureMoment(primary: PostgresCluster, resultsSql: string, before = ''): Promise<Moment> {
  const output = await primary.script(`
    ${before}
    BEGIN;
    LOCK TABLE pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history IN EXCLUSIVE MODE;
    SELECT pg_current_wal_insert_lsn() || '|' || to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '|' || (${resultsSql});
    COMMIT;
  `);
  const [lsn, time, results] = output.split('\n').at(-1)!.split('|') as [string, string, string];
  return { lsn, time, results };
}
