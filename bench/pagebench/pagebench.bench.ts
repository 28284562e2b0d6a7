/**
 * pagebench (issue 11 §4): GetPage over the page service (pagestream v3, pipelined), N clients ×
 * pipeline depth, next to the floor of this machine: a Node TCP server answering each request with
 * 8 KiB, driven by the same client loop in the same run.
 *
 *   workloads, each N clients × depth requests in flight, for `seconds`:
 *     echo         the floor: request → 8 KiB, no work
 *     hot-random   random blocks of a small set read just before (OS cache warm, layers indexed)
 *     cold-random  blocks of pgbench_accounts spread over the table, each read once, at the latest
 *                  LSN after 20 s of pgbench (reconstructed from layers: images and records
 *                  through redo)
 *     sequential   pgbench_accounts in block order at the latest LSN
 *
 * Latency is per request, from the write of its CopyData to its response, in µs (sorted samples,
 * bounded: at most `samplesMax` per workload). Pages/s counts responses. Targets (issue 11, 2 cores):
 * hot p50 ≤ 40 µs, p99 ≤ 300 µs; cold p99 ≤ 1 ms; ≥ 50,000 pages/s.
 */
import { createServer, connect, type Socket } from 'node:net';
import { assert } from '../../src/assert.js';
import type { Logger } from '../../src/observability/log.js';
import { parseLsn, type Lsn } from '../../src/lsn.js';
import type { TimelineInfo } from '../../src/timeline/timeline-info.js';
import { parsePagestreamResponse, serializePagestreamRequest, type PagestreamRequest } from '../../src/pageservice/pagestream-codec.js';
import type { RelTag } from '../../src/keys.js';
import { PostgresCluster } from '../../test/helpers/postgres.js';
import { eventually, startTestServer } from '../../test/helpers/strata-server.js';

export interface PagebenchOptions {
  scale: number;
  clients: number;
  depth: number;
  seconds: number;
  logger: Logger;
}

export interface WorkloadResult {
  name: string;
  requests: number;
  pagesPerSecond: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
}

export interface PagebenchResult {
  scale: number;
  clients: number;
  depth: number;
  workloads: WorkloadResult[];
}

const SAMPLES_MAX = 200_000;
const PAGE = 8192;

/** Frames a CopyData ('d') message. */
function copyData(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(5 + payload.length);
  frame[0] = 0x64;
  frame.writeInt32BE(4 + payload.length, 1);
  frame.set(payload, 5);
  return frame;
}

