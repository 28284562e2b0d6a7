/**
 * The walreceiver: streams WAL from a PostgreSQL primary's physical replication slot into a
 * timeline, and reconnects with backoff when the connection ends.
 *
 *   ┌──────────┐ connected  ┌───────────┐ stream ends / error ┌─────────┐
 *   │Connecting├───────────►│ Streaming ├────────────────────►│ Backoff │
 *   └────▲─────┘            └─────┬─────┘                     └────┬────┘
 *        └────────────────────────┼────────────── delay elapsed ───┘
 *                      abort      ▼ (from any state)
 *                             ┌───────┐
 *                             │Stopped│
 *                             └───────┘
 *
 * Nothing is lost across reconnects: each connection restarts streaming at the WAL page that holds
 * last_record_lsn (the decoder needs a page or record boundary), and records that end at or below
 * last_record_lsn are skipped by the timeline. The slot keeps the primary's WAL from
 * disk_consistent_lsn on, because that is what we report as `flush`; so a Strata crash resumes
 * from the durable point too.
 *
 * Standby status: write = what is ingested (last_record_lsn, but never past the last byte
 * received), flush = disk_consistent_lsn, apply = remote_consistent_lsn. Sent every
 * `statusIntervalMs`, and at once when the primary asks. While ingest waits for flushes
 * (max_inmemory_bytes back-pressure, timeline.ts waitForMemory) neither advances, and the socket
 * is not read: the primary sees the standby lag instead of Strata buffering without bound.
 */
import { assertNever } from '../assert.js';
import { StrataError, isStrataError } from '../errors.js';
import { failpoint, failpointError } from '../failpoints.js';
import { limits } from '../limits.js';
import { formatLsn, type Lsn } from '../lsn.js';
import type { Logger } from '../observability/log.js';
import { redactConnectionString } from '../observability/log.js';
import type { PackedRecords } from '../wal/packed-records.js';
import { InlineWalDecoding, type WalDecoding } from '../wal/wal-decode-stage.js';
import type { DecodedRecord } from '../wal/types.js';
import { XLOG_BLCKSZ } from '../lsn.js';
import { transitionWalReceiver } from './walreceiver-state.js';

/** XLogData messages decoded but not yet ingested, at most (bounds memory and the decode queue). */
const DELIVERIES_IN_FLIGHT_MAX = 4;

/** The part of the replication client the walreceiver uses (src/pgwire/replication-client.ts). */
export interface ReplicationStreamLike extends AsyncIterable<
  | { kind: 'xlogData'; dataStart: Lsn; walEnd: Lsn; sendTime: number; data: Uint8Array }
  | { kind: 'keepalive'; walEnd: Lsn; sendTime: number; replyRequested: boolean }
> {
  sendStatus(status: { write: Lsn; flush: Lsn; apply: Lsn; replyRequested?: boolean }): void;
}

export interface ReplicationClientLike {
  identifySystem(): Promise<{ systemId: string; timeline: number; xlogPos: Lsn }>;
  startReplication(options: { slotName?: string; startLsn: Lsn; timeline?: number }): ReplicationStreamLike;
  close(): void | Promise<void>;
}

export type ReplicationConnector = (connectionString: string, signal: AbortSignal) => Promise<ReplicationClientLike>;

/** The timeline as the walreceiver sees it. */
export interface WalTarget {
  readonly lastRecordLsn: Lsn;
  readonly diskConsistentLsn: Lsn;
  readonly remoteConsistentLsn: Lsn;
  ingestRecords(records: readonly DecodedRecord[]): Promise<number>;
  /** ingestRecords for a packed batch (what the decode stage delivers). */
  ingestPacked(batch: PackedRecords): Promise<number>;
  /** Makes everything ingested durable now; resolves with the new disk_consistent_lsn. */
  flush(): Promise<Lsn>;
}

export type WalReceiverState =
  | { kind: 'Connecting'; attempt: number }
  | { kind: 'Streaming'; startLsn: Lsn; since: number }
  | { kind: 'Backoff'; attempt: number; delayMs: number; lastError: string }
  | { kind: 'Stopped' };

