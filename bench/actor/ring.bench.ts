/**
 * Benchmark: 8 KiB request/response round trips between two threads, over our SharedRing pair
 * versus MessagePort postMessage (structured clone), measured in the same run.
 *
 * Method: one echo worker (this same file, role 'ring-echo' or 'port-echo'). The main thread
 * sends one 8 KiB message and waits for the 8 KiB echo before sending the next (latency-bound
 * round trips, like a GetPage@LSN), for `durationMs` after a warm-up. Ring: both sides wait with
 * Atomics.wait (blocking). Port: main awaits the 'message' event. MB/s counts payload bytes in
 * both directions. The ratio ring/port is what matters; absolute numbers are machine-noisy.
 *
 * Reference numbers 2025-11 (2-core VM, load average ~7 from parallel builds, Node 20.20):
 *   ring 35.6k–38.4k round trips/s (557–601 MB/s), postMessage 35.4k–38.2k (553–597 MB/s),
 *   ratio 0.93–1.09. Latency-bound single round trips gain little; an earlier spin-before-wait
 *   variant was 4x slower on this oversubscribed machine and was removed.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { SharedRing } from '../../src/actor/ring.js';

const MESSAGE_BYTES = 8192;
const DURATION_MS = 1_000;
const WARMUP_ROUND_TRIPS = 500;

type EchoData = { role: 'ring-echo'; inbound: SharedArrayBuffer; outbound: SharedArrayBuffer } | { role: 'port-echo' };

function ringEcho(data: Extract<EchoData, { role: 'ring-echo' }>): void {
  const inbound = SharedRing.attach(data.inbound);
  const outbound = SharedRing.attach(data.outbound);
  // Runs until the main thread closes the inbound ring.
  while (!inbound.isClosed) {
    const message = inbound.read();
    if (message === undefined) {
      inbound.waitForData(1_000);
      continue;
    }
    while (!outbound.tryWrite(message)) outbound.waitForData(0);
  }
}

function portEcho(): void {
  parentPort?.on('message', (message: Uint8Array) => parentPort?.postMessage(message));
}

async function measureRing(): Promise<{ roundTrips: number; elapsedMs: number }> {
  const requests = SharedRing.create();
  const responses = SharedRing.create();
  const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { role: 'ring-echo', inbound: requests.buffer, outbound: responses.buffer } satisfies EchoData });
  await new Promise((resolve) => worker.once('online', resolve));
  const payload = new Uint8Array(MESSAGE_BYTES).fill(7);
  const roundTrip = () => {
    if (!requests.tryWrite(payload)) throw new Error('request ring unexpectedly full');
    let reply = responses.read();
    while (reply === undefined) {
      responses.waitForData(1_000);
      reply = responses.read();
    }
    if (reply.byteLength !== MESSAGE_BYTES) throw new Error('short echo');
  };
  for (let index = 0; index < WARMUP_ROUND_TRIPS; index++) roundTrip();
  const started = performance.now();
  let roundTrips = 0;
  while (performance.now() - started < DURATION_MS) {
    roundTrip();
    roundTrips += 1;
  }
  const elapsedMs = performance.now() - started;
  requests.close();
  await worker.terminate();
  return { roundTrips, elapsedMs };
}

async function measurePort(): Promise<{ roundTrips: number; elapsedMs: number }> {
  const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { role: 'port-echo' } satisfies EchoData });
  await new Promise((resolve) => worker.once('online', resolve));
  const payload = new Uint8Array(MESSAGE_BYTES).fill(7);
  const roundTrip = () => new Promise<void>((resolve) => {
    worker.once('message', (reply: Uint8Array) => {
      if (reply.byteLength !== MESSAGE_BYTES) throw new Error('short echo');
      resolve();
    });
    worker.postMessage(payload);
  });
  for (let index = 0; index < WARMUP_ROUND_TRIPS; index++) await roundTrip();
  const started = performance.now();
  let roundTrips = 0;
  while (performance.now() - started < DURATION_MS) {
    await roundTrip();
    roundTrips += 1;
  }
  const elapsedMs = performance.now() - started;
  await worker.terminate();
  return { roundTrips, elapsedMs };
}

export async function run(): Promise<{ name: string; results: Record<string, number | string> }> {
  const ring = await measureRing();
  const port = await measurePort();
  const ringPerSecond = (ring.roundTrips * 1000) / ring.elapsedMs;
  const portPerSecond = (port.roundTrips * 1000) / port.elapsedMs;
  const megabytes = (perSecond: number) => (perSecond * 2 * MESSAGE_BYTES) / (1024 * 1024);
  return {
    name: 'actor/ring: 8 KiB round trips between two threads',
    results: {
      ringRoundTripsPerSecond: Math.round(ringPerSecond),
      ringMegabytesPerSecond: Number(megabytes(ringPerSecond).toFixed(1)),
      postMessageRoundTripsPerSecond: Math.round(portPerSecond),
      postMessageMegabytesPerSecond: Number(megabytes(portPerSecond).toFixed(1)),
      ringOverPostMessageRatio: Number((ringPerSecond / portPerSecond).toFixed(2)),
    },
  };
}

if (!isMainThread) {
  const data = workerData as EchoData;
  if (data.role === 'ring-echo') ringEcho(data);
  else portEcho();
} else if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outcome = await run();
  console.log(outcome.name);
  for (const [key, value] of Object.entries(outcome.results)) console.log(`  ${key}: ${value}`);
}
