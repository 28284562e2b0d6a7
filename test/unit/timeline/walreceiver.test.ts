/**
 * WalReceiver (src/timeline/walreceiver.ts) against a scripted replication client and a fake
 * timeline: where streaming starts, records reaching the target in order, WAL gaps, reconnect with
 * bounded backoff, keepalive replies and their flush, a Broken timeline, abort, and which log lines
 * are WARN.
 *
 * WHY scripted fakes: each connection's messages are an async generator the test writes, so a
 * gap, an early end or an error happens exactly where the test wants it, with no PostgreSQL. The
 * WAL bytes are real (test/unit/wal/wal-builder.ts), so the real decoder inside the walreceiver
 * decodes them. Expected start LSNs are written out by hand, not computed like the module does.
 */
import type { PackedRecords } from '../../../src/wal/packed-records.js';
import { PackedRecordView } from '../../../src/wal/xlog-record.js';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { StrataError } from '../../../src/errors.js';
import { limits } from '../../../src/limits.js';
import { formatLsn, nextRecordStart, type Lsn } from '../../../src/lsn.js';
import {
  WalReceiver, type ReplicationClientLike, type ReplicationStreamLike, type WalReceiverState, type WalTarget,
} from '../../../src/timeline/walreceiver.js';
import type { DecodedRecord } from '../../../src/wal/types.js';
import { LogCapture } from '../../helpers/log-capture.js';
import { filler, PAGE, WalBuilder } from '../wal/wal-builder.js';

type StreamMessage = ReplicationStreamLike extends AsyncIterable<infer M> ? M : never;
type Status = Parameters<ReplicationStreamLike['sendStatus']>[0];

const realSetTimeout = globalThis.setTimeout;
const LOST = /replication connection lost/;

// ---- WAL fixture ------------------------------------------------------------------------------

/** Three pages of real WAL from 0/2004000 (mid-segment: short page headers); records span pages. */
const PAGE0 = 0x2004000;
const PAGE1 = PAGE0 + PAGE;
const wal = (() => {
  const builder = new WalBuilder(PAGE0, { prevLsn: PAGE0 - 0x100 });
  for (let index = 0; index < 14; index++) {
    builder.add({ rmgr: 10, info: 0, xid: 700 + index, blocks: [{ id: 0, block: index, data: filler(40, index + 1) }], mainData: filler(1500 + 37 * index, index + 7) });
  }
  return builder;
})();
/** The bytes PostgreSQL would have sent: up to the end of the last record, no zero tail. */
const WAL_BYTES = wal.bytes().subarray(0, wal.endLsn - PAGE0);
const walFrom = (lsn: Lsn): Uint8Array => WAL_BYTES.subarray(lsn - PAGE0);
/** Records the decoder yields when it starts at the page boundary `pageLsn`. */
const recordLsnsFrom = (pageLsn: Lsn): Lsn[] => wal.recordLsns.filter((lsn) => lsn >= pageLsn);
/** The first record that starts on page 1 (one spanning page 0 → 1 exists before it). */
const FIRST_ON_PAGE1 = recordLsnsFrom(PAGE1)[0]!;

function xlogData(dataStart: Lsn, data: Uint8Array): StreamMessage {
  return { kind: 'xlogData', dataStart, walEnd: dataStart + data.length, sendTime: 0, data };
}

function keepalive(walEnd: Lsn, replyRequested: boolean): StreamMessage {
  return { kind: 'keepalive', walEnd, sendTime: 0, replyRequested };
}

// ---- fakes ------------------------------------------------------------------------------------

/** A timeline as the walreceiver sees it; skips re-streamed records like Timeline does. */
class FakeTarget implements WalTarget {
  lastRecordLsn: Lsn;
  diskConsistentLsn: Lsn;
  remoteConsistentLsn: Lsn = 0x1234;
  readonly accepted: DecodedRecord[] = [];
  readonly delivered: DecodedRecord[][] = [];
  flushCount = 0;
  failWith: Error | undefined;