export interface WalReceiverOptions {
  connectionString: string;
  slotName: string;
  target: WalTarget;
  connect: ReplicationConnector;
  logger: Logger;
  signal: AbortSignal;
  statusIntervalMs?: number;
  /**
   * Opens the decoding of a stream starting at `startLsn`: a session of the server's decode
   * threads (wal-decode-stage.ts); default InlineWalDecoding on this thread.
   */
  openDecoding?: (startLsn: Lsn) => WalDecoding;
  onWalBytes?: (bytes: number) => void;
  /** Called after every state change (the actor reports it to the timeline). */
  onStateChange?: (state: WalReceiverState) => void;
}

export class WalReceiver {
  private state: WalReceiverState = { kind: 'Connecting', attempt: 0 };
  private readonly options: WalReceiverOptions;
  private readonly logger: Logger;
  private lastReceivedLsn: Lsn = 0;
  private connections = 0;

  constructor(options: WalReceiverOptions) {
    this.options = options;
    this.logger = options.logger.child({ component: 'walreceiver' });
  }

  get currentState(): WalReceiverState { return this.state; }
  get connectionCount(): number { return this.connections; }

  /** Every state change goes through the checked table (walreceiver-state.ts); an illegal edge throws. */
  private setState(next: WalReceiverState): void {
    const checked = transitionWalReceiver(this.state, next);
    if (checked.kind !== this.state.kind) this.logger.info({ from: this.state.kind, to: checked.kind }, 'walreceiver state change');
    this.state = checked;
    this.options.onStateChange?.(checked);
  }

  /** Runs until the signal aborts. Never throws for connection problems; they lead to Backoff. */
  async run(): Promise<void> {
    const { signal } = this.options;
    let attempt = 0;
    while (!signal.aborted) {
      this.setState({ kind: 'Connecting', attempt });
      const receivedBefore = this.lastReceivedLsn;
      try {
        await this.streamOnce();
        attempt = 0;
      } catch (error) {
        if (signal.aborted) break;
        if (isStrataError(error, 'PS_ERR_BROKEN')) {
          // The timeline refused the WAL for good; it logged why. Streaming more would not help.
          this.logger.info({ reason: error.message }, 'timeline is broken; walreceiver stops');
          break;
        }
        // A connection that delivered WAL was healthy: the next failure starts the backoff over.
        // One that failed before any WAL (slot missing, refused) keeps backing off.
        if (this.lastReceivedLsn > receivedBefore) attempt = 0;
        attempt += 1;
        const delayMs = Math.min(limits.reconnectDelayMsMax, limits.reconnectDelayMsMin * 2 ** Math.min(attempt - 1, 16));
        const message = error instanceof Error ? error.message : String(error);
        this.setState({ kind: 'Backoff', attempt, delayMs, lastError: message });
        // A lost connection is expected (primary restart); the walreceiver carries on: WARN.
        if (!isStrataError(error)) this.logger.error({ err: error }, 'walreceiver failed unexpectedly; reconnecting');
        else this.logger.warn({ code: error.code, msg_detail: message, delay_ms: delayMs }, 'replication connection lost; reconnecting');
        await sleep(delayMs, signal);
      }
    }
    this.setState({ kind: 'Stopped' });
  }

  private async streamOnce(): Promise<void> {
    const { target, signal } = this.options;
    const client = await this.options.connect(this.options.connectionString, signal);
    this.connections += 1;
    const onAbort = () => void Promise.resolve(client.close()).catch(() => undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const system = await client.identifySystem();
      const resumeLsn = target.lastRecordLsn;
      const startLsn = resumeLsn - (resumeLsn % XLOG_BLCKSZ);
      this.logger.info({ start_lsn: formatLsn(startLsn), last_record_lsn: formatLsn(resumeLsn), primary_timeline: system.timeline,
        source: redactConnectionString(this.options.connectionString) }, 'starting replication');
      const stream = client.startReplication({ slotName: this.options.slotName, startLsn, timeline: system.timeline });
      this.setState({ kind: 'Streaming', startLsn, since: Date.now() });
      // A failed delivery ends the stream at once (consumeMessages), not at the next message.
      await this.consume(stream, startLsn, onAbort);
      if (!signal.aborted) throw new StrataError('PS_ERR_UPSTREAM', 'replication stream ended');
    } finally {
      signal.removeEventListener('abort', onAbort);
      await Promise.resolve(client.close()).catch(() => undefined);
    }
  }

