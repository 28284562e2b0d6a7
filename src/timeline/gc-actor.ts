/**
 * The GC actor: a child of its timeline actor that removes layer files no read at or above the
 * GC cutoff (nor at a child's branch point) needs (maintenance.ts runGc), one pass at a time.
 *
 * ```mermaid
 * stateDiagram-v2
 *     [*] --> Idle
 *     Idle --> Working: Begin (Tick every gc_period, or DoGc from the API)
 *     Working --> Idle: Finish
 *     Idle --> Stopped: Stop
 *     Working --> Stopped: Stop (shutdown waits for the pass)
 * ```
 *
 * Ticks come from its own timer (gc_period; 0 = only on demand). A failed pass is reported to the
 * timeline actor as `MaintenanceFailed`, which marks the timeline Broken with the reason.
 */
import { assertNever } from '../assert.js';
import type { ActorContext, Behavior } from '../actor/types.js';
import { StrataError } from '../errors.js';
import { boundLogger } from '../observability/log.js';
import { threadMetrics } from '../observability/metrics.js';
import type { MaintenanceFailed } from './compaction-actor.js';
import { applyMaintenanceTransition, maintenanceMachine, type MaintenanceState } from './maintenance-state.js';
import { runGc, type GcReport, type MaintenanceContext } from './maintenance.js';

export type GcMessage =
  | { kind: 'Tick' }
  | { kind: 'DoGc'; gcHorizonBytes: number | undefined }
  | { kind: 'Shutdown' };

export interface GcActorArgs {
  parent: string;
  tenantId: string;
  timelineId: string;
  periodMs: number;
  maintenance: MaintenanceContext;
}

export function createGcBehavior(args: GcActorArgs): Behavior<GcMessage> {
  const machine = maintenanceMachine('gc');
  let state: MaintenanceState = { kind: 'Idle' };
  let timer: NodeJS.Timeout | undefined;
  const logOf = (context: ActorContext) => boundLogger(context.logger, { tenant_id: args.tenantId, timeline_id: args.timelineId });

  const pass = async (context: ActorContext, gcHorizonBytes: number | undefined, fromTick: boolean): Promise<GcReport | undefined> => {
    if (state.kind === 'Working') {
      if (fromTick) return undefined;
      throw new StrataError('PS_ERR_CONFLICT', 'GC is already running', { state: state.kind });
    }
    if (state.kind === 'Stopped') throw new StrataError('PS_ERR_SHUTTING_DOWN', 'GC is stopped');
    state = applyMaintenanceTransition(machine, state, { kind: 'Begin', task: fromTick ? 'periodic' : 'requested', nowMs: Date.now() }, logOf(context));
    try {
      const report = await runGc(args.maintenance, gcHorizonBytes === undefined ? {} : { gcHorizonBytes });
      threadMetrics().gcLayersRemoved.inc(report.layers_removed);
      return report;
    } catch (error) {
      const reason = `GC failed: ${error instanceof Error ? error.message : String(error)}`;
      if (!context.signal.aborted) {
        logOf(context).error({ err: error }, 'GC failed');
        context.tell(args.parent, { kind: 'MaintenanceFailed', task: 'gc', reason } satisfies MaintenanceFailed);
      }
      throw error;
    } finally {
      if (state.kind === 'Working') state = applyMaintenanceTransition(machine, state, { kind: 'Finish' }, logOf(context));
    }
  };

  return {
    start(context) {
      if (args.periodMs > 0) {
        timer = setInterval(() => {
          try { context.tell(context.self, { kind: 'Tick' }); } catch { /* busy or stopping: the next tick comes */ }
        }, args.periodMs);
        timer.unref();
      }
    },
    async receive(message, context) {
      switch (message.kind) {
        case 'Tick':
          await pass(context, undefined, true).catch(() => undefined); // reported to the parent
          return undefined;
        case 'DoGc':
          return pass(context, message.gcHorizonBytes, false);
        case 'Shutdown':
          return undefined;
        default:
          return assertNever(message);
      }
    },
    stop(context) {
      if (timer !== undefined) clearInterval(timer);
      if (state.kind !== 'Stopped') state = applyMaintenanceTransition(machine, state, { kind: 'Stop' }, logOf(context));
    },
  };
}
