/**
 * The walreceiver actor: a child of the timeline actor that runs the WalReceiver loop
 * (walreceiver.ts) for the actor's lifetime and hands decoded records to its parent as `Ingest`
 * asks. Awaiting each ask is the back-pressure: the socket is not read faster than the timeline
 * ingests (the replication stream pauses the socket while its bounded buffer is full).
 *
 * The LSNs the walreceiver reports to the primary come from the parent's replies, so the actor
 * never reads the timeline's state except through messages.
 */
import { defaultWalDecodeThread } from '../wal/wal-decode-stage.js';
import type { PackedRecords } from '../wal/packed-records.js';
import type { ActorContext, Behavior } from '../actor/types.js';
import type { Lsn } from '../lsn.js';
import { formatLsn } from '../lsn.js';
import { ReplicationClient } from '../pgwire/replication-client.js';
import { threadMetrics } from '../observability/metrics.js';
import { boundLogger } from '../observability/log.js';
import type { DecodedRecord } from '../wal/types.js';
import type { IngestReply } from './timeline-actor.js';
import type { TimelineLsns } from './timeline.js';
import { WalReceiver, type ReplicationClientLike, type WalReceiverState } from './walreceiver.js';

export interface WalReceiverStatus {
  state: WalReceiverState['kind'];
  connections: number;
  last_error?: string;
}

export interface WalReceiverActorOptions {
  parent: string;
  tenantId: string;
  timelineId: string;
  connectionString: string;
  slotName: string;
  initialLsns: TimelineLsns;
}

/** Ingest asks may wait behind a flush; they are not an interactive request. */
const INGEST_ASK_TIMEOUT_MS = 120_000;

export function createWalReceiverBehavior(options: WalReceiverActorOptions): Behavior<{ kind: 'Status' }> {
  let receiver: WalReceiver | undefined;
  let running: Promise<void> | undefined;
  let lsns: TimelineLsns = { ...options.initialLsns };
  const logOf = (context: ActorContext) => boundLogger(context.logger, { tenant_id: options.tenantId, timeline_id: options.timelineId });

  const target = (context: ActorContext) => ({
    get lastRecordLsn(): Lsn { return lsns.lastRecordLsn; },
    get diskConsistentLsn(): Lsn { return lsns.diskConsistentLsn; },
    get remoteConsistentLsn(): Lsn { return lsns.remoteConsistentLsn; },
    async ingestRecords(records: readonly DecodedRecord[]): Promise<number> {
      const reply = await context.ask<IngestReply>(options.parent, { kind: 'Ingest', records }, { timeoutMs: INGEST_ASK_TIMEOUT_MS });
      lsns = reply.lsns;
      return reply.ingested;
    },
    async ingestPacked(batch: PackedRecords): Promise<number> {
      const reply = await context.ask<IngestReply>(options.parent, { kind: 'Ingest', records: batch }, { timeoutMs: INGEST_ASK_TIMEOUT_MS });
      lsns = reply.lsns;
      return reply.ingested;
    },
    async flush(): Promise<Lsn> {
      const durable = await context.ask<Lsn>(options.parent, { kind: 'Flush', requestedBy: 'primary' }, { timeoutMs: INGEST_ASK_TIMEOUT_MS });
      lsns = { ...lsns, diskConsistentLsn: Math.max(lsns.diskConsistentLsn, durable) };
      return durable;
    },
  });

  const status = (): WalReceiverStatus => {
    const state = receiver?.currentState ?? { kind: 'Connecting' as const, attempt: 0 };
    return {
      state: state.kind,
      connections: receiver?.connectionCount ?? 0,
      ...(state.kind === 'Backoff' ? { last_error: state.lastError } : {}),
    };
  };

  return {
    start(context) {
      receiver = new WalReceiver({
        connectionString: options.connectionString,
        slotName: options.slotName,
        target: target(context),
        connect: async (connectionString, signal) =>
          (await ReplicationClient.connect(connectionString, { signal })) as unknown as ReplicationClientLike,
        logger: logOf(context),
        signal: context.signal,
        openDecoding: (startLsn) => defaultWalDecodeThread().openStream(startLsn),
        onWalBytes: (bytes) => threadMetrics().walReceivedBytes.inc(bytes),
        onStateChange: () => {
          try { context.tell(options.parent, { kind: 'WalReceiverStatus', status: status() }); } catch { /* parent stopping */ }
        },
      });
      const guard = context.gate.enter();
      logOf(context).info({ last_record_lsn: formatLsn(lsns.lastRecordLsn) }, 'walreceiver starting');
      running = receiver.run().finally(() => guard.leave());
    },
    receive() {
      return status();
    },
    async stop() {
      await running;
    },
  };
}
