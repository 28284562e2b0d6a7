/**
 * A compute's states and the one transition function that checks their edges (the shared
 * machinery of actor/state-machine.ts, as the walreceiver uses it).
 *
 * ```mermaid
 * stateDiagram-v2
 *     [*] --> Starting: start() (registered before any file is written)
 *     Starting --> Running: Started (pg_ctl start -w returned; postmaster.pid read)
 *     Starting --> Failed: Fail (full backup, config or pg_ctl start failed)
 *     Running --> Stopping: Stop (stop(), server shutdown, or reconcile found it dead)
 *     Running --> Failed: Fail (the postmaster died: liveness check)
 *     Stopping --> Stopped: Stopped (pg_ctl stop -m fast done, data directory removed)
 *     Stopping --> Failed: Fail (pg_ctl stop failed or timed out)
 *     Failed --> Stopping: Stop (stop() cleans up what a failure left)
 *     Stopped --> [*]
 * ```
 *
 * WHY Failed is not terminal: a failed compute keeps its data directory and its log tail so an
 * operator can see what went wrong; `compute stop` is the one way to clean it up, and it goes
 * through Stopping like any other stop. Stopped is terminal: its directory is gone.
 *
 * A compute's mode is fixed at creation: `read-only` (a hot standby that never advances: no
 * primary_conninfo, no restore_command). Writable branches (`branch`) are not offered yet.
 */
import { assertNever } from '../assert.js';
import { transition, type StateMachine, type TransitionTable } from '../actor/state-machine.js';

/** Times are Unix milliseconds (Date.now()); persisted in computes.json as they are. */
export type ComputeState =
  | { readonly kind: 'Starting'; readonly since: number }
  | { readonly kind: 'Running'; readonly pid: number; readonly since: number }
  | { readonly kind: 'Stopping'; readonly reason: string; readonly pid?: number }
  | { readonly kind: 'Stopped'; readonly at: number; readonly reason: string }
  | { readonly kind: 'Failed'; readonly reason: string; readonly at: number; readonly logTail: readonly string[] };

export type ComputeStateKind = ComputeState['kind'];

export const COMPUTE_STATE_KINDS: readonly ComputeStateKind[] = ['Starting', 'Running', 'Stopping', 'Stopped', 'Failed'];

type ComputeTransition =
  | { kind: 'Begin'; next: Extract<ComputeState, { kind: 'Starting' }> }
  | { kind: 'Started'; next: Extract<ComputeState, { kind: 'Running' }> }
  | { kind: 'Fail'; next: Extract<ComputeState, { kind: 'Failed' }> }
  | { kind: 'Stop'; next: Extract<ComputeState, { kind: 'Stopping' }> }
  | { kind: 'Stopped'; next: Extract<ComputeState, { kind: 'Stopped' }> };

export const COMPUTE_TRANSITIONS: TransitionTable<ComputeStateKind, ComputeTransition['kind']> = {
  Starting: { Started: 'Running', Fail: 'Failed' },
  Running: { Stop: 'Stopping', Fail: 'Failed' },
  Stopping: { Stopped: 'Stopped', Fail: 'Failed' },
  Failed: { Stop: 'Stopping' },
  Stopped: {},
};

const MACHINE: StateMachine<ComputeState, ComputeTransition> = {
  entity: 'compute',
  table: COMPUTE_TRANSITIONS,
  enter: (_target, _from, message) => message.next,
};

function edgeTo(next: ComputeState): ComputeTransition {
  switch (next.kind) {
    case 'Running': return { kind: 'Started', next };
    case 'Failed': return { kind: 'Fail', next };
    case 'Stopping': return { kind: 'Stop', next };
    case 'Stopped': return { kind: 'Stopped', next };
    // No row has a Begin edge: a compute starts once, under a new id, never again.
    case 'Starting': return { kind: 'Begin', next };
    default: return assertNever(next);
  }
}

/** The checked move from `state` to `next`; PS_ERR_ILLEGAL_TRANSITION for an edge not in the table. */
export function transitionCompute(state: ComputeState, next: ComputeState): ComputeState {
  return transition(MACHINE, state, edgeTo(next));
}

/** States that hold a PostgreSQL process (or are about to): what max_computes bounds. */
export function isActive(state: ComputeState): boolean {
  return state.kind === 'Starting' || state.kind === 'Running' || state.kind === 'Stopping';
}

/** States no request moves anymore on its own: the registry keeps a bounded number of them. */
export function isFinished(state: ComputeState): boolean {
  return state.kind === 'Stopped' || state.kind === 'Failed';
}