  constructor(lastRecordLsn: Lsn, private readonly journal: string[]) {
    this.lastRecordLsn = lastRecordLsn;
    this.diskConsistentLsn = lastRecordLsn;
  }

  async ingestRecords(records: readonly DecodedRecord[]): Promise<number> {
    if (this.failWith) throw this.failWith;
    this.delivered.push([...records]);
    const fresh = records.filter((record) => record.endLsn > this.lastRecordLsn);
    this.accepted.push(...fresh);
    if (fresh.length > 0) this.lastRecordLsn = nextRecordStart(fresh[fresh.length - 1]!.endLsn);
    this.journal.push('ingest');
    return fresh.length;
  }

  /** Packed batches (what the walreceiver delivers) are checked like record lists. */
  ingestPacked(batch: PackedRecords): Promise<number> {
    const view = new PackedRecordView().reset(batch);
    const records = Array.from({ length: batch.count }, (_, index) => view.moveTo(index).materialize());
    return this.ingestRecords(records);
  }

  async flush(): Promise<Lsn> {
    this.flushCount += 1;
    this.journal.push('flush');
    this.diskConsistentLsn = this.lastRecordLsn;
    return this.diskConsistentLsn;
  }
}

interface ScriptContext { startLsn: Lsn; closed: Promise<void> }
/** One connection's server side: what it streams after START_REPLICATION. */
type Script = ((context: ScriptContext) => AsyncGenerator<StreamMessage>) | 'refuse';

class FakeClient implements ReplicationClientLike {
  readonly startCalls: { slotName?: string; startLsn: Lsn; timeline?: number }[] = [];
  readonly statuses: Status[] = [];
  closeCount = 0;
  private closedResolve = () => {};
  private readonly closed = new Promise<void>((resolve) => { this.closedResolve = resolve; });

  constructor(private readonly script: Exclude<Script, 'refuse'>, private readonly journal: string[]) {}

  identifySystem() { return Promise.resolve({ systemId: '7300000000000000001', timeline: 1, xlogPos: wal.endLsn }); }

  startReplication(options: { slotName?: string; startLsn: Lsn; timeline?: number }): ReplicationStreamLike {
    this.startCalls.push(options);
    const messages = this.script({ startLsn: options.startLsn, closed: this.closed });
    return {
      [Symbol.asyncIterator]: () => messages,
      sendStatus: (status) => { this.statuses.push(status); this.journal.push('status'); },
    };
  }

  close(): void {
    this.closeCount += 1;
    this.closedResolve();
  }
}

/** Streams from the requested start to the end of the fixture, then waits until closed. */
async function* streamAll(context: ScriptContext): AsyncGenerator<StreamMessage> {
  yield xlogData(context.startLsn, walFrom(context.startLsn));
  await context.closed;
}

async function* hang(context: ScriptContext): AsyncGenerator<StreamMessage> {
  await context.closed;
}

async function* endAtOnce(): AsyncGenerator<StreamMessage> {
  // The primary closed the stream without sending anything.
}

/** Stops of the walreceivers still running; after each test they are stopped even if it failed. */
const live: (() => Promise<void>)[] = [];
test.after.each(async () => {
  const stops = live.splice(0, live.length);
  await Promise.all(stops.map((stop) => stop()));
});

interface HarnessOptions { scripts: Script[]; lastRecordLsn?: Lsn; allow?: RegExp[] }

