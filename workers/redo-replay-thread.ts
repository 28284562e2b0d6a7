/**
 * A replay worker (src/walredo/replay-pool.ts): replays one WAL stream per `run` message, applying
 * the records of the packed batches it receives on that run's port, straight from the WAL decode
 * thread, to its share of the pages (PageReplayer with its partition). It answers each batch with
 * a credit on the port, and main with its counts when the stream ends.
 *
 * The worker outlives its runs, as the server's redo workers outlive their requests: its compiled
 * code stays warm, and its page pool (replay.ts PagePool) is handed from one run to the next, so
 * a run reuses the page memory of the previous one instead of allocating (and faulting in) new.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { assert } from '../src/assert.js';
import { packedRecordsProblem } from '../src/wal/packed-records.js';
import type { WalDecodePortAnswer, WalDecodePortMessage } from '../src/wal/wal-decode-protocol.js';
import { PackedRecordView } from '../src/wal/xlog-record.js';
import { PagePool, PageReplayer } from '../src/walredo/replay.js';
import type { ReplayWorkerAnswer, ReplayWorkerRequest } from '../src/walredo/replay-pool.js';

assert(parentPort !== null, 'redo-replay-thread.js runs as a worker thread');
const main = parentPort;
const { partition, partitions } = workerData as { partition: number; partitions: number };
const pool = new PagePool();
const view = new PackedRecordView();
const CREDIT: WalDecodePortAnswer = { kind: 'credit' };

function answer(message: ReplayWorkerAnswer): void {
  main.postMessage(message);
}

/** Starts the V8 profiler of this thread; the returned function writes the .cpuprofile. */
function startProfiler(file: string): (done: () => void) => void {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  return (done) => session.post('Profiler.stop', (error, result) => {
    if (error === null) writeFileSync(file, JSON.stringify(result.profile));
    session.disconnect();
    done();
  });
}

function run(request: Extract<ReplayWorkerRequest, { kind: 'run' }>): void {
  const port: MessagePort = request.port;
  const replayer = new PageReplayer({ partition, partitions, pool });
  const stopProfiler = request.cpuProfileFile === undefined ? undefined : startProfiler(request.cpuProfileFile);
  let busyNanoseconds = 0n;
  let finished = false;
  const finish = (outcome: { error?: string }): void => {
    if (finished) return;
    finished = true;
    port.removeAllListeners();
    port.close();
    const stats = { ...replayer.stats }; // as they were before the pages went back to the pool
    replayer.release();
    const report = () => answer(outcome.error === undefined
      ? { kind: 'stats', run: request.run, stats, busySeconds: Number(busyNanoseconds) / 1e9 }
      : { kind: 'failed', run: request.run, message: outcome.error });
    if (stopProfiler === undefined) report();
    else stopProfiler(report);
  };
  port.on('message', (message: WalDecodePortMessage) => {
    if (message.kind === 'end') return finish({});
    if (message.kind === 'failed') return finish({ error: message.error.message });
    const started = process.hrtime.bigint();
    const batch = message.batch;
    const problem = packedRecordsProblem(batch);
    if (problem !== undefined) return finish({ error: `malformed batch from the WAL decode thread: ${problem}` });
    view.reset(batch);
    for (let index = 0; index < batch.count; index++) replayer.apply(view.moveTo(index));
    busyNanoseconds += process.hrtime.bigint() - started;
    port.postMessage(CREDIT);
  });
  port.on('close', () => finish({ error: 'the WAL decode thread closed the stream before its end' }));
}

main.on('message', (request: ReplayWorkerRequest) => {
  if (request.kind === 'run') run(request);
});
answer({ kind: 'ready' });
