/**
 * The compaction actor: a child of its timeline actor that merges L0 layers into L1 and creates
 * image layers (maintenance.ts runCompaction), one pass at a time.
 *
 * ```mermaid
 * stateDiagram-v2
 *     [*] --> Idle
 *     Idle --> Working: Begin (Tick every compaction_period, or Compact from the API)
 *     Working --> Idle: Finish
 *     Idle --> Stopped: Stop
 *     Working --> Stopped: Stop (shutdown waits for the pass; it checks the abort signal between files)
 * ```
 *
 * Ticks come from its own timer (compaction_period; 0 = none, then only Compact runs it). A Tick
 * that arrives while a pass runs finds the state Working and is dropped. A failed pass is reported
 * to the timeline actor as `MaintenanceFailed`, which marks the timeline Broken with the reason.
 */
import { assertNever } from '../assert.js';
import type { ActorContext, Behavior } from '../actor/types.js';
import { boundLogger } from '../observability/log.js';
import { threadMetrics } from '../observability/metrics.js';
import { PeriodicMaintenance } from './maintenance-state.js';
import { runCompaction, type CompactionReport, type MaintenanceContext } from './maintenance.js';

export type CompactionMessage =
  | { kind: 'Tick' }
  | { kind: 'Compact'; force: boolean }
  | { kind: 'Shutdown' };

/** What the timeline actor hears from its maintenance children. */
export interface MaintenanceFailed {
  kind: 'MaintenanceFailed';
  task: 'compaction' | 'gc' | 'flush';
  reason: string;
}

export interface CompactionActorArgs {
  parent: string;
  tenantId: string;
  timelineId: string;
  periodMs: number;
  maintenance: MaintenanceContext;
}

export function createCompactionBehavior(args: CompactionActorArgs): Behavior<CompactionMessage> {
  const logOf = (context: { logger: ActorContext['logger'] }) => boundLogger(context.logger, { tenant_id: args.tenantId, timeline_id: args.timelineId });
  const runner = new PeriodicMaintenance({ task: 'compaction', parent: args.parent, logger: logOf });
  const compact = async (context: ActorContext, force: boolean): Promise<CompactionReport> => {
    const report = await runCompaction(args.maintenance, { force, signal: context.signal });
    if (report.l0 !== undefined) threadMetrics().compactions.inc();
    threadMetrics().imageLayersCreated.inc(report.image_layers_created);
    return report;
  };

  return {
    start(context) {
      runner.startTicks(context, args.periodMs);
    },
    async receive(message, context) {
      switch (message.kind) {
        case 'Tick':
          await runner.pass(context, 'periodic', true, () => compact(context, false)).catch(() => undefined); // reported to the parent
          return undefined;
        case 'Compact':
          return runner.pass(context, 'requested', false, () => compact(context, message.force));
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