/** A walreceiver over scripted connections (the last script repeats) and a fake target. */
function harness(options: HarnessOptions) {
  const journal: string[] = [];
  const capture = new LogCapture(options.allow ?? []);
  const target = new FakeTarget(options.lastRecordLsn ?? FIRST_ON_PAGE1, journal);
  const clients: FakeClient[] = [];
  const states: WalReceiverState[] = [];
  const connectionStrings: string[] = [];
  const lastRecordLsnAtConnect: Lsn[] = [];
  let walBytes = 0;
  let connects = 0;
  const controller = new AbortController();
  const receiver = new WalReceiver({
    connectionString: 'postgresql://strata:secret@127.0.0.1:5432/postgres', slotName: 'strata_slot', target, logger: capture.logger,
    signal: controller.signal, statusIntervalMs: 60_000,
    connect: async (connectionString) => {
      connectionStrings.push(connectionString);
      lastRecordLsnAtConnect.push(target.lastRecordLsn);
      const script = options.scripts[Math.min(connects, options.scripts.length - 1)]!;
      connects += 1;
      if (script === 'refuse') throw new StrataError('PS_ERR_UPSTREAM', 'connection to 127.0.0.1:5432 failed: ECONNREFUSED');
      const client = new FakeClient(script, journal);
      clients.push(client);
      return client;
    },
    onWalBytes: (bytes) => { walBytes += bytes; },
    onStateChange: (state) => { states.push(state); },
  });
  const running = receiver.run();
  const stop = async () => { controller.abort(); await withinMs(running, 2_000, 'run() after abort'); };
  live.push(stop);
  return { receiver, target, clients, states, journal, capture, controller, running, stop, connectionStrings, lastRecordLsnAtConnect, walBytes: () => walBytes };
}