/** Splits a byte stream into backend messages (type byte + length), calling `onMessage` for each. */
class Framer {
  #buffer: Buffer = Buffer.alloc(0);
  constructor(private readonly onMessage: (type: number, body: Buffer) => void) {}
  feed(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    let offset = 0;
    while (this.#buffer.length - offset >= 5) {
      const length = this.#buffer.readInt32BE(offset + 1);
      if (this.#buffer.length - offset < 1 + length) break;
      this.onMessage(this.#buffer[offset]!, this.#buffer.subarray(offset + 5, offset + 1 + length));
      offset += 1 + length;
    }
    this.#buffer = this.#buffer.subarray(offset);
  }
}

/** One pipelined client: keeps `depth` requests outstanding until `deadline`, records latencies. */
interface Client {
  run(next: () => Uint8Array, deadline: number, depth: number, samples: number[]): Promise<number>;
  close(): void;
}

async function pagestreamClient(host: string, port: number, tenantId: string, timelineId: string, sent: () => PagestreamRequest): Promise<Client> {
  const socket: Socket = connect(port, host);
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
  let onMessage: (type: number, body: Buffer) => void = () => undefined;
  const framer = new Framer((type, body) => onMessage(type, body));
  socket.on('data', (chunk: Buffer) => framer.feed(chunk));
  // Startup (protocol 3.0, user, database), then the pagestream query; wait for CopyBoth ('W').
  const parameters = Buffer.from('user\0compute\0database\0postgres\0\0');
  const startup = Buffer.allocUnsafe(8 + parameters.length);
  startup.writeInt32BE(8 + parameters.length, 0);
  startup.writeInt32BE(196_608, 4);
  startup.set(parameters, 8);
  const query = Buffer.from(`pagestream_v3 ${tenantId} ${timelineId}\0`);
  const queryFrame = Buffer.allocUnsafe(5 + query.length);
  queryFrame[0] = 0x51;
  queryFrame.writeInt32BE(4 + query.length, 1);
  queryFrame.set(query, 5);
  await new Promise<void>((resolve, reject) => {
    onMessage = (type, body) => {
      if (type === 0x5a) socket.write(queryFrame); // ReadyForQuery after startup
      else if (type === 0x57) resolve(); // CopyBothResponse
      else if (type === 0x45) reject(new Error(`page service error: ${body.toString('latin1')}`));
    };
    socket.write(startup);
  });
  return {
    run: (next, deadline, depth, samples) => new Promise((resolve, reject) => {
      const started: number[] = [];
      const requests: PagestreamRequest[] = [];
      let done = 0;
      let outstanding = 0;
      const send = () => {
        const payload = next();
        requests.push(sent());
        started.push(performance.now());
        outstanding += 1;
        socket.write(copyData(payload));
      };
      onMessage = (type, body) => {
        if (type !== 0x64) { reject(new Error(`unexpected message ${String.fromCharCode(type)}`)); return; }
        const request = requests.shift()!;
        const response = parsePagestreamResponse(body, 3, request);
        if (response.kind !== 'getPage') { reject(new Error(`GetPage failed: ${response.kind === 'error' ? response.message : response.kind}`)); return; }
        const latency = (performance.now() - started.shift()!) * 1000;
        if (samples.length < SAMPLES_MAX) samples.push(latency);
        done += 1;
        outstanding -= 1;
        if (performance.now() < deadline) send();
        else if (outstanding === 0) resolve(done);
      };
      for (let index = 0; index < depth; index++) send();
    }),
    close: () => socket.destroy(),
  };
}

/** The floor: a TCP server that answers every 24-byte request with 8 KiB, the same client loop. */
async function echoFloor(clients: number, depth: number, seconds: number): Promise<WorkloadResult> {
  const page = Buffer.alloc(PAGE + 5, 7);
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    let pending = 0;
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.length;
      while (pending >= 24) { pending -= 24; socket.write(page); }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const samples: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  const counts = await Promise.all(Array.from({ length: clients }, async () => {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    return new Promise<number>((resolve) => {
      const times: number[] = [];
      let buffered = 0;
      let done = 0;
      const send = () => { times.push(performance.now()); socket.write(Buffer.alloc(24)); };
      socket.on('data', (chunk: Buffer) => {
        buffered += chunk.length;
        while (buffered >= PAGE + 5) {
          buffered -= PAGE + 5;
          if (samples.length < SAMPLES_MAX) samples.push((performance.now() - times.shift()!) * 1000);
          done += 1;
          if (performance.now() < deadline) send();
          else if (times.length === 0) { socket.destroy(); resolve(done); }
        }
      });
      for (let index = 0; index < depth; index++) send();
    });
  }));
  const elapsed = (performance.now() - started) / 1000;
  server.close();
  return summarize('echo (floor)', counts, samples, elapsed);
}

function percentile(sorted: readonly number[], share: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(share * sorted.length))]!;
}

function summarize(name: string, counts: number[], samples: number[], elapsedSeconds: number): WorkloadResult {
  const requests = counts.reduce((sum, count) => sum + count, 0);
  samples.sort((a, b) => a - b);
  return {
    name, requests, pagesPerSecond: requests / elapsedSeconds,
    p50Us: percentile(samples, 0.5), p99Us: percentile(samples, 0.99), p999Us: percentile(samples, 0.999),
  };
}

