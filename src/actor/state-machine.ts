/**
 * The one place where a tenant or timeline state changes: check the edge in a table, build the
 * target state, log the change.
 *
 * Why a table and not a `switch` per state: the table is data, so the header diagram, the code
 * and the test that walks every (state, message) pair all read the same thing, and an illegal
 * edge is rejected in exactly one spot with one error code (PS_ERR_ILLEGAL_TRANSITION). The
 * machines themselves (tenant-state.ts, timeline-state.ts) supply the table and an `enter`
 * function that builds the target state from the message's data (for example a Broken reason).
 *
 * `transition` is pure: the actor's reducer calls it. `applyTransition` is the same plus one INFO
 * line naming `from` and `to`, for the actor shell, which owns the logger.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { Logger } from '../observability/log.js';

/** For each state kind, the message kinds it accepts and the state kind each one leads to. */
export type TransitionTable<StateKind extends string, MessageKind extends string> = Readonly<
  Record<StateKind, Readonly<Partial<Record<MessageKind, StateKind>>>>
>;

export interface StateMachine<State extends { kind: string }, Message extends { kind: string }> {
  /** Names the machine in errors and log lines: 'tenant' or 'timeline'. */
  readonly entity: string;
  readonly table: TransitionTable<State['kind'], Message['kind']>;
  /** Builds the target state of an edge the table allows; never called for an illegal edge. */
  readonly enter: (target: State['kind'], from: State, message: Message) => State;
}

/** Returns the target kind of the edge, or undefined when the table has no such edge. */
export function targetKind<State extends { kind: string }, Message extends { kind: string }>(
  machine: StateMachine<State, Message>,
  fromKind: State['kind'],
  messageKind: Message['kind'],
): State['kind'] | undefined {
  const row = machine.table[fromKind];
  assert(row !== undefined, `${machine.entity}: unknown state kind ${String(fromKind)}`);
  return row[messageKind];
}

/** Pure: the new state, or PS_ERR_ILLEGAL_TRANSITION when `state` has no edge for `message`. */
export function transition<State extends { kind: string }, Message extends { kind: string }>(
  machine: StateMachine<State, Message>,
  state: State,
  message: Message,
): State {
  const target = targetKind(machine, state.kind, message.kind);
  if (target === undefined) {
    throw new StrataError(
      'PS_ERR_ILLEGAL_TRANSITION',
      `${machine.entity}: illegal transition ${state.kind} --${message.kind}-->`,
      { entity: machine.entity, from: state.kind, message: message.kind },
    );
  }
  const next = machine.enter(target, state, message);
  assert(next.kind === target, `${machine.entity}: enter built ${next.kind}, table says ${target}`);
  return next;
}

export interface ApplyTransitionOptions {
  logger: Logger;
}

/** `transition` plus an INFO line `<entity> state <from> --<message>--> <to>` with from/to fields. */
export function applyTransition<State extends { kind: string }, Message extends { kind: string }>(
  machine: StateMachine<State, Message>,
  state: State,
  message: Message,
  options: ApplyTransitionOptions,
): State {
  const next = transition(machine, state, message);
  const reason = (next as { reason?: unknown }).reason;
  options.logger.info(
    {
      entity: machine.entity,
      from: state.kind,
      to: next.kind,
      message: message.kind,
      ...(typeof reason === 'string' ? { reason } : {}),
    },
    `${machine.entity} state ${state.kind} --${message.kind}--> ${next.kind}`,
  );
  return next;
}

/** Every (state kind, message kind) pair that has an edge; the header diagrams list the same. */
export function listEdges<State extends { kind: string }, Message extends { kind: string }>(
  machine: StateMachine<State, Message>,
): Array<{ from: State['kind']; message: Message['kind']; to: State['kind'] }> {
  const edges: Array<{ from: State['kind']; message: Message['kind']; to: State['kind'] }> = [];
  for (const from of Object.keys(machine.table) as Array<State['kind']>) {
    const row = machine.table[from];
    for (const message of Object.keys(row) as Array<Message['kind']>) {
      const to = row[message];
      assert(to !== undefined, 'a listed edge has a target');
      edges.push({ from, message, to });
    }
  }
  return edges;
}

/** The Stopping and Broken states both machines share, with the data their messages carry. */
export type StoppingState = { readonly kind: 'Stopping'; readonly reason: string; readonly brokenReason?: string };
export type BrokenState = { readonly kind: 'Broken'; readonly reason: string; readonly stack?: string };

/** Enters Stopping from `from`, keeping the first failure's reason when it was Broken. */
export function enterStopping(from: { kind: string; reason?: string }, message: { kind: string; reason?: string }): StoppingState {
  assert(message.kind === 'Stop' && message.reason !== undefined, 'only Stop enters Stopping');
  return from.kind === 'Broken' && from.reason !== undefined
    ? { kind: 'Stopping', reason: message.reason, brokenReason: from.reason }
    : { kind: 'Stopping', reason: message.reason };
}

/** Enters Broken with the reason (and stack, when known) that MarkBroken carries. */
export function enterBroken(message: { kind: string; reason?: string; stack?: string }): BrokenState {
  assert(message.kind === 'MarkBroken', 'only MarkBroken enters Broken');
  assert(message.reason !== undefined && message.reason.length > 0, 'a Broken state names its reason');
  return message.stack === undefined ? { kind: 'Broken', reason: message.reason } : { kind: 'Broken', reason: message.reason, stack: message.stack };
}
