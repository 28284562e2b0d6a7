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
import { StrataError } from '../errors.js';
import { boundLogger } from '../observability/log.js';
import { threadMetrics } from '../observability/metrics.js';
import { applyMaintenanceTransition, maintenanceMachine, type MaintenanceState } from './maintenance-state.js';
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
  const machine = maintenanceMachine('compaction');
  let state: MaintenanceState = { kind: 'Idle' };
  let timer: NodeJS.Timeout | undefined;
  const logOf = (context: ActorContext) => boundLogger(context.logger, { tenant_id: args.tenantId, timeline_id: args.timelineId });

  const pass = async (context: ActorContext, force: boolean, fromTick: boolean): Promise<CompactionReport | undefined> => {
    if (state.kind === 'Working') {
      if (fromTick) return undefined;
      throw new StrataError('PS_ERR_CONFLICT', `compaction is already running (${state.task})`, { state: state.kind });
    }
    if (state.kind === 'Stopped') throw new StrataError('PS_ERR_SHUTTING_DOWN', 'compaction is stopped');
    state = applyMaintenanceTransition(machine, state, { kind: 'Begin', task: force ? 'forced' : fromTick ? 'periodic' : 'requested', nowMs: Date.now() }, logOf(context));
    try {
      const report = await runCompaction(args.maintenance, { force, signal: context.signal });
      if (report.l0 !== undefined) threadMetrics().compactions.inc();
      threadMetrics().imageLayersCreated.inc(report.image_layers_created);
      return report;
    } catch (error) {
      const reason = `compaction failed: ${error instanceof Error ? error.message : String(error)}`;
      if (!context.signal.aborted) {
        logOf(context).error({ err: error }, 'compaction failed');
        context.tell(args.parent, { kind: 'MaintenanceFailed', task: 'compaction', reason } satisfies MaintenanceFailed);
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
          await pass(context, false, true).catch(() => undefined); // reported to the parent
          return undefined;
        case 'Compact':
          return pass(context, message.force, false);
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