export async function runPagebench(options: PagebenchOptions): Promise<PagebenchResult> {
  const primary = await PostgresCluster.create({ settings: { autovacuum: 'off' } });
  const server = await startTestServer({ allowLogs: [/./] });
  try {
    await primary.pgbench(['-i', '-s', String(options.scale), '-q']);
    const tenant = await server.post<{ id: string }>('/v1/tenant', {});
    const timeline = await server.post<TimelineInfo>(`/v1/tenant/${tenant.id}/timeline`, { from_primary: primary.connectionString() });
    // Some history, so pages have records to apply on top of their images.
    await primary.pgbench(['-c', '4', '-j', '2', '-T', '20', '-n']);
    const latest = await primary.sql('SELECT pg_current_wal_insert_lsn()');
    const base = `/v1/tenant/${tenant.id}/timeline/${timeline.timeline_id}`;
    await eventually(async () => (parseLsn((await server.get<TimelineInfo>(base)).last_record_lsn) >= parseLsn(latest) ? true : undefined), 120_000, 'caught up');
    const rel: RelTag = { spcNode: 1663, dbNode: 5, relNode: Number(await primary.sql("SELECT pg_relation_filenode('pgbench_accounts')")), forkNumber: 0 };
    const blocks = Number(await primary.sql("SELECT pg_relation_size('pgbench_accounts') / 8192"));
    const [host, portText] = server.server.pgAddress.split(':') as [string, string];

    const workloads: WorkloadResult[] = [await echoFloor(options.clients, options.depth, options.seconds)];
    const runWorkload = async (name: string, block: (client: number, index: number) => number, lsn: Lsn, notModifiedSince: Lsn) => {
      const samples: number[] = [];
      const clients = await Promise.all(Array.from({ length: options.clients }, async (_, client) => {
        let index = 0;
        let request: PagestreamRequest | undefined;
        const connection = await pagestreamClient(host, Number(portText), tenant.id, timeline.timeline_id, () => request!);
        return {
          connection,
          next: () => {
            request = { kind: 'getPage', header: { reqid: BigInt(index), requestLsn: lsn, notModifiedSince }, rel, blockNumber: block(client, index++) % blocks };
            return serializePagestreamRequest(request, 3);
          },
        };
      }));
      const deadline = performance.now() + options.seconds * 1000;
      const started = performance.now();
      const counts = await Promise.all(clients.map((client) => client.connection.run(client.next, deadline, options.depth, samples)));
      const elapsed = (performance.now() - started) / 1000;
      for (const client of clients) client.connection.close();
      const result = summarize(name, counts, samples, elapsed);
      options.logger.info({ workload: name, ...result }, 'pagebench workload');
      return result;
    };
    const latestLsn = parseLsn(latest);
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2_147_483_648);
    const hotSet = Array.from({ length: 256 }, () => random() % blocks);
    // Warm the hot set once, then measure it.
    await runWorkload('hot warm-up', (_, index) => hotSet[index % hotSet.length]!, latestLsn, latestLsn);
    workloads.push(await runWorkload('hot-random', () => hotSet[random() % hotSet.length]!, latestLsn, latestLsn));
    workloads.push(await runWorkload('cold-random', (client, index) => (index * options.clients + client) * 7919, latestLsn, latestLsn));
    workloads.push(await runWorkload('sequential', (client, index) => index * options.clients + client, latestLsn, latestLsn));
    return { scale: options.scale, clients: options.clients, depth: options.depth, workloads };
  } finally {
    await server.stop();
    await primary.destroy();
  }
}

export function describePagebench(result: PagebenchResult): Record<string, unknown> {
  const fields: Record<string, unknown> = { scale: result.scale, clients: result.clients, depth: result.depth };
  for (const workload of result.workloads) {
    const key = workload.name.split(' ')[0]!.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
    fields[key] = `${Math.round(workload.pagesPerSecond)}/s p50=${workload.p50Us.toFixed(0)}us p99=${workload.p99Us.toFixed(0)}us p99.9=${workload.p999Us.toFixed(0)}us`;
  }
  assert(result.workloads.length > 0, 'at least the floor was measured');
  return fields;
}
