/**
 * A replay worker (src/walredo/replay-pool.ts): replays one WAL stream per `run` message, applying
 * the records of each packed batch to its share of the pages (PageReplayer with its partition).
 * The batches come either on that run's port (from the WAL decode thread, or from the first
 * worker), each answered with a credit, or, for the first of several workers, from decoding the
 * segment files itself and handing every batch on to the others. It answers main with its counts
 * when the stream ends.
 *
 * The worker outlives its runs, as the server's redo workers outlive their requests: its compiled
 * code stays warm, and its page pool (replay.ts PagePool) is handed from one run to the next, so
 * a run reuses the page memory of the previous one instead of allocating (and faulting in) new.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { parentPort, workerData } from 'node:worker_threads';
import { assert } from '../src/assert.js';
import { isStrataError, StrataError, type SerializedStrataError } from '../src/errors.js';
import { BatchFanout } from '../src/wal/batch-fanout.js';
import { packedRecordsProblem, type PackedRecords } from '../src/wal/packed-records.js';
import { readWalFilePackedBatches } from '../src/wal/segment-reader.js';
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

function serialize(error: unknown): SerializedStrataError {
  if (isStrataError(error)) return error.toJSON();
  return new StrataError('PS_ERR_REDO_FAILED', `replay worker ${partition} failed: ${error instanceof Error ? error.message : String(error)}`).toJSON();
}

function run(request: Extract<ReplayWorkerRequest, { kind: 'run' }>): void {
  const replayer = new PageReplayer({ partition, partitions, pool, ...(request.shareWeights === undefined ? {} : { shareWeights: request.shareWeights }) });
  const stopProfiler = request.cpuProfileFile === undefined ? undefined : startProfiler(request.cpuProfileFile);
  let busyNanoseconds = 0n;
  let finished = false;
  let cleanUp = (): void => undefined;
  const finish = (error?: SerializedStrataError): void => {
    if (finished) return;
    finished = true;
    cleanUp();
    const stats = { ...replayer.stats }; // as they were before the pages went back to the pool
    replayer.release();
    const report = () => answer(error === undefined
      ? { kind: 'stats', run: request.run, stats, busySeconds: Number(busyNanoseconds) / 1e9 }
      : { kind: 'failed', run: request.run, error });
    if (stopProfiler === undefined) report();
    else stopProfiler(report);
  };
  const apply = (batch: PackedRecords): void => {
    const started = process.hrtime.bigint();
    view.reset(batch);
    for (let index = 0; index < batch.count; index++) replayer.apply(view.moveTo(index));
    busyNanoseconds += process.hrtime.bigint() - started;
  };
  const source = request.source;
  if (source.kind === 'files') {
    void decodeAndApply(source, apply, finish);
    return;
  }
  const port = source.port;
  cleanUp = () => {
    port.removeAllListeners();
    port.close();
  };
  port.on('message', (message: WalDecodePortMessage) => {
    if (message.kind === 'end') return finish();
    if (message.kind === 'failed') return finish(message.error);
    const problem = packedRecordsProblem(message.batch);
    if (problem !== undefined) return finish(new StrataError('PS_ERR_REDO_FAILED', `malformed batch from the WAL decoder: ${problem}`).toJSON());
    apply(message.batch);
    port.postMessage(CREDIT);
  });
  port.on('close', () => finish(new StrataError('PS_ERR_IO', 'the WAL decoder closed the stream before its end').toJSON()));
}

/**
 * The decoding worker's part (replay-pool.ts, two workers or more): reads and decodes the segment
 * files itself, hands every batch on to the other workers (BatchFanout, within their credits),
 * then applies it to its own share. WHY: on a machine with as many cores as redo workers, a
 * separate decode thread is one busy thread too many (measured: two workers with a decode
 * thread 0.61-0.72 s, with the first worker decoding 0.55-0.64 s, on the same WAL).
 */
async function decodeAndApply(
  source: Extract<ReplayWorkerRequest, { kind: 'run' }>['source'] & { kind: 'files' },
  apply: (batch: PackedRecords) => void,
  finish: (error?: SerializedStrataError) => void,
): Promise<void> {
  const fanout = source.ports.length === 0 ? undefined : new BatchFanout(source.ports, source.credits);
  let records = 0;
  try {
    const batches = readWalFilePackedBatches(source.paths, {
      ...(source.startLsn === undefined ? {} : { startLsn: source.startLsn }),
      ...(source.endLsn === undefined ? {} : { endLsn: source.endLsn }),
      segmentSize: source.segmentSize, sharedMemory: true,
    });
    for await (const batch of batches) {
      if (fanout !== undefined && !(await fanout.ready())) throw new StrataError('PS_ERR_IO', 'the replay was cancelled');
      // Cloned for the others (this worker reads the columns too); the WAL bytes are shared.
      fanout?.send(batch, false);
      records += batch.count;
      apply(batch);
    }
    fanout?.end(records);
    finish();
  } catch (error) {
    const serialized = serialize(error);
    fanout?.fail(serialized);
    finish(serialized);
  }
}

main.on('message', (request: ReplayWorkerRequest) => {
  if (request.kind === 'run') run(request);
});
answer({ kind: 'ready' });
