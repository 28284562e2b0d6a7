/**
 * The walreceiver's states and the one transition function that checks their edges, with the
 * shared machinery of tenants and timelines (actor/state-machine.ts).
 *
 * ```mermaid
 * stateDiagram-v2
 *     [*] --> Connecting
 *     Connecting --> Connecting: Connect (the next attempt)
 *     Connecting --> Streaming: Connected
 *     Connecting --> Backoff: Fail
 *     Streaming --> Connecting: Connect (the stream ended cleanly)
 *     Streaming --> Backoff: Fail
 *     Backoff --> Connecting: Connect (the delay elapsed)
 *     Connecting --> Stopped: Stop
 *     Streaming --> Stopped: Stop
 *     Backoff --> Stopped: Stop
 *     Stopped --> [*]
 * ```
 *
 * The walreceiver names the state it moves to; the message is the edge that leads there, so the
 * table decides whether the move is legal (a Stopped walreceiver never streams again, Backoff is
 * never entered without a failure to report, Streaming only follows a connection).
 */
import { assertNever } from '../assert.js';
import { transition, type StateMachine, type TransitionTable } from '../actor/state-machine.js';
import type { WalReceiverState } from './walreceiver.js';

type WalReceiverTransition =
  | { kind: 'Connect'; next: Extract<WalReceiverState, { kind: 'Connecting' }> }
  | { kind: 'Connected'; next: Extract<WalReceiverState, { kind: 'Streaming' }> }
  | { kind: 'Fail'; next: Extract<WalReceiverState, { kind: 'Backoff' }> }
  | { kind: 'Stop'; next: Extract<WalReceiverState, { kind: 'Stopped' }> };

export const WALRECEIVER_TRANSITIONS: TransitionTable<WalReceiverState['kind'], WalReceiverTransition['kind']> = {
  Connecting: { Connect: 'Connecting', Connected: 'Streaming', Fail: 'Backoff', Stop: 'Stopped' },
  Streaming: { Connect: 'Connecting', Fail: 'Backoff', Stop: 'Stopped' },
  Backoff: { Connect: 'Connecting', Stop: 'Stopped' },
  Stopped: {},
};

const MACHINE: StateMachine<WalReceiverState, WalReceiverTransition> = {
  entity: 'walreceiver',
  table: WALRECEIVER_TRANSITIONS,
  enter: (_target, _from, message) => message.next,
};

function edgeTo(next: WalReceiverState): WalReceiverTransition {
  switch (next.kind) {
    case 'Connecting': return { kind: 'Connect', next };
    case 'Streaming': return { kind: 'Connected', next };
    case 'Backoff': return { kind: 'Fail', next };
    case 'Stopped': return { kind: 'Stop', next };
    default: return assertNever(next);
  }
}

/** The checked move from `state` to `next`; PS_ERR_ILLEGAL_TRANSITION for an edge not in the table. */
export function transitionWalReceiver(state: WalReceiverState, next: WalReceiverState): WalReceiverState {
  return transition(MACHINE, state, edgeTo(next));
}
