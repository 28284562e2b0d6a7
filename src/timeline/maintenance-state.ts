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
import { StrataError } from '../errors.js';
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

/**
 * What the compaction and GC actors share: one pass at a time through the checked machine, a
 * Tick timer at the configured period (0: none), failures reported to the timeline as
 * MaintenanceFailed. A Tick that finds a pass running is dropped; a request is refused with 409.
 */
export class PeriodicMaintenance {
  readonly #machine: StateMachine<MaintenanceState, MaintenanceTransition>;
  readonly #task: 'compaction' | 'gc';
  readonly #parent: string;
  readonly #logger: (context: { logger: Logger }) => Logger;
  #state: MaintenanceState = { kind: 'Idle' };
  #timer: NodeJS.Timeout | undefined;

  constructor(options: { task: 'compaction' | 'gc'; parent: string; logger: (context: { logger: Logger }) => Logger }) {
    this.#machine = maintenanceMachine(options.task);
    this.#task = options.task;
    this.#parent = options.parent;
    this.#logger = options.logger;
  }

  /** Tells the actor `{kind: 'Tick'}` every `periodMs` (none when 0). */
  startTicks(context: { self: string; tell(address: string, message: unknown): void }, periodMs: number): void {
    if (periodMs <= 0) return;
    this.#timer = setInterval(() => {
      try { context.tell(context.self, { kind: 'Tick' }); } catch { /* busy or stopping: the next tick comes */ }
    }, periodMs);
    this.#timer.unref();
  }

  /** Runs `work` as one pass; undefined when a Tick found a pass running. */
  async pass<T>(
    context: { logger: Logger; signal: AbortSignal; tell(address: string, message: unknown): void },
    label: string, fromTick: boolean, work: () => Promise<T>,
  ): Promise<T | undefined> {
    const logger = this.#logger(context);
    if (this.#state.kind === 'Working') {
      if (fromTick) return undefined;
      throw new StrataError('PS_ERR_CONFLICT', `${this.#task} is already running (${this.#state.task})`, { state: this.#state.kind });
    }
    if (this.#state.kind === 'Stopped') throw new StrataError('PS_ERR_SHUTTING_DOWN', `${this.#task} is stopped`);
    this.#state = applyMaintenanceTransition(this.#machine, this.#state, { kind: 'Begin', task: label, nowMs: Date.now() }, logger);
    try {
      return await work();
    } catch (error) {
      if (!context.signal.aborted) {
        logger.error({ err: error }, `${this.#task} failed`);
        const reason = `${this.#task === 'gc' ? 'GC' : 'compaction'} failed: ${error instanceof Error ? error.message : String(error)}`;
        context.tell(this.#parent, { kind: 'MaintenanceFailed', task: this.#task, reason });
      }
      throw error;
    } finally {
      if (this.#state.kind === 'Working') this.#state = applyMaintenanceTransition(this.#machine, this.#state, { kind: 'Finish' }, logger);
    }
  }

  stop(context: { logger: Logger }): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#state.kind !== 'Stopped') this.#state = applyMaintenanceTransition(this.#machine, this.#state, { kind: 'Stop' }, this.#logger(context));
  }
}
