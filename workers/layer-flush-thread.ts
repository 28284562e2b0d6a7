/**
 * Entry point of the layer flush thread (src/storage/flush-worker.ts spawns it): writes delta layer
 * files from snapshots the ingest thread hands over, so that laying out, checksumming, writing and
 * fsyncing ~200 MB never blocks ingest.
 *
 * Requests run one at a time, in arrival order (a promise chain): one flush's file is complete
 * before the next starts, which bounds this thread's memory to one snapshot being written. Every
 * failure is answered as a StrataError PS_ERR_IO (programmer errors included, with their message):
 * the flush stays pending on the ingest side and is retried.
 *
 * Failpoint configurations (the delta layer write evaluates failpoints here) are applied as they
 * arrive, outside the write queue, so a reconfiguration can release a write paused at one.
 */
import { parentPort } from 'node:worker_threads';
import { assert } from '../src/assert.js';
import { isStrataError, StrataError, type SerializedStrataError } from '../src/errors.js';
import { configureFailpoints } from '../src/failpoints.js';
import { writeDeltaLayerSnapshot } from '../src/storage/delta-layer.js';
import type { FlushWorkerRequest, FlushWorkerResponse, WriteDeltaRequest } from '../src/storage/flush-worker-protocol.js';
import { nodeFs } from '../src/storage/fs.js';

assert(parentPort !== null, 'layer-flush-thread.js runs as a worker thread');
const port = parentPort;
let queue: Promise<void> = Promise.resolve();

function serialize(error: unknown, directory: string): SerializedStrataError {
  if (isStrataError(error)) return error.toJSON();
  const reason = error instanceof Error ? error.message : String(error);
  return new StrataError('PS_ERR_IO', `flush thread failed to write a delta layer in ${directory}: ${reason}`, { directory }).toJSON();
}

async function handle(request: WriteDeltaRequest): Promise<void> {
  assert(request.kind === 'writeDelta', 'the flush thread only writes delta layers');
  let response: FlushWorkerResponse;
  try {
    const finished = await writeDeltaLayerSnapshot({
      fs: nodeFs, directory: request.directory, snapshot: request.snapshot, tempPath: request.tempPath,
    });
    response = { kind: 'written', id: request.id, finished };
  } catch (error) {
    response = { kind: 'failed', id: request.id, error: serialize(error, request.directory) };
  }
  port.postMessage(response);
}

port.on('message', (request: FlushWorkerRequest) => {
  // The owner validated the spec in its own registry (same names, same grammar) before forwarding.
  if (request.kind === 'failpoints') configureFailpoints(request.spec);
  else queue = queue.then(() => handle(request));
});
