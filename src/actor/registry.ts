/**
 * ActorRegistry: the actors living on one thread, by address, and the router they send through.
 *
 * Every thread that hosts actors has exactly one registry: the main thread (inside ActorSystem)
 * and each actor worker thread (inside ActorThreadServer). Addresses not found locally go to the
 * `remote` router when one is given (the system's thread routing, or the worker's uplink to the
 * main thread); otherwise they fail with PS_ERR_NOT_FOUND.
 *
 * Bounds: at most `actorsMax` actors; each actor's mailbox is bounded; asks carry a timeout.
 */
import { assert } from '../assert.js';
import { StrataError, notFound } from '../errors.js';
import { limits } from '../limits.js';
import type { Logger } from '../observability/log.js';
import { Actor, type ActorHost, type ActorState, type Reply } from './actor.js';
import { systemClock, type Clock } from './clock.js';
import { defaultSupervisorStrategy, type RestartPolicy, type SupervisorStrategy } from './supervisor.js';
import type { ActorRef, ActorRouter, AskOptions, BehaviorFactory, LocalSpawnOptions } from './types.js';

export interface ActorRegistryOptions {
  logger: Logger;
  clock?: Clock;
  /** Default: limits.restartsMax within limits.restartWindowMs. */
  restartPolicy?: RestartPolicy;
  /** Supervises root actors; default restarts within budget, then marks broken. */
  supervisorStrategy?: SupervisorStrategy;
  /** Where addresses that are not local go. */
  remote?: ActorRouter;
  /** Told whenever an actor of this registry becomes Broken. */
  onBroken?: (address: string, reason: string) => void;
  /** Default limits.actorsPerThreadMax. */
  actorsMax?: number;
}

export class ActorRegistry implements ActorRouter, ActorHost {
  readonly clock: Clock;
  readonly restartPolicy: RestartPolicy;
  readonly rootStrategy: SupervisorStrategy;
  readonly router: ActorRouter = this;
  readonly #logger: Logger;
  readonly #actors = new Map<string, Actor>();
  readonly #remote: ActorRouter | undefined;
  readonly #onBroken: ((address: string, reason: string) => void) | undefined;
  readonly #actorsMax: number;
  #closed = false;

