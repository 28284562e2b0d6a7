/**
 * The timeline's life cycle: its states, the messages that move it, and the one transition function.
 *
 * A timeline's state changes only when its actor handles one of the messages below, through
 * `applyTimelineTransition` (or the pure `transitionTimeline` inside its reducer). The edges are
 * the table TIMELINE_TRANSITIONS; every other (state, message) pair throws
 * PS_ERR_ILLEGAL_TRANSITION. The checking and logging code is shared with tenants
 * (actor/state-machine.ts).
 *
 * ```mermaid
 * stateDiagram-v2
 *     [*] --> Loading: created or found on disk
 *     Loading --> Active: Activate
 *     Loading --> Stopping: Stop
 *     Active --> Stopping: Stop
 *     Broken --> Stopping: Stop
 *     Stopping --> Stopped: StopDone
 *     Loading --> Broken: MarkBroken
 *     Active --> Broken: MarkBroken
 *     Stopping --> Broken: MarkBroken
 *     Stopped --> [*]
 * ```
 *
 * How each state can be left:
 * - Loading: the metadata and layer map are being read from disk (or the timeline is being
 *   created). Left by `Activate` when loaded, `Stop` (shutdown or delete while loading) or
 *   `MarkBroken` when loading fails.
 * - Active: ingesting WAL and answering GetPage@LSN. Left only by `Stop` or `MarkBroken`.
 * - Stopping: the walreceiver, flush, compaction and GC children are cancelled and the gate is
 *   closing; it cannot go back to Active. Left by `StopDone` when the gate has closed, or by
 *   `MarkBroken` when shutting down fails (for example the last flush fails).
 * - Broken{reason}: the timeline failed and serves nothing; the reason is the first failure. Left
 *   only by `Stop`, because shutdown still has to close its gate. A second `MarkBroken` is an
 *   illegal edge: the actor keeps the first reason and logs the later failure itself.
 * - Stopped: terminal; the tenant drops the timeline actor. No edge leaves it.
 *
 * Stopped is added to the four states for the same reason as for tenants: the owner must
 * tell "still closing" from "closed" before it reuses or deletes the timeline's directory.
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

export type TimelineState =
  | { readonly kind: 'Loading' }
  | { readonly kind: 'Active' }
  /** `reason` says why it stops ("shutdown", "delete"); `brokenReason` is kept when it was Broken. */
  | StoppingState
  | { readonly kind: 'Stopped' }
  | BrokenState;

export type TimelineStateKind = TimelineState['kind'];

/** The messages that change a timeline's state: one message kind per kind of edge. */
export type TimelineStateMessage =
  | { readonly kind: 'Activate' }
  | { readonly kind: 'Stop'; readonly reason: string }
  | { readonly kind: 'StopDone' }
  | { readonly kind: 'MarkBroken'; readonly reason: string; readonly stack?: string };

export type TimelineStateMessageKind = TimelineStateMessage['kind'];

export const TIMELINE_STATE_KINDS: readonly TimelineStateKind[] = [
  'Loading', 'Active', 'Stopping', 'Stopped', 'Broken',
];

export const TIMELINE_MESSAGE_KINDS: readonly TimelineStateMessageKind[] = [
  'Activate', 'Stop', 'StopDone', 'MarkBroken',
];

/** Every legal edge; any pair missing here is PS_ERR_ILLEGAL_TRANSITION. */
export const TIMELINE_TRANSITIONS: TransitionTable<TimelineStateKind, TimelineStateMessageKind> = {
  Loading: { Activate: 'Active', Stop: 'Stopping', MarkBroken: 'Broken' },
  Active: { Stop: 'Stopping', MarkBroken: 'Broken' },
  Stopping: { StopDone: 'Stopped', MarkBroken: 'Broken' },
  Stopped: {},
  Broken: { Stop: 'Stopping' },
};

/** A timeline being created or found on disk at startup starts here. */
export function initialTimelineState(): TimelineState {
  return { kind: 'Loading' };
}

function enterTimelineState(
  target: TimelineStateKind,
  from: TimelineState,
  message: TimelineStateMessage,
): TimelineState {
  switch (target) {
    case 'Loading':
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

export const TIMELINE_STATE_MACHINE: StateMachine<TimelineState, TimelineStateMessage> = {
  entity: 'timeline',
  table: TIMELINE_TRANSITIONS,
  enter: enterTimelineState,
};

/** Pure: the next state, or throws StrataError PS_ERR_ILLEGAL_TRANSITION. */
export function transitionTimeline(state: TimelineState, message: TimelineStateMessage): TimelineState {
  return transition(TIMELINE_STATE_MACHINE, state, message);
}

/** `transitionTimeline` plus the INFO line "timeline state <from> --<message>--> <to>". */
export function applyTimelineTransition(
  state: TimelineState,
  message: TimelineStateMessage,
  logger: Logger,
): TimelineState {
  return applyTransition(TIMELINE_STATE_MACHINE, state, message, { logger });
}

/** The API's view (TimelineInfo.state and broken_reason): Neon's slugs. */
export function timelineStateForApi(state: TimelineState): { state: TimelineStateKind; broken_reason?: string } {
  if (state.kind === 'Broken') return { state: state.kind, broken_reason: state.reason };
  return { state: state.kind };
}
