/**
 * A replay worker (src/walredo/replay-pool.ts): applies the records of the packed batches it is
 * sent to its share of the pages (PageReplayer with its partition), and reports its counts when
 * told the stream ended. The batches' bytes are SharedArrayBuffers: nothing is copied to get here.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { parentPort, workerData } from 'node:worker_threads';
import { assert } from '../src/assert.js';
import { packedRecordsProblem, type PackedRecords } from '../src/wal/packed-records.js';
import { PackedRecordView } from '../src/wal/xlog-record.js';
import { PageReplayer } from '../src/walredo/replay.js';

assert(parentPort !== null, 'redo-replay-thread.js runs as a worker thread');
const port = parentPort;
const { partition, partitions, cpuProfileFile } = workerData as { partition: number; partitions: number; cpuProfileFile?: string };
// Profiling (`strata bench redo --cpu-prof DIR`): the V8 profiler of this thread, written as a
// .cpuprofile (Chrome DevTools format) when the stream ends.
const profiler = cpuProfileFile === undefined ? undefined : new Session();
profiler?.connect();
profiler?.post('Profiler.enable');
profiler?.post('Profiler.start');
const replayer = new PageReplayer({ partition, partitions });
const view = new PackedRecordView();
let busyNanoseconds = 0n;

port.on('message', (message: { kind: 'batch'; batch: PackedRecords } | { kind: 'end' }) => {
  if (message.kind === 'end') {
    const report = () => port.postMessage({ kind: 'stats', stats: replayer.stats, busySeconds: Number(busyNanoseconds) / 1e9 });
    if (profiler === undefined || cpuProfileFile === undefined) return report();
    profiler.post('Profiler.stop', (error, result) => {
      if (error === null) writeFileSync(cpuProfileFile, JSON.stringify(result.profile));
      report();
    });
    return;
  }
  const started = process.hrtime.bigint();
  const problem = packedRecordsProblem(message.batch);
  assert(problem === undefined, `malformed batch: ${problem}`);
  view.reset(message.batch);
  for (let index = 0; index < message.batch.count; index++) replayer.apply(view.moveTo(index));
  busyNanoseconds += process.hrtime.bigint() - started;
  port.postMessage({ kind: 'done' });
});
port.postMessage({ kind: 'ready' });