  private async consume(stream: ReplicationStreamLike, startLsn: Lsn, interrupt: () => void): Promise<void> {
    const { target } = this.options;
    const statusIntervalMs = this.options.statusIntervalMs ?? 1000;
    const decoding = this.options.openDecoding?.(startLsn) ?? new InlineWalDecoding(startLsn);
    let lastStatusAt = 0;
    const sendStatus = (replyRequested = false) => {
      // last_record_lsn is where the next record starts, which may lie past a page header not yet
      // received; a primary is never told more than it sent.
      const ingested = target.lastRecordLsn;
      const write = this.lastReceivedLsn === 0 ? ingested : Math.min(this.lastReceivedLsn, ingested);
      stream.sendStatus({ write, flush: target.diskConsistentLsn,
        apply: target.remoteConsistentLsn, replyRequested });
      lastStatusAt = Date.now();
    };
    // Status also goes out while the primary is idle, so the slot follows disk_consistent_lsn.
    const timer = setInterval(() => {
      if (Date.now() - lastStatusAt >= statusIntervalMs) {
        try { sendStatus(); } catch { /* the stream is closing; the loop below reports it */ }
      }
    }, statusIntervalMs);
    try {
      await this.consumeMessages(stream, decoding, startLsn, sendStatus, interrupt);
    } finally {
      clearInterval(timer);
      decoding.close();
    }
  }

  /**
   * The message loop. XLogData bytes go to the decode stage at once; their records are ingested
   * in order on a delivery chain, so decoding the next message overlaps ingesting the previous
   * one (wal-decode-stage.ts). At most DELIVERIES_IN_FLIGHT_MAX messages are between the two; a
   * keepalive that asks for a reply, and the end of the stream, wait for every delivery. A failed
   * delivery `interrupt`s the stream (closes the connection) and is what the loop then throws.
   */
  private async consumeMessages(
    stream: ReplicationStreamLike, decoding: WalDecoding, startLsn: Lsn, sendStatus: (replyRequested?: boolean) => void,
    interrupt: () => void,
  ): Promise<void> {
    let delivering: Promise<void> = Promise.resolve();
    let deliveryFailed = false;
    try {
      await this.messageLoop(stream, decoding, startLsn, sendStatus, (next) => {
        delivering = next;
        next.catch(() => {
          if (!deliveryFailed) interrupt();
          deliveryFailed = true;
        });
      }, () => delivering);
    } catch (error) {
      if (!deliveryFailed) throw error;
    }
    await delivering;
  }

  private async messageLoop(
    stream: ReplicationStreamLike, decoding: WalDecoding, startLsn: Lsn, sendStatus: (replyRequested?: boolean) => void,
    setDelivering: (next: Promise<void>) => void, getDelivering: () => Promise<void>,
  ): Promise<void> {
    const { signal } = this.options;
    let expected = startLsn;
    let inFlight = 0;
    for await (const message of stream) {
      if (signal.aborted) return;
      switch (message.kind) {
        case 'xlogData': {
          if (message.dataStart !== expected) {
            throw new StrataError('PS_ERR_PROTOCOL', `WAL gap: expected data at ${formatLsn(expected)}, got ${formatLsn(message.dataStart)}`);
          }
          const decoded = decoding.decode(message.data);
          decoded.catch(() => undefined); // Surfaces through the delivery chain.
          expected += message.data.length;
          this.lastReceivedLsn = expected;
          this.options.onWalBytes?.(message.data.length);
          inFlight += 1;
          setDelivering(getDelivering().then(async () => {
            inFlight -= 1;
            await this.deliver(await decoded);
          }));
          if (inFlight >= DELIVERIES_IN_FLIGHT_MAX) await getDelivering();
          break;
        }
        case 'keepalive':
          if (message.replyRequested) {
            await getDelivering();
            // A primary shutting down waits until our flush position reaches what it sent. When
            // we have everything it sent, make it durable now instead of at checkpoint_distance.
            const { target } = this.options;
            if (target.lastRecordLsn >= message.walEnd && target.diskConsistentLsn < message.walEnd) await target.flush();
            sendStatus(false);
          }
          break;
        default:
          assertNever(message);
      }
    }
  }

  private async deliver(batch: PackedRecords): Promise<void> {
    if (batch.count === 0) return;
    // Fault injection: behaves like the connection breaking just before records are handed over.
    const fired = await failpoint('walreceiver-before-ingest');
    if (fired !== undefined) throw failpointError('walreceiver-before-ingest', fired);
    await this.options.target.ingestPacked(batch);
  }
}

function sleep(delayMs: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, delayMs);
    const onAbort = () => { clearTimeout(timer); resolve(); };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