  constructor(options: ActorRegistryOptions) {
    this.#logger = options.logger;
    this.clock = options.clock ?? systemClock;
    this.restartPolicy = options.restartPolicy ?? { restartsMax: limits.restartsMax, restartWindowMs: limits.restartWindowMs };
    this.rootStrategy = options.supervisorStrategy ?? defaultSupervisorStrategy(this.restartPolicy);
    this.#remote = options.remote;
    this.#onBroken = options.onBroken;
    this.#actorsMax = options.actorsMax ?? limits.actorsPerThreadMax;
    assert(this.#actorsMax >= 1, 'a registry holds at least one actor');
  }

  get size(): number {
    return this.#actors.size;
  }

  has(address: string): boolean {
    return this.#actors.has(address);
  }

  /** The state of a local actor, or undefined when there is none. */
  stateOf(address: string): ActorState | undefined {
    return this.#actors.get(address)?.state;
  }

  /** Spawns a root actor; resolves once `start()` succeeded, rejects if it ends Broken/Stopped first. */
  spawn<Message>(options: LocalSpawnOptions<Message>): Promise<ActorRef> {
    return this.#spawn(options as LocalSpawnOptions<unknown>, undefined);
  }

  spawnChild(parent: Actor, options: LocalSpawnOptions<unknown>): Promise<ActorRef> {
    assert(this.#actors.get(parent.address) === parent || parent.state.kind === 'Starting', 'a parent is registered');
    return this.#spawn(options, parent);
  }

  unregister(actor: Actor): void {
    if (this.#actors.get(actor.address) === actor) this.#actors.delete(actor.address);
  }

  reportBroken(address: string, reason: string): void {
    this.#onBroken?.(address, reason);
  }

  tell(address: string, message: unknown): void {
    const actor = this.#actors.get(address);
    if (actor !== undefined) return actor.post(message, undefined);
    if (this.#remote !== undefined) return this.#remote.tell(address, message);
    throw notFound(`no actor at ${address}`, { actor: address });
  }

  async ask<Reply = unknown>(address: string, message: unknown, options: AskOptions = {}): Promise<Reply> {
    const actor = this.#actors.get(address);
    if (actor === undefined) {
      if (this.#remote !== undefined) return this.#remote.ask<Reply>(address, message, options);
      throw notFound(`no actor at ${address}`, { actor: address });
    }
    const timeoutMs = options.timeoutMs ?? limits.askTimeoutMsDefault;
    return (await askWithTimeout(this.clock, timeoutMs, address, (reply) => actor.post(message, reply))) as Reply;
  }

  async askBytes(address: string, request: Uint8Array, options: AskOptions = {}): Promise<Uint8Array> {
    if (!this.#actors.has(address) && this.#remote !== undefined) return this.#remote.askBytes(address, request, options);
    const response = await this.ask(address, request, options);
    assert(response instanceof Uint8Array, `actor ${address} answers askBytes with a Uint8Array`);
    return response;
  }

  /** Stops every actor (parents stop their children) and refuses new spawns. */
  async stopAll(): Promise<void> {
    this.#closed = true;
    const roots = [...this.#actors.values()].filter((actor) => actor.parent === undefined);
    await Promise.all(roots.map((actor) => actor.stop()));
    await Promise.all([...this.#actors.values()].map((actor) => actor.stop()));
    this.#actors.clear();
  }

  /** Stops one actor; a missing address is not an error (it may have stopped already). */
  async stopActor(address: string): Promise<void> {
    await this.#actors.get(address)?.stop();
    const actor = this.#actors.get(address);
    if (actor !== undefined && actor.state.kind === 'Broken') this.#actors.delete(address);
  }

  async #spawn(options: LocalSpawnOptions<unknown>, parent: Actor | undefined): Promise<ActorRef> {
    if (this.#closed) throw new StrataError('PS_ERR_SHUTTING_DOWN', 'actor registry is shutting down', { actor: options.address });
    await this.#replaceBroken(options.address);
    if (this.#actors.has(options.address)) {
      throw new StrataError('PS_ERR_ALREADY_EXISTS', `an actor already runs at ${options.address}`, { actor: options.address });
    }
    if (this.#actors.size >= this.#actorsMax) {
      throw new StrataError('PS_ERR_MAILBOX_FULL', `thread already hosts ${this.#actorsMax} actors`, { actor: options.address });
    }
    const factory: BehaviorFactory<unknown> = 'factory' in options ? options.factory : () => options.behavior;
    const actor = new Actor({
      address: options.address,
      factory,
      ...(options.mailboxCapacity === undefined ? {} : { mailboxCapacity: options.mailboxCapacity }),
      parent,
      host: this,
      logger: this.#logger.child({ actor: options.address }),
    });
    this.#actors.set(options.address, actor);
    parent?.children.add(actor);
    await actor.started;
    return this.refOf(options.address);
  }

  async #replaceBroken(address: string): Promise<void> {
    const existing = this.#actors.get(address);
    if (existing === undefined || existing.state.kind !== 'Broken') return;
    await existing.stop();
    if (this.#actors.get(address) === existing) this.#actors.delete(address);
  }

  refOf(address: string): ActorRef {
    return {
      address,
      tell: (message) => this.tell(address, message),
      ask: <Reply>(message: unknown, options?: AskOptions) => this.ask<Reply>(address, message, options),
    };
  }
}

/**
 * Sends with a reply slot and rejects with PS_ERR_TIMEOUT after `timeoutMs`; a late reply is
 * dropped. A synchronous throw from `send` (mailbox full, broken) rejects at once.
 */
export function askWithTimeout(clock: Clock, timeoutMs: number, address: string, send: (reply: Reply) => void): Promise<unknown> {
  assert(timeoutMs > 0, 'an ask timeout is positive');
  return new Promise<unknown>((resolve, reject) => {
    let settled = false;
    const timer = clock.setTimeout(() => {
      if (settled) return;
      settled = true;
      reject(new StrataError('PS_ERR_TIMEOUT', `ask to ${address} timed out after ${timeoutMs} ms`, { actor: address, timeoutMs }));
    }, timeoutMs);
    const settle = (action: () => void) => {
      if (settled) return;
      settled = true;
      timer.cancel();
      action();
    };
    const reply: Reply = { resolve: (value) => settle(() => resolve(value)), reject: (error) => settle(() => reject(error)) };
    try {
      send(reply);
    } catch (error) {
      reply.reject(error);
    }
  });
}
