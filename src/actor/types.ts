/**
 * The contracts actors are written against: `Behavior` (what an actor does), `ActorContext` (what
 * it can reach) and `ActorRouter` (sending to other actors by address, wherever they live).
 *
 * A behavior object owns the actor's private state; the runtime calls `receive` one message at a
 * time, in order. Behaviors are created by a factory so a restart can reset state by building a
 * fresh object. Across threads a factory is named by module path + export name, because code
 * cannot be sent between threads (see system.ts).
 */
import type { Logger } from '../observability/log.js';
import type { Gate } from './gate.js';
import type { SupervisorStrategy } from './supervisor.js';

export interface Behavior<Message = unknown> {
  /** Called before the first message and after every restart; a throw is a failure to supervise. */
  start?(context: ActorContext): Promise<void> | void;
  /** Handles one message; the returned value answers an `ask`. */
  receive(message: Message, context: ActorContext): Promise<unknown> | unknown;
  /**
   * Messages for which this returns true are not serialized: their `receive` starts at once and
   * runs beside later messages (e.g. reads that wait for WAL while Ingest keeps flowing). At most
   * mailbox-capacity of them run at a time; shutdown and restart wait for them, so they must
   * honour `context.signal`. Their failures are supervised like any other.
   */
  concurrent?(message: Message): boolean;
  /** Called once at shutdown (and before a restart) after in-flight work has drained. */
  stop?(context: ActorContext): Promise<void> | void;
  /** Decides for this actor's children when they fail (default: restart within budget). */
  supervisorStrategy?: SupervisorStrategy;
}

/** Builds a fresh behavior; called at spawn and on every restart. */
export type BehaviorFactory<Message = unknown> = (context: ActorContext) => Behavior<Message>;

/** A factory exported by a module, for actors spawned on worker threads. */
export type ModuleBehaviorFactory<Message = unknown> = (args: unknown, context: ActorContext) => Behavior<Message>;

export interface AskOptions {
  /** Default `limits.askTimeoutMsDefault`; on expiry the ask rejects with PS_ERR_TIMEOUT. */
  timeoutMs?: number;
}

/** Sends messages by address; local delivery when possible, otherwise across threads. */
export interface ActorRouter {
  /** Fire and forget. A local full mailbox throws PS_ERR_MAILBOX_FULL; remote failures are logged there. */
  tell(address: string, message: unknown): void;
  /** Resolves with the value `receive` returns, rejects with its error or PS_ERR_TIMEOUT. */
  ask<Reply = unknown>(address: string, message: unknown, options?: AskOptions): Promise<Reply>;
  /** Hot path: bytes in, bytes out (over the SharedArrayBuffer ring when crossing threads). */
  askBytes(address: string, request: Uint8Array, options?: AskOptions): Promise<Uint8Array>;
}

export type LocalSpawnOptions<Message = unknown> = {
  address: string;
  /** Mailbox slots; default limits.mailboxCapacityMax. */
  mailboxCapacity?: number;
} & ({ factory: BehaviorFactory<Message> } | { behavior: Behavior<Message> });

export interface ActorContext extends ActorRouter {
  readonly self: string;
  readonly logger: Logger;
  /** Aborted when this incarnation stops (shutdown, restart, broken). */
  readonly signal: AbortSignal;
  /** Enter it around I/O that must finish before the actor is considered stopped. */
  readonly gate: Gate;
  /** The router of the thread the actor lives on. */
  readonly system: ActorRouter;
  /** Spawns a child on this thread; this actor's `supervisorStrategy` supervises it. */
  spawn<ChildMessage>(options: LocalSpawnOptions<ChildMessage>): Promise<ActorRef>;
  /** Stops a child (graceful, as at shutdown) and resolves when it is stopped; no-op when absent. */
  stopChild(address: string): Promise<void>;
}

/** A handle to a local actor. */
export interface ActorRef {
  readonly address: string;
  tell(message: unknown): void;
  ask<Reply = unknown>(message: unknown, options?: AskOptions): Promise<Reply>;
}
