/**
 * The flush actor: a child of its timeline actor that writes frozen in-memory layers as L0 delta
 * files (the store's flush pipeline: snapshot on this thread, write and fsync on the flush worker
 * thread, swap into the layer map) and answers with the new disk_consistent_lsn.
 *
 * ```mermaid
 * stateDiagram-v2
 *     [*] --> Idle
 *     Idle --> Working: Begin (LayerFrozen from the timeline)
 *     Working --> Idle: Finish (answers Flushed{lsn}, or the error)
 *     Idle --> Stopped: Stop
 *     Working --> Stopped: Stop (shutdown waits for the write in flight)
 * ```
 *
 * Who decides what: the timeline decides when to flush (checkpoint_distance, checkpoint_timeout,
 * max_inmemory_bytes, the primary's reply request, the API) and freezes the open layer on its own
 * turn, so ingest continues into a new open layer at once; it then asks this actor `LayerFrozen`
 * and persists its metadata when `Flushed` comes back. A failed write is answered as an error: the
 * frozen layer stays queued and readable, and the timeline's next flush retries it (the store's
 * rule), so one failed fsync does not lose the timeline. At shutdown, after this actor stopped,
 * the timeline writes its last layer itself.
 */
import { assertNever } from '../assert.js';
import type { ActorContext, Behavior } from '../actor/types.js';
import { StrataError } from '../errors.js';
import type { Lsn } from '../lsn.js';
import { boundLogger } from '../observability/log.js';
import type { LayeredTimelineStore } from '../storage/layered-timeline-store.js';
import { applyMaintenanceTransition, maintenanceMachine, type MaintenanceState } from './maintenance-state.js';

export type FlushMessage =
  | { kind: 'LayerFrozen'; upToLsn: Lsn }
  | { kind: 'Shutdown' };

/** The answer to LayerFrozen. */
export interface Flushed {
  kind: 'Flushed';
  lsn: Lsn;
}

export interface FlushActorArgs {
  tenantId: string;
  timelineId: string;
  store: LayeredTimelineStore;
}

export function createFlushBehavior(args: FlushActorArgs): Behavior<FlushMessage> {
  const machine = maintenanceMachine('flush');
  let state: MaintenanceState = { kind: 'Idle' };
  const logOf = (context: ActorContext) => boundLogger(context.logger, { tenant_id: args.tenantId, timeline_id: args.timelineId });

  return {
    async receive(message, context) {
      switch (message.kind) {
        case 'LayerFrozen': {
          if (state.kind === 'Stopped') throw new StrataError('PS_ERR_SHUTTING_DOWN', 'the flush actor is stopped');
          state = applyMaintenanceTransition(machine, state, { kind: 'Begin', task: `up to ${message.upToLsn}`, nowMs: Date.now() }, logOf(context));
          try {
            const lsn = await args.store.flushFrozen();
            return { kind: 'Flushed', lsn } satisfies Flushed;
          } finally {
            if (state.kind === 'Working') state = applyMaintenanceTransition(machine, state, { kind: 'Finish' }, logOf(context));
          }
        }
        case 'Shutdown':
          return undefined;
        default:
          return assertNever(message);
      }
    },
    stop(context) {
      if (state.kind !== 'Stopped') state = applyMaintenanceTransition(machine, state, { kind: 'Stop' }, logOf(context));
    },
  };
}
