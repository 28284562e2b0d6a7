/**
 * Entry point of an actor worker thread (one of the fixed pool `actor_threads`; see
 * src/actor/system.ts). It only wires the thread's MessagePort, rings and logger into an
 * ActorThreadServer; the protocol and all logic live in src/actor/thread-server.ts.
 */
import { Writable } from 'node:stream';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import type pino from 'pino';
import { assert } from '../src/assert.js';
import { ActorThreadServer } from '../src/actor/thread-server.js';
import type { ActorThreadData } from '../src/actor/thread-protocol.js';
import { createLogger } from '../src/observability/log.js';

assert(parentPort !== null, 'actor-thread.js runs as a worker thread');
const data = workerData as ActorThreadData;
assert(Number.isInteger(data.threadIndex), 'workerData names the thread index');

// Lines go to the main thread, which writes them to the server's one log destination (a file, stdout
// or a test's capture), so every thread's WARN/ERROR is seen in one place.
const port = parentPort;
const forward = new Writable({
  write(chunk: Buffer | string, _encoding, callback) {
    port.postMessage({ kind: 'log', lines: String(chunk) });
    callback();
  },
});
const logger = createLogger({ level: data.logLevel as pino.LevelWithSilent, destination: forward })
  .child({ actor_thread: data.threadIndex, thread_id: threadId });
new ActorThreadServer({ port: parentPort, data, logger }).start();
