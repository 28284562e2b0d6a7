/**
 * Supervision: what happens when an actor's `start` or `receive` fails.
 *
 * The decision is a closed set (nact's SupervisionActions, narrowed):
 *   restart    re-create the behavior from its factory and call `start()` again (state reset);
 *              queued messages are kept, the failing message is dropped (its asker got the error)
 *   stop       stop the actor; queued messages are rejected with PS_ERR_ACTOR_STOPPED
 *   escalate   stop the actor and fail its parent with the same error (a root actor has no
 *              parent: escalation there marks it broken)
 *   markBroken the actor stays registered as Broken{reason}: every new message is rejected with
 *              PS_ERR_BROKEN carrying the reason, until someone spawns the address again
 *
 * The parent's `supervisorStrategy` decides for its children; root actors use the system's
 * strategy. Whatever a strategy says, the restart budget is enforced here: more than
 * `restartsMax` restarts within `restartWindowMs` turns `restart` into `markBroken`, so a tenant
 * that fails while bootstrapping lands in Broken instead of a crash loop (piscina, Neon).
 */
import { assert } from '../assert.js';
import type { Clock } from './clock.js';

export type SupervisionDecision = 'restart' | 'stop' | 'escalate' | 'markBroken';

export const SUPERVISION_DECISIONS: readonly SupervisionDecision[] = ['restart', 'stop', 'escalate', 'markBroken'];

/** What a strategy learns about the failing child. */
export interface SupervisedChild {
  readonly address: string;
  /** Restarts already granted within the current window. */
  readonly restartsInWindow: number;
}

export type SupervisorStrategy = (error: unknown, child: SupervisedChild) => SupervisionDecision;

export interface RestartPolicy {
  restartsMax: number;
  restartWindowMs: number;
}

/** Restart while the budget lasts, then mark broken. */
export function defaultSupervisorStrategy(policy: RestartPolicy): SupervisorStrategy {
  assert(policy.restartsMax >= 0, 'restartsMax is never negative');
  return (_error, child) => (child.restartsInWindow < policy.restartsMax ? 'restart' : 'markBroken');
}

/** Sliding-window count of restarts; bounded by `restartsMax + 1` timestamps. */
export class RestartBudget {
  readonly #policy: RestartPolicy;
  readonly #clock: Clock;
  readonly #restartTimesMs: number[] = [];

  constructor(policy: RestartPolicy, clock: Clock) {
    assert(policy.restartWindowMs > 0, 'a restart window has a length');
    assert(Number.isInteger(policy.restartsMax) && policy.restartsMax >= 0, 'restartsMax is a count');
    this.#policy = policy;
    this.#clock = clock;
  }

  restartsInWindow(): number {
    this.#forgetOld();
    return this.#restartTimesMs.length;
  }

  allowsRestart(): boolean {
    return this.restartsInWindow() < this.#policy.restartsMax;
  }

  record(): void {
    assert(this.allowsRestart(), 'a restart is recorded only within budget');
    this.#restartTimesMs.push(this.#clock.now());
  }

  #forgetOld(): void {
    const oldestKeptMs = this.#clock.now() - this.#policy.restartWindowMs;
    while (this.#restartTimesMs.length > 0 && this.#restartTimesMs[0]! <= oldestKeptMs) this.#restartTimesMs.shift();
  }
}

/** Applies the budget to a strategy's answer: `restart` past the budget becomes `markBroken`. */
export function enforceBudget(decision: SupervisionDecision, budget: RestartBudget): SupervisionDecision {
  assert(SUPERVISION_DECISIONS.includes(decision), `unknown supervision decision ${String(decision)}`);
  if (decision === 'restart' && !budget.allowsRestart()) return 'markBroken';
  return decision;
}
