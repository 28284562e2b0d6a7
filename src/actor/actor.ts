/**
 * The actor shell: one address, one bounded mailbox, one behavior incarnation at a time.
 *
 * Responsibility: run `start`, then `receive` for one message at a time in mailbox order, and turn
 * failures into supervision decisions (supervisor.ts). Exception: messages the behavior marks
 * `concurrent` start at once and run beside the loop (bounded by the mailbox capacity); their
 * failures are queued into the loop (#pendingFailure), so supervision still runs in one place. Only this shell touches the behavior, so the
 * behavior's state needs no locks. Children are local actors spawned through `context.spawn`; the
 * parent's `supervisorStrategy` decides for them.
 *
 * ```mermaid
 * stateDiagram-v2
 *   [*] --> Starting: spawn()
 *   Starting --> Running: start() resolved
 *   Starting --> Restarting: start() threw, decision restart
 *   Running --> Restarting: receive() threw, decision restart
 *   Restarting --> Starting: new behavior from factory
 *   Starting --> Stopping: stop() / decision stop|escalate
 *   Running --> Stopping: stop() / decision stop|escalate
 *   Restarting --> Stopping: stop()
 *   Starting --> Broken: decision markBroken / budget spent
 *   Running --> Broken: decision markBroken / budget spent
 *   Restarting --> Broken: budget spent
 *   Stopping --> Stopped: in-flight done, gate closed, behavior.stop() called
 * ```
 * Stopped and Broken cannot be left; a Broken address is replaced by spawning it again.
 *
 * Shutdown (`terminate`): abort the incarnation's signal, reject queued messages (not drained:
 * PS_ERR_SHUTTING_DOWN on shutdown, PS_ERR_ACTOR_STOPPED on a stop decision, PS_ERR_BROKEN when
 * broken), wait for the in-flight message, stop children, close the gate, call `behavior.stop()`.
 *
 * Errors: an `ask` whose `receive` throws a StrataError (an operating error such as NOT_FOUND) only
 * answers the asker; any other throw (a bug, an assertion) and every throw from a `tell` also goes
 * to supervision.
 */
