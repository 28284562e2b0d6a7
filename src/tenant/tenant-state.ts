/**
 * The tenant's life cycle: its states, the messages that move it, and the one transition function.
 *
 * A tenant's state changes only when its actor handles one of the messages below; the actor calls
 * `applyTenantTransition` (or the pure `transitionTenant` inside its reducer), which accepts exactly
 * the edges of TENANT_TRANSITIONS and throws PS_ERR_ILLEGAL_TRANSITION for every other pair.
 *
 * ```mermaid
 * stateDiagram-v2
 *     [*] --> Attaching: created or loaded from disk
 *     Attaching --> Activating: Activate
 *     Activating --> Active: ActivationDone
 *     Attaching --> Stopping: Stop
 *     Activating --> Stopping: Stop
 *     Active --> Stopping: Stop
 *     Broken --> Stopping: Stop
 *     Stopping --> Stopped: StopDone
 *     Attaching --> Broken: MarkBroken
 *     Activating --> Broken: MarkBroken
 *     Active --> Broken: MarkBroken
 *     Stopping --> Broken: MarkBroken
 *     Stopped --> [*]
 * ```
 *
 * How each state can be left:
 * - Attaching: the tenant's directory and timelines are being read. Left by `Activate` when they
 *   are loaded, by `Stop` (shutdown or detach during attach), or by `MarkBroken` when loading fails.
 * - Activating: timelines are being started. Left by `ActivationDone`, `Stop` or `MarkBroken`.
 * - Active: serving reads and ingesting WAL. Left only by `Stop` or `MarkBroken`; it never goes
 *   back to Attaching or Activating.
 * - Stopping: children are cancelled and the tenant's gate is closing. Left by `StopDone` when the
 *   gate has closed, or by `MarkBroken` when shutting down fails (a late error). It cannot go back
 *   to Active.
 * - Broken{reason}: the tenant failed and serves nothing; the reason is the first failure. Left
 *   only by `Stop` (shutdown or detach still has to close its gate). A second `MarkBroken` is an
 *   illegal edge: the actor keeps the first reason and logs the later failure itself.
 * - Stopped: terminal; nothing runs any more and the manager drops the tenant. No edge leaves it.
 *
 * Why Stopped exists although the issue lists only five states: shutdown is "abort, await the
 * gate, then done", and the manager must be able to tell "still closing" (Stopping: a request
 * may wait for it) from "closed" (Stopped: the slot can be reused by a new attach). The API slug of
 * Stopped is "Stopped"; Neon never shows it because it removes the tenant at that point, and the
 * tenant manager normally does the same.
 */
import { assertNever } from '../assert.js';
import type { Logger } from '../observability/log.js';
import {
  applyTransition,
  enterBroken,
  enterStopping,
  transition,
  type BrokenState,
  type StateMachine,
  type StoppingState,
  type TransitionTable,
} from '../actor/state-machine.js';

export type TenantState =
  | { readonly kind: 'Attaching' }
  | { readonly kind: 'Activating' }
  | { readonly kind: 'Active' }
  /** `reason` says why it stops ("shutdown", "detach"); `brokenReason` is kept when it was Broken. */
  | StoppingState
  | { readonly kind: 'Stopped' }
  | BrokenState;

export type TenantStateKind = TenantState['kind'];

/** The messages that change a tenant's state: one message kind per kind of edge. */
export type TenantStateMessage =
  | { readonly kind: 'Activate' }
  | { readonly kind: 'ActivationDone' }
  | { readonly kind: 'Stop'; readonly reason: string }
  | { readonly kind: 'StopDone' }
  | { readonly kind: 'MarkBroken'; readonly reason: string; readonly stack?: string };

export type TenantStateMessageKind = TenantStateMessage['kind'];

export const TENANT_STATE_KINDS: readonly TenantStateKind[] = [
  'Attaching', 'Activating', 'Active', 'Stopping', 'Stopped', 'Broken',
];

export const TENANT_MESSAGE_KINDS: readonly TenantStateMessageKind[] = [
  'Activate', 'ActivationDone', 'Stop', 'StopDone', 'MarkBroken',
];

/** Every legal edge; any pair missing here is PS_ERR_ILLEGAL_TRANSITION. */
export const TENANT_TRANSITIONS: TransitionTable<TenantStateKind, TenantStateMessageKind> = {
  Attaching: { Activate: 'Activating', Stop: 'Stopping', MarkBroken: 'Broken' },
  Activating: { ActivationDone: 'Active', Stop: 'Stopping', MarkBroken: 'Broken' },
  Active: { Stop: 'Stopping', MarkBroken: 'Broken' },
  Stopping: { StopDone: 'Stopped', MarkBroken: 'Broken' },
  Stopped: {},
  Broken: { Stop: 'Stopping' },
};

/** A new tenant (created, or found on disk at startup) starts here. */
export function initialTenantState(): TenantState {
  return { kind: 'Attaching' };
}

function enterTenantState(target: TenantStateKind, from: TenantState, message: TenantStateMessage): TenantState {
  switch (target) {
    case 'Attaching':
    case 'Activating':
    case 'Active':
    case 'Stopped':
      return { kind: target };
    case 'Stopping':
      return enterStopping(from, message);
    case 'Broken':
      return enterBroken(message);
    default:
      return assertNever(target);
  }
}

export const TENANT_STATE_MACHINE: StateMachine<TenantState, TenantStateMessage> = {
  entity: 'tenant',
  table: TENANT_TRANSITIONS,
  enter: enterTenantState,
};

/** Pure: the next state, or throws StrataError PS_ERR_ILLEGAL_TRANSITION. */
export function transitionTenant(state: TenantState, message: TenantStateMessage): TenantState {
  return transition(TENANT_STATE_MACHINE, state, message);
}

/** `transitionTenant` plus the INFO line "tenant state <from> --<message>--> <to>". */
export function applyTenantTransition(state: TenantState, message: TenantStateMessage, logger: Logger): TenantState {
  return applyTransition(TENANT_STATE_MACHINE, state, message, { logger });
}

/** The API's view of a state: Neon's slugs, with the reason of a Broken tenant as data. */
export function tenantStateForApi(state: TenantState): { slug: TenantStateKind; data?: { reason: string } } {
  if (state.kind === 'Broken') return { slug: state.kind, data: { reason: state.reason } };
  return { slug: state.kind };
}
