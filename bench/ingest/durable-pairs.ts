/**
 * Durable ingest against PostgreSQL's replay of the same WAL, in turns (the machine drifts 10–40%,
 * so each Strata run is paired with a PostgreSQL replay taken just before it):
 *   node dist/bench/ingest/durable-pairs.js [pairs]
 * Prints, per pair, PostgreSQL's replay seconds, Strata's durable ingest with and without
 * compaction keeping up, their ratios (PostgreSQL's time over Strata's), and write amplification.
 */
import { createLogger } from '../../src/observability/log.js';
import { generatePgbenchWal } from '../wal-workload.js';
import { replayOnceSeconds } from '../postgres-recovery.js';
import { runDurable, runDurableCompacted } from './ingest.bench.js';

const pairs = Number(process.argv[2] ?? 2);
const logger = createLogger({ level: 'warn', name: 'bench' });
const workload = await generatePgbenchWal({ scale: Number(process.env.STRATA_BENCH_SCALE ?? 10), seconds: Number(process.env.STRATA_BENCH_SECONDS ?? 30), clients: 4, logger });
try {
  const range = { walDirectory: workload.walDirectory, startLsn: workload.startLsn, endLsn: workload.endLsn };
  const megabytes = (workload.endLsn - workload.startLsn) / 1048576;
  console.log(`workload: ${megabytes.toFixed(1)} MiB of WAL`);
  await replayOnceSeconds(workload.dataDirectory); // warm the cache
  for (let pair = 0; pair < pairs; pair++) {
    (globalThis as { gc?: () => void }).gc?.();
    const postgres = await replayOnceSeconds(workload.dataDirectory);
    const durable = await runDurable(range);
    (globalThis as { gc?: () => void }).gc?.();
    const postgresAgain = await replayOnceSeconds(workload.dataDirectory);
    const compacted = await runDurableCompacted(range);
    console.log(`pair ${pair}: postgres ${postgres.toFixed(3)} s, durable ${durable.seconds.toFixed(3)} s (ratio ${(postgres / durable.seconds).toFixed(2)}); ` +
      `postgres ${postgresAgain.toFixed(3)} s, durable+compaction ${compacted.seconds.toFixed(3)} s (ratio ${(postgresAgain / compacted.seconds).toFixed(2)}), ` +
      `${compacted.compactions} compactions, L0 ${(compacted.l0Bytes / 1048576).toFixed(1)} MiB + L1 ${(compacted.l1Bytes / 1048576).toFixed(1)} MiB, write amplification ${compacted.writeAmplification.toFixed(2)}`);
  }
} finally {
  await workload.destroy();
}