async function waitUntil(condition: () => boolean, label: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${label}`);
    await new Promise((resolve) => realSetTimeout(resolve, 2));
  }
}

async function withinMs<T>(promise: Promise<T>, timeoutMs: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = realSetTimeout(() => reject(new Error(`${label} did not settle in ${timeoutMs} ms`)), timeoutMs); });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const backoffs = (states: WalReceiverState[]) =>
  states.flatMap((state) => (state.kind === 'Backoff' ? [state] : []));
const warnLines = (capture: LogCapture) => capture.lines.filter((line) => line.level === 40);

// ---- streaming --------------------------------------------------------------------------------

test('fixture: a record spans page 0 into page 1, and last_record_lsn lies inside page 1', () => {
  assert.ok(FIRST_ON_PAGE1 > PAGE1 + 24, 'page 1 starts with a continuation');
  assert.ok(FIRST_ON_PAGE1 < PAGE1 + PAGE);
  assert.ok(wal.endLsn > PAGE0 + 2 * PAGE, 'WAL reaches page 2');
});

test('streaming starts at the page holding last_record_lsn and records arrive in order', async () => {
  const h = harness({ scripts: [async function* (context) {
    // Uneven pieces: records and page headers are cut at arbitrary places.
    const bytes = walFrom(context.startLsn);
    const cuts = [0, 1000, 1001, 9000, bytes.length];
    for (let index = 0; index + 1 < cuts.length; index++) yield xlogData(context.startLsn + cuts[index]!, bytes.subarray(cuts[index], cuts[index + 1]));
    await context.closed;
  }] });
  await waitUntil(() => h.target.lastRecordLsn >= wal.recordEnds[wal.recordEnds.length - 1]!, 'all records ingested');
  assert.is(formatLsn(h.clients[0]!.startCalls[0]!.startLsn), formatLsn(0x2006000));
  assert.is(h.clients[0]!.startCalls[0]!.slotName, 'strata_slot');
  assert.equal(h.target.delivered.flat().map((record) => formatLsn(record.lsn)), recordLsnsFrom(PAGE1).map(formatLsn));
  assert.is(h.walBytes(), WAL_BYTES.length - PAGE);
  assert.equal(h.receiver.currentState.kind, 'Streaming');
  await h.stop();
  assert.is(h.receiver.connectionCount, 1);
  h.capture.assertClean();
});

test('the start LSN is last_record_lsn rounded down to its 8192-byte page', async () => {
  const cases: [Lsn, Lsn][] = [
    [PAGE1 + 24, PAGE1], // first record position on a page
    [PAGE1 - 8, PAGE0], // last aligned position of the previous page
    [0x2008018 + 0x100, 0x2008000],
  ];
  for (const [lastRecordLsn, expected] of cases) {
    const h = harness({ scripts: [hang], lastRecordLsn });
    await waitUntil(() => h.clients[0]?.startCalls.length === 1, 'START_REPLICATION');
    assert.is(formatLsn(h.clients[0]!.startCalls[0]!.startLsn), formatLsn(expected), `last_record_lsn ${formatLsn(lastRecordLsn)}`);
    await h.stop();
    h.capture.assertClean();
  }
});

// ---- gaps and reconnects ----------------------------------------------------------------------

test('a gap in XLogData drops the connection with PS_ERR_PROTOCOL and streaming resumes', async () => {
  const h = harness({ allow: [LOST], scripts: [
    async function* (context) {
      yield xlogData(context.startLsn, walFrom(context.startLsn).subarray(0, PAGE));
      yield xlogData(context.startLsn + PAGE + 8, walFrom(context.startLsn + PAGE + 8)); // 8 bytes missing
      await context.closed;
    },
    streamAll,
  ] });
  await waitUntil(() => h.clients.length === 2 && h.target.lastRecordLsn >= wal.recordEnds[wal.recordEnds.length - 1]!, 'second connection caught up');
  const [backoff] = backoffs(h.states);
  assert.match(backoff?.lastError ?? '', /WAL gap/);
  assert.is(backoff?.delayMs, limits.reconnectDelayMsMin);
  assert.is(h.clients[0]!.closeCount, 1, 'the broken connection was closed');
  // The second connection starts at the page holding last_record_lsn after the first page's records.
  const resumeAt = h.clients[1]!.startCalls[0]!.startLsn;
  const lastAtReconnect = h.lastRecordLsnAtConnect[1]!;
  assert.ok(lastAtReconnect > FIRST_ON_PAGE1, 'the first connection ingested records');
  assert.is(resumeAt % PAGE, 0);
  assert.ok(resumeAt <= lastAtReconnect && lastAtReconnect < resumeAt + PAGE, `resumed at ${formatLsn(resumeAt)} for ${formatLsn(lastAtReconnect)}`);
  assert.equal(h.target.accepted.map((record) => formatLsn(record.lsn)), recordLsnsFrom(PAGE1).map(formatLsn), 'every record once, in order');
  const warns = warnLines(h.capture);
  assert.is(warns.length, 1);
  assert.is(warns[0]?.code, 'PS_ERR_PROTOCOL');
  await h.stop();
  assert.is(h.receiver.connectionCount, 2);
  h.capture.assertClean();
});

test('a stream that ends or throws leads to Backoff, then a new connection with a longer delay', async () => {
  const h = harness({ allow: [LOST], scripts: [
    endAtOnce,
    async function* () { throw new StrataError('PS_ERR_UPSTREAM', 'terminating connection due to administrator command'); },
    hang,
  ] });
  await waitUntil(() => h.receiver.connectionCount === 3 && h.receiver.currentState.kind === 'Streaming', 'third connection streaming');
  assert.equal(backoffs(h.states).map((state) => state.delayMs), [limits.reconnectDelayMsMin, 2 * limits.reconnectDelayMsMin]);
  assert.equal(backoffs(h.states).map((state) => state.attempt), [1, 2]);
  assert.match(backoffs(h.states)[1]!.lastError, /administrator command/);
  assert.equal(h.states.map((state) => state.kind), ['Connecting', 'Streaming', 'Backoff', 'Connecting', 'Streaming', 'Backoff', 'Connecting', 'Streaming']);
  assert.is(warnLines(h.capture).length, 2, 'one WARN per lost connection');
  assert.ok(h.clients.slice(0, 2).every((client) => client.closeCount >= 1));
  assert.ok(h.connectionStrings.every((text) => text.includes('127.0.0.1')));
  await h.stop();
  h.capture.assertClean();
});

test('backoff delays double and stay within reconnectDelayMsMax', async () => {
  // The walreceiver has no clock seam: fire its timers at once and read the delays from its states.
  globalThis.setTimeout = ((handler: () => void) => realSetTimeout(handler, 0)) as unknown as typeof setTimeout;
  try {
    const scripts: Script[] = [...Array.from({ length: 14 }, () => 'refuse' as const), hang];
    const h = harness({ allow: [LOST], scripts });
    await waitUntil(() => h.clients.length === 1, 'the fifteenth attempt connects');
    const delays = backoffs(h.states).map((state) => state.delayMs);
    assert.is(delays.length, 14);
    assert.is(delays[0], limits.reconnectDelayMsMin);
    assert.is(delays[1], 2 * limits.reconnectDelayMsMin);
    for (let index = 1; index < delays.length; index++) {
      assert.ok(delays[index]! <= limits.reconnectDelayMsMax, `delay ${delays[index]} above the bound`);
      if (delays[index - 1]! < limits.reconnectDelayMsMax) assert.ok(delays[index]! > delays[index - 1]!, 'delays grow until the bound');
      else assert.is(delays[index], limits.reconnectDelayMsMax, 'then stay at it');
    }
    assert.is(delays[delays.length - 1], limits.reconnectDelayMsMax);
    await h.stop();
    h.capture.assertClean();
  } finally {
    globalThis.setTimeout = realSetTimeout;
  }
});

test('after a connection that streamed WAL, the next reconnect waits the minimum delay again', async () => {
  const h = harness({ allow: [LOST], scripts: [
    'refuse',
    async function* (context) { yield xlogData(context.startLsn, walFrom(context.startLsn)); },
    hang,
  ] });
  await waitUntil(() => h.receiver.connectionCount === 2 && backoffs(h.states).length === 2, 'second backoff');
  assert.equal(backoffs(h.states).map((state) => state.delayMs), [limits.reconnectDelayMsMin, limits.reconnectDelayMsMin],
    'the failures before a good connection do not lengthen the wait after it');
  await h.stop();
  h.capture.assertClean();
});

// ---- keepalive and status ---------------------------------------------------------------------

test('a keepalive asking for a reply when caught up flushes first, then reports write/flush/apply', async () => {
  const h = harness({ scripts: [async function* (context) {
    yield xlogData(context.startLsn, walFrom(context.startLsn));
    yield keepalive(wal.endLsn, true);
    await context.closed;
  }] });
  await waitUntil(() => h.clients[0]!.statuses.length === 1, 'status sent');
  assert.is(h.target.flushCount, 1);
  assert.equal(h.journal, ['ingest', 'flush', 'status']);
  const last = wal.recordEnds[wal.recordEnds.length - 1]!;
  assert.equal(h.clients[0]!.statuses[0], { write: PAGE0 + WAL_BYTES.length, flush: nextRecordStart(last), apply: 0x1234, replyRequested: false });
  assert.is(h.target.diskConsistentLsn, nextRecordStart(last));
  await h.stop();
  h.capture.assertClean();
});

test('a keepalive ahead of what was ingested is answered without a flush', async () => {
  const h = harness({ scripts: [async function* (context) {
    const bytes = walFrom(context.startLsn).subarray(0, PAGE);
    yield xlogData(context.startLsn, bytes);
    yield keepalive(wal.endLsn, true);
    await context.closed;
  }] });
  await waitUntil(() => h.clients[0]!.statuses.length === 1, 'status sent');
  assert.is(h.target.flushCount, 0);
  // write is what was ingested (the last complete record of the page), not the page received.
  const ingested = h.target.lastRecordLsn;
  assert.ok(ingested > FIRST_ON_PAGE1 && ingested < PAGE1 + PAGE, 'records of the page were ingested, its tail was not');
  assert.equal(h.clients[0]!.statuses[0], { write: ingested, flush: FIRST_ON_PAGE1, apply: 0x1234, replyRequested: false });
  await h.stop();
  h.capture.assertClean();
});

test('a keepalive already covered by disk_consistent_lsn is answered without a flush', async () => {
  const h = harness({ lastRecordLsn: wal.endLsn + 0x40, scripts: [async function* (context) {
    yield keepalive(wal.endLsn, true);
    await context.closed;
  }] });
  await waitUntil(() => h.clients[0]!.statuses.length === 1, 'status sent');
  assert.is(h.target.flushCount, 0);
  assert.equal(h.clients[0]!.statuses[0], { write: wal.endLsn + 0x40, flush: wal.endLsn + 0x40, apply: 0x1234, replyRequested: false });
  await h.stop();
  h.capture.assertClean();
});

test('a keepalive without replyRequested sends nothing', async () => {
  const h = harness({ scripts: [async function* (context) {
    yield keepalive(FIRST_ON_PAGE1, false);
    yield keepalive(wal.endLsn, false);
    yield keepalive(wal.endLsn, true); // the marker: only this one is answered
    await context.closed;
  }] });
  await waitUntil(() => h.clients[0]!.statuses.length >= 1, 'status sent');
  await new Promise((resolve) => realSetTimeout(resolve, 10));
  assert.is(h.clients[0]!.statuses.length, 1);
  assert.is(h.target.flushCount, 0);
  await h.stop();
  h.capture.assertClean();
});

// ---- stopping ---------------------------------------------------------------------------------

test('PS_ERR_BROKEN from the timeline stops the walreceiver without reconnecting', async () => {
  const h = harness({ scripts: [streamAll] });
  h.target.failWith = new StrataError('PS_ERR_BROKEN', 'timeline is broken: ingest failed');
  await withinMs(h.running, 2_000, 'run() after PS_ERR_BROKEN');
  assert.is(h.receiver.currentState.kind, 'Stopped');
  assert.is(h.receiver.connectionCount, 1);
  assert.is(backoffs(h.states).length, 0);
  assert.is(h.clients[0]!.closeCount >= 1, true, 'client closed');
  assert.not.ok(h.controller.signal.aborted);
  h.capture.assertClean();
});

test('abort while streaming: run() resolves, state Stopped, client closed', async () => {
  const h = harness({ scripts: [hang] });
  await waitUntil(() => h.receiver.currentState.kind === 'Streaming', 'streaming');
  await h.stop();
  assert.is(h.receiver.currentState.kind, 'Stopped');
  assert.is(h.states[h.states.length - 1]?.kind, 'Stopped');
  assert.ok(h.clients[0]!.closeCount >= 1);
  assert.is(h.receiver.connectionCount, 1);
  h.capture.assertClean();
});

test('abort during Backoff ends the wait at once', async () => {
  const h = harness({ allow: [LOST], scripts: ['refuse', hang] });
  await waitUntil(() => h.receiver.currentState.kind === 'Backoff', 'backoff');
  const started = Date.now();
  await h.stop();
  assert.ok(Date.now() - started < limits.reconnectDelayMsMin, 'did not sleep out the delay');
  assert.is(h.receiver.currentState.kind, 'Stopped');
  assert.is(h.clients.length, 0, 'no connection after abort');
  assert.is(warnLines(h.capture).length, 1);
  h.capture.assertClean();
});

test('log lines never carry the connection password', async () => {
  const h = harness({ scripts: [hang] });
  await waitUntil(() => h.receiver.currentState.kind === 'Streaming', 'streaming');
  await h.stop();
  assert.ok(h.capture.lines.some((line) => line.msg === 'starting replication'));
  assert.not.ok(h.capture.lines.some((line) => JSON.stringify(line).includes('secret')));
  h.capture.assertClean();
});

test.run();
