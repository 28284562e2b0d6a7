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
import { boundLogger } from '../observability/log.js';
import { threadMetrics } from '../observability/metrics.js';
import { PeriodicMaintenance } from './maintenance-state.js';
import { runGc, type MaintenanceContext } from './maintenance.js';

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
  const logOf = (context: { logger: ActorContext['logger'] }) => boundLogger(context.logger, { tenant_id: args.tenantId, timeline_id: args.timelineId });
  const runner = new PeriodicMaintenance({ task: 'gc', parent: args.parent, logger: logOf });
  const collect = async (gcHorizonBytes: number | undefined) => {
    const report = await runGc(args.maintenance, gcHorizonBytes === undefined ? {} : { gcHorizonBytes });
    threadMetrics().gcLayersRemoved.inc(report.layers_removed);
    return report;
  };

  return {
    start(context) {
      runner.startTicks(context, args.periodMs);
    },
    async receive(message, context) {
      switch (message.kind) {
        case 'Tick':
          await runner.pass(context, 'periodic', true, () => collect(undefined)).catch(() => undefined); // reported to the parent
          return undefined;
        case 'DoGc':
          return runner.pass(context, 'requested', false, () => collect(message.gcHorizonBytes));
        case 'Shutdown':
          return undefined;
        default:
          return assertNever(message);
      }
    },
    stop(context) {
      runner.stop(context);
    },
  };
}
