/**
 * The life cycle the timeline's maintenance actors share (flush, compaction, GC): one task at a
 * time, then idle, until told to stop. One table, checked by the shared transition function
 * (actor/state-machine.ts), so a second task can never start while one runs.
 *
 * ```mermaid
 * stateDiagram-v2
 *     [*] --> Idle
 *     Idle --> Working: Begin (a Tick found work, or an on-demand request)
 *     Working --> Idle: Finish (the task succeeded or failed; a failure is reported to the timeline)
 *     Idle --> Stopped: Stop
 *     Working --> Stopped: Stop (after the task ended: stop waits for in-flight work)
 *     Stopped --> [*]
 * ```
 */
import type { Logger } from '../observability/log.js';
import { transition, type StateMachine, type TransitionTable } from '../actor/state-machine.js';

export type MaintenanceState =
  | { readonly kind: 'Idle' }
  | { readonly kind: 'Working'; readonly task: string; readonly sinceMs: number }
  | { readonly kind: 'Stopped' };

export type MaintenanceTransition =
  | { readonly kind: 'Begin'; readonly task: string; readonly nowMs: number }
  | { readonly kind: 'Finish' }
  | { readonly kind: 'Stop' };

export const MAINTENANCE_TRANSITIONS: TransitionTable<MaintenanceState['kind'], MaintenanceTransition['kind']> = {
  Idle: { Begin: 'Working', Stop: 'Stopped' },
  Working: { Finish: 'Idle', Stop: 'Stopped' },
  Stopped: {},
};

export function maintenanceMachine(entity: string): StateMachine<MaintenanceState, MaintenanceTransition> {
  return {
    entity,
    table: MAINTENANCE_TRANSITIONS,
    enter(target, _from, message) {
      if (target === 'Working' && message.kind === 'Begin') return { kind: 'Working', task: message.task, sinceMs: message.nowMs };
      return target === 'Idle' ? { kind: 'Idle' } : { kind: 'Stopped' };
    },
  };
}

export function applyMaintenanceTransition(
  machine: StateMachine<MaintenanceState, MaintenanceTransition>, state: MaintenanceState, message: MaintenanceTransition, logger: Logger,
): MaintenanceState {
  // Checked like every other state change; logged at debug (these run every few seconds).
  const next = transition(machine, state, message);
  logger.debug({ entity: machine.entity, from: state.kind, to: next.kind, message: message.kind }, `${machine.entity} state ${state.kind} --${message.kind}--> ${next.kind}`);
  return next;
}