import { assert, assertNever } from '../assert.js';
import { StrataError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import type { Clock } from './clock.js';
import { Gate } from './gate.js';
import { Mailbox } from './mailbox.js';
import { RestartBudget, enforceBudget, type RestartPolicy, type SupervisionDecision, type SupervisorStrategy } from './supervisor.js';
import type { ActorContext, ActorRef, ActorRouter, AskOptions, Behavior, BehaviorFactory, LocalSpawnOptions } from './types.js';

export type ActorState =
  /** Running `start()` of the current incarnation; messages queue up. */
  | { kind: 'Starting' }
  /** Processing messages. */
  | { kind: 'Running' }
  /** Tearing down a failed incarnation before building a new one. */
  | { kind: 'Restarting'; reason: string }
  /** Shutting down: queued messages rejected, waiting for in-flight work. */
  | { kind: 'Stopping' }
  /** Done; unregistered from its registry. */
  | { kind: 'Stopped' }
  /** Failed beyond its budget; rejects every message with PS_ERR_BROKEN carrying `reason`. */
  | { kind: 'Broken'; reason: string };

type ActorStateKind = ActorState['kind'];

const ACTOR_TRANSITIONS: Record<ActorStateKind, readonly ActorStateKind[]> = {
  Starting: ['Running', 'Restarting', 'Stopping', 'Broken'],
  Running: ['Restarting', 'Stopping', 'Broken'],
  Restarting: ['Starting', 'Stopping', 'Broken'],
  Stopping: ['Stopped'],
  Stopped: [],
  Broken: [],
};

export interface Reply {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

interface Envelope {
  message: unknown;
  reply: Reply | undefined;
}

type Termination =
  | { kind: 'shutdown' }
  | { kind: 'stop' }
  | { kind: 'escalate'; error: unknown }
  | { kind: 'broken'; reason: string };

/** What an actor needs from the registry that hosts it. */
export interface ActorHost {
  readonly router: ActorRouter;
  readonly clock: Clock;
  readonly restartPolicy: RestartPolicy;
  readonly rootStrategy: SupervisorStrategy;
  spawnChild(parent: Actor, options: LocalSpawnOptions<unknown>): Promise<ActorRef>;
  unregister(actor: Actor): void;
  reportBroken(address: string, reason: string): void;
}

export interface ActorOptions {
  address: string;
  factory: BehaviorFactory<unknown>;
  mailboxCapacity?: number;
  parent: Actor | undefined;
  host: ActorHost;
  logger: Logger;
}

export class Actor {
  readonly address: string;
  readonly parent: Actor | undefined;
  readonly children = new Set<Actor>();
  readonly logger: Logger;
  /** Settles when the actor first reaches Running (resolve) or a terminal state (reject). */
  readonly started: Promise<void>;
  #state: ActorState = { kind: 'Starting' };
  readonly #mailbox: Mailbox<Envelope>;
  readonly #factory: BehaviorFactory<unknown>;
  readonly #host: ActorHost;
  readonly #budget: RestartBudget;
  #incarnation: Incarnation;
  #needsStart = true;
  #processing = false;
  #loop: Promise<void> = Promise.resolve();
  /** A failure to supervise that arose outside the loop (a child's escalation, a concurrent receive). */
  #pendingFailure: unknown = undefined;
  #termination: Termination | undefined;
  #terminating: Promise<void> | undefined;
  #settleStarted: { resolve: () => void; reject: (error: unknown) => void };

  constructor(options: ActorOptions) {
    assert(options.address.length > 0, 'an actor has an address');
    this.address = options.address;
    this.parent = options.parent;
    this.logger = options.logger;
    this.#host = options.host;
    this.#factory = options.factory;
    this.#mailbox = new Mailbox<Envelope>({ address: options.address, ...(options.mailboxCapacity === undefined ? {} : { capacity: options.mailboxCapacity }) });
    this.#budget = new RestartBudget(options.host.restartPolicy, options.host.clock);
    let settle: { resolve: () => void; reject: (error: unknown) => void } | undefined;
    this.started = new Promise<void>((resolve, reject) => { settle = { resolve, reject }; });
    this.started.catch(() => undefined);
    assert(settle !== undefined, 'promise executors run synchronously');
    this.#settleStarted = settle;
    this.#incarnation = this.#newIncarnation();
    this.#schedule();
  }

  get state(): ActorState {
    return this.#state;
  }

  get queuedMessages(): number {
    return this.#mailbox.size;
  }

  /** Queues a message; throws PS_ERR_MAILBOX_FULL, PS_ERR_BROKEN or PS_ERR_SHUTTING_DOWN. */
  post(message: unknown, reply: Reply | undefined): void {
    this.#assertAccepting();
    this.#mailbox.enqueue({ message, reply });
    this.#schedule();
  }

  /** Fails this actor with an error a child escalated; handled inside the message loop. */
  escalate(error: unknown): void {
    this.#failLater(error ?? new Error('escalated without an error'));
  }

  /** Supervision always runs inside the loop; the first of several concurrent failures wins. */
  #failLater(error: unknown): void {
    if (this.#termination !== undefined) return;
    if (this.#pendingFailure === undefined) this.#pendingFailure = error;
    this.#schedule();
  }

  /** Graceful shutdown; idempotent, resolves when Stopped (or cleaned up when Broken). */
  stop(): Promise<void> {
    return this.#terminate({ kind: 'shutdown' });
  }

  #assertAccepting(): void {
    const state = this.#state;
    switch (state.kind) {
      case 'Starting':
      case 'Running':
      case 'Restarting':
        if (this.#termination === undefined) return;
        throw new StrataError('PS_ERR_SHUTTING_DOWN', `actor ${this.address} is stopping`, { actor: this.address });
      case 'Stopping':
        throw new StrataError('PS_ERR_SHUTTING_DOWN', `actor ${this.address} is stopping`, { actor: this.address });
      case 'Stopped':
        throw new StrataError('PS_ERR_ACTOR_STOPPED', `actor ${this.address} is stopped`, { actor: this.address });
      case 'Broken':
        throw new StrataError('PS_ERR_BROKEN', `actor ${this.address} is broken: ${state.reason}`, { actor: this.address, reason: state.reason });
      default:
        assertNever(state);
    }
  }

  #transitionTo(next: ActorState): void {
    const allowed = ACTOR_TRANSITIONS[this.#state.kind];
    assert(allowed.includes(next.kind), `actor ${this.address}: illegal transition ${this.#state.kind} -> ${next.kind}`);
    this.logger.debug({ from: this.#state.kind, to: next.kind }, 'actor state change');
    this.#state = next;
    if (next.kind === 'Running') this.#settleStarted.resolve();
  }

  #schedule(): void {
    if (this.#processing || this.#termination !== undefined) return;
    this.#processing = true;
    this.#loop = this.#runLoop();
  }

  async #runLoop(): Promise<void> {
    try {
      // Bounded by the mailbox: every iteration consumes a start, an escalation or a message.
      for (;;) {
        if (this.#termination !== undefined) break;
        if (this.#needsStart) {
          await this.#startIncarnation();
          continue;
        }
        if (this.#state.kind !== 'Running') break;
        if (this.#pendingFailure !== undefined) {
          const error = this.#pendingFailure;
          this.#pendingFailure = undefined;
          await this.#supervise(error);
          continue;
        }
        const envelope = this.#mailbox.dequeue();
        if (envelope === undefined) break;
        await this.#dispatch(envelope);
      }
    } finally {
      this.#processing = false;
    }
    const termination = this.#termination;
    if (termination !== undefined && this.#terminating === undefined) void this.#terminate(termination);
  }

  async #startIncarnation(): Promise<void> {
    assert(this.#state.kind === 'Starting', 'start runs in Starting');
    this.#needsStart = false;
    try {
      await this.#incarnation.behavior.start?.(this.#incarnation.context);
    } catch (error) {
      if (this.#termination === undefined) await this.#supervise(error);
      return;
    }
    if (this.#termination === undefined) this.#transitionTo({ kind: 'Running' });
  }

  /** Sequential messages are awaited here; `concurrent` ones run beside the loop (bounded). */
  async #dispatch(envelope: Envelope): Promise<void> {
    const incarnation = this.#incarnation;
    if (incarnation.behavior.concurrent?.(envelope.message) !== true) {
      const failure = await this.#deliver(incarnation, envelope);
      if (failure !== undefined && this.#termination === undefined) await this.#supervise(failure.error);
      return;
    }
    // Bounded by the mailbox capacity: wait for one to finish before starting another.
    while (incarnation.concurrent.size >= this.#mailbox.capacity) await Promise.race(incarnation.concurrent);
    const running = this.#deliver(incarnation, envelope).then((failure) => {
      incarnation.concurrent.delete(running);
      if (failure !== undefined) this.#failLater(failure.error);
    });
    incarnation.concurrent.add(running);
  }

  /** Runs `receive`, answers the asker; returns the error when it must be supervised. */
  async #deliver(incarnation: Incarnation, envelope: Envelope): Promise<{ error: unknown } | undefined> {
    try {
      const value = await incarnation.behavior.receive(envelope.message, incarnation.context);
      envelope.reply?.resolve(value);
      return undefined;
    } catch (error) {
      envelope.reply?.reject(error);
      if (envelope.reply !== undefined && error instanceof StrataError) return undefined;
      return { error };
    }
  }

  async #supervise(error: unknown): Promise<void> {
    const parentStrategy = this.parent === undefined ? undefined : this.parent.#incarnation.behavior.supervisorStrategy;
    const strategy = parentStrategy ?? this.#host.rootStrategy;
    let decision: SupervisionDecision;
    try {
      decision = strategy(error, { address: this.address, restartsInWindow: this.#budget.restartsInWindow() });
    } catch (strategyError) {
      this.logger.error({ err: strategyError }, 'supervisor strategy threw; marking actor broken');
      decision = 'markBroken';
    }
    decision = enforceBudget(decision, this.#budget);
    const reason = describeError(error);
    switch (decision) {
      case 'restart':
        this.logger.warn({ err: error, restartsInWindow: this.#budget.restartsInWindow() }, 'actor failed; restarting');
        this.#budget.record();
        await this.#restart(reason);
        return;
      case 'stop':
        this.logger.warn({ err: error }, 'actor failed; stopping');
        this.#termination = { kind: 'stop' };
        return;
      case 'escalate':
        this.logger.warn({ err: error }, 'actor failed; escalating to parent');
        this.#termination = this.parent === undefined ? { kind: 'broken', reason: `escalated with no parent: ${reason}` } : { kind: 'escalate', error };
        return;
      case 'markBroken':
        this.#termination = { kind: 'broken', reason };
        return;
      default:
        assertNever(decision);
    }
  }

  async #restart(reason: string): Promise<void> {
    this.#transitionTo({ kind: 'Restarting', reason });
    await this.#retireIncarnation();
    if (this.#termination !== undefined) return;
    try {
      this.#incarnation = this.#newIncarnation();
    } catch (error) {
      this.#termination = { kind: 'broken', reason: `factory threw on restart: ${describeError(error)}` };
      return;
    }
    this.#transitionTo({ kind: 'Starting' });
    this.#needsStart = true;
  }

  /** Abort, stop children, wait for gate holders, call `stop()`; errors are logged, not thrown. */
  #retireIncarnation(): Promise<void> {
    const incarnation = this.#incarnation;
    incarnation.retired ??= this.#retire(incarnation);
    return incarnation.retired;
  }

  async #retire(incarnation: Incarnation): Promise<void> {
    incarnation.controller.abort(new StrataError('PS_ERR_SHUTTING_DOWN', `actor ${this.address} is stopping`, { actor: this.address }));
    await Promise.all([...incarnation.concurrent]);
    await Promise.all([...this.children].map((child) => child.stop()));
    await incarnation.context.gate.close();
    try {
      await incarnation.behavior.stop?.(incarnation.context);
    } catch (error) {
      this.logger.warn({ err: error }, 'behavior stop() threw; continuing shutdown');
    }
  }

  #terminate(termination: Termination): Promise<void> {
    if (this.#terminating !== undefined) return this.#terminating;
    this.#termination ??= termination;
    this.#terminating = this.#runTermination(this.#termination);
    return this.#terminating;
  }

  async #runTermination(termination: Termination): Promise<void> {
    const rejection = this.#enterTerminalState(termination);
    for (const envelope of this.#mailbox.drain()) envelope.reply?.reject(rejection);
    this.#incarnation.controller.abort(rejection);
    await this.#loop;
    await this.#retireIncarnation();
    if (this.#state.kind === 'Stopping') this.#transitionTo({ kind: 'Stopped' });
    this.#settleStarted.reject(rejection);
    this.parent?.children.delete(this);
    if (this.#state.kind === 'Stopped') this.#host.unregister(this);
    if (termination.kind === 'escalate') this.parent?.escalate(termination.error);
  }

  #enterTerminalState(termination: Termination): StrataError {
    const details = { actor: this.address };
    switch (termination.kind) {
      case 'shutdown':
        this.#transitionTo({ kind: 'Stopping' });
        return new StrataError('PS_ERR_SHUTTING_DOWN', `actor ${this.address} is shutting down`, details);
      case 'stop':
      case 'escalate':
        this.#transitionTo({ kind: 'Stopping' });
        return new StrataError('PS_ERR_ACTOR_STOPPED', `actor ${this.address} was stopped by its supervisor`, details);
      case 'broken':
        this.#transitionTo({ kind: 'Broken', reason: termination.reason });
        this.logger.error({ reason: termination.reason }, 'actor marked broken');
        this.#host.reportBroken(this.address, termination.reason);
        return new StrataError('PS_ERR_BROKEN', `actor ${this.address} is broken: ${termination.reason}`, { ...details, reason: termination.reason });
      default:
        return assertNever(termination);
    }
  }

  #newIncarnation(): Incarnation {
    const controller = new AbortController();
    const gate = new Gate(`actor ${this.address}`);
    const host = this.#host;
    const router = host.router;
    const context: ActorContext = {
      self: this.address,
      logger: this.logger,
      signal: controller.signal,
      gate,
      system: router,
      spawn: (options) => host.spawnChild(this, options as LocalSpawnOptions<unknown>),
      stopChild: async (address) => {
        const child = [...this.children].find((candidate) => candidate.address === address);
        if (child !== undefined) await child.stop();
      },
      tell: (address, message) => router.tell(address, message),
      ask: <Reply>(address: string, message: unknown, options?: AskOptions) => router.ask<Reply>(address, message, options),
      askBytes: (address, request, options) => router.askBytes(address, request, options),
    };
    const behavior = this.#factory(context);
    assert(typeof behavior === 'object' && behavior !== null, `factory of ${this.address} returned a behavior`);
    assert(typeof behavior.receive === 'function', `behavior of ${this.address} has receive()`);
    return { behavior, context, controller, concurrent: new Set(), retired: undefined };
  }
}

interface Incarnation {
  behavior: Behavior<unknown>;
  context: ActorContext;
  controller: AbortController;
  /** Receives started for `concurrent` messages and not yet finished. */
  concurrent: Set<Promise<void>>;
  /** Memoised teardown, so a restart and a concurrent shutdown retire an incarnation once. */
  retired: Promise<void> | undefined;
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
