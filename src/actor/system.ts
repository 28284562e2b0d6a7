/**
 * ActorSystem: actors on a FIXED pool of worker threads (config `actor_threads`, default the CPU
 * count), plus local actors on the calling thread.
 *
 *   system.spawn({address, module, exportName, args, placementKey})
 *        └─ thread = fnv1a32(placementKey ?? address) % threads  (placement.ts: stable)
 *             └─ worker imports `module`, calls export(args, context) → Behavior
 *   system.spawnLocal({address, factory | behavior})  → this thread's ActorRegistry
 *   system.tell / ask / askBytes(address, …)           → local registry, else the owning thread
 *   system.broadcast(control)                           → every thread, awaits all replies
 *
 * Many actors share a thread (all actors of a tenant share a placement key, so they talk without
 * crossing threads). Control and ordinary messages cross on the MessagePort; `askBytes` uses the
 * SharedRing pair of the thread (thread-client.ts).
 *
 * Thread death: the thread's actors are reported Broken ("actor thread N exited…"; asks to them
 * reject with PS_ERR_BROKEN until they are spawned again), its pending requests reject with
 * PS_ERR_ACTOR_STOPPED, and a replacement thread is started at the same index. Actors are not
 * respawned automatically: their owner (a tenant manager) decides, via `onBroken`.
 *
 * Shutdown (`stop`): local actors first (each: abort, reject queued messages with
 * PS_ERR_SHUTTING_DOWN, wait for the in-flight message and gate holders, behavior.stop()), then
 * every thread does the same for its actors and is terminated.
 */
import { availableParallelism } from 'node:os';
import { assert } from '../assert.js';
import { StrataError, notFound } from '../errors.js';
import { limits } from '../limits.js';
import type { Logger } from '../observability/log.js';
import { systemClock, type Clock } from './clock.js';
import { threadForKey } from './placement.js';
import { ActorRegistry } from './registry.js';
import type { RestartPolicy, SupervisorStrategy } from './supervisor.js';
import { ActorThreadClient } from './thread-client.js';
import type { ThreadControl } from './thread-protocol.js';
import type { ActorRef, ActorRouter, AskOptions, LocalSpawnOptions } from './types.js';

export interface ActorSystemOptions {
  logger: Logger;
  /** Worker threads in the pool; default os.availableParallelism(). */
  threads?: number;
  /** The compiled worker entry; default dist/workers/actor-thread.js next to this file. */
  workerModule?: URL;
  clock?: Clock;
  restartPolicy?: RestartPolicy;
  /** Supervises local root actors. */
  supervisorStrategy?: SupervisorStrategy;
  /** Called when any actor (local or on a thread) becomes Broken, including by thread death. */
  onBroken?: (address: string, reason: string) => void;
}

export interface RemoteSpawnOptions {
  address: string;
  /** Absolute path or file: URL of a compiled JS module. */
  module: string | URL;
  /** Export called as `factory(args, context) → Behavior`; default 'default'. */
  exportName?: string;
  /** Structured-cloneable arguments for the factory. */
  args?: unknown;
  /** Actors with equal keys share a thread; default the address. */
  placementKey?: string;
  mailboxCapacity?: number;
}

/** Where the system believes a remote actor is. */
interface RemoteEntry {
  thread: number;
  brokenReason: string | undefined;
}

export class ActorSystem implements ActorRouter {
  readonly threads: number;
  readonly local: ActorRegistry;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #workerModule: URL;
  readonly #clients: ActorThreadClient[] = [];
  readonly #replacements = new Map<number, Promise<void>>();
  readonly #remote = new Map<string, RemoteEntry>();
  readonly #onBroken: ((address: string, reason: string) => void) | undefined;
  #stopping: Promise<void> | undefined;

  private constructor(options: ActorSystemOptions) {
    this.threads = options.threads ?? availableParallelism();
    assert(Number.isInteger(this.threads) && this.threads >= 1, 'an actor system has at least one thread');
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
    this.#workerModule = options.workerModule ?? new URL('../../workers/actor-thread.js', import.meta.url);
    this.#onBroken = options.onBroken;
    this.local = new ActorRegistry({
      logger: options.logger,
      clock: this.#clock,
      remote: this.#remoteRouter(),
      onBroken: (address, reason) => this.#onBroken?.(address, reason),
      ...(options.restartPolicy === undefined ? {} : { restartPolicy: options.restartPolicy }),
      ...(options.supervisorStrategy === undefined ? {} : { supervisorStrategy: options.supervisorStrategy }),
    });
  }

  /** Starts the fixed pool of `threads` worker threads; resolves when all reported ready. */
  static async start(options: ActorSystemOptions): Promise<ActorSystem> {
    const system = new ActorSystem(options);
    const clients = await Promise.all(Array.from({ length: system.threads }, (_, index) => system.#startThread(index)));
    system.#clients.push(...clients);
    assert(system.#clients.length === system.threads, 'every pool thread started');
    options.logger.info({ threads: system.threads }, 'actor system started');
    return system;
  }

  /** Worker thread ids of the pool, by index (tests check the pool stays fixed). */
  get threadIds(): number[] {
    return this.#clients.map((client) => client.worker.threadId);
  }

  /** The pool index a placement key maps to. */
  threadForKey(placementKey: string): number {
    return threadForKey(placementKey, this.threads);
  }

  /** Where an address lives: 'local', a thread index, or undefined when unknown. */
  placementOf(address: string): 'local' | number | undefined {
    if (this.local.has(address)) return 'local';
    return this.#remote.get(address)?.thread;
  }

  /** The reason a remote actor is Broken, or undefined. */
  brokenReason(address: string): string | undefined {
    const local = this.local.stateOf(address);
    if (local?.kind === 'Broken') return local.reason;
    return this.#remote.get(address)?.brokenReason;
  }

  /** Spawns an actor on its placement thread; resolves once its `start()` succeeded there. */
  async spawn(options: RemoteSpawnOptions): Promise<void> {
    this.#assertRunning(options.address);
    if (this.local.has(options.address)) {
      throw new StrataError('PS_ERR_ALREADY_EXISTS', `an actor already runs at ${options.address}`, { actor: options.address });
    }
    if (this.#remote.size >= limits.actorsPerThreadMax * this.threads && !this.#remote.has(options.address)) {
      throw new StrataError('PS_ERR_MAILBOX_FULL', 'actor system is at its actor bound', { actor: options.address });
    }
    const thread = this.threadForKey(options.placementKey ?? options.address);
    const client = await this.#clientAt(thread);
    await client.spawn({
      address: options.address,
      module: options.module instanceof URL ? options.module.href : options.module,
      exportName: options.exportName ?? 'default',
      args: options.args,
      mailboxCapacity: options.mailboxCapacity,
    });
    this.#remote.set(options.address, { thread, brokenReason: undefined });
  }

  /** Spawns an actor on the calling thread (behavior given directly or by factory). */
  spawnLocal<Message>(options: LocalSpawnOptions<Message>): Promise<ActorRef> {
    this.#assertRunning(options.address);
    if (this.#remote.has(options.address)) {
      return Promise.reject(new StrataError('PS_ERR_ALREADY_EXISTS', `an actor already runs at ${options.address}`, { actor: options.address }));
    }
    return this.local.spawn(options);
  }

  tell(address: string, message: unknown): void {
    this.local.tell(address, message);
  }

  ask<Reply = unknown>(address: string, message: unknown, options: AskOptions = {}): Promise<Reply> {
    return this.local.ask<Reply>(address, message, options);
  }

  askBytes(address: string, request: Uint8Array, options: AskOptions = {}): Promise<Uint8Array> {
    return this.local.askBytes(address, request, options);
  }

  /** Stops one actor, local or remote, and forgets it. */
  async stopActor(address: string): Promise<void> {
    if (this.local.has(address)) return this.local.stopActor(address);
    const entry = this.#remote.get(address);
    if (entry === undefined) return;
    this.#remote.delete(address);
    const client = this.#clients[entry.thread];
    if (client?.alive === true) await client.stopActor(address);
  }

  /** Sends `control` to every thread; resolves with the replies by thread index. */
  async broadcast(control: ThreadControl): Promise<unknown[]> {
    assert(this.#stopping === undefined, 'broadcast before stop');
    const clients = await Promise.all(Array.from({ length: this.threads }, (_, index) => this.#clientAt(index)));
    return Promise.all(clients.map((client) => client.control(control)));
  }

  /** Graceful shutdown of every actor and thread; idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#logger.info('actor system stopping');
    await this.local.stopAll();
    await Promise.all([...this.#replacements.values()]);
    await Promise.all(this.#clients.map((client) => client.shutdown()));
    this.#remote.clear();
    this.#logger.info('actor system stopped');
  }

  #assertRunning(address: string): void {
    if (this.#stopping === undefined) return;
    throw new StrataError('PS_ERR_SHUTTING_DOWN', 'actor system is shutting down', { actor: address });
  }

  async #clientAt(index: number): Promise<ActorThreadClient> {
    await this.#replacements.get(index);
    const client = this.#clients[index];
    assert(client !== undefined, `thread ${index} exists`);
    if (!client.alive) throw new StrataError('PS_ERR_ACTOR_STOPPED', `actor thread ${index} is not running`, { thread: index });
    return client;
  }

  /** Routes to the remote entry of `address`, rejecting Broken or unknown addresses. */
  #remoteClient(address: string): ActorThreadClient {
    const entry = this.#remote.get(address);
    if (entry === undefined) throw notFound(`no actor at ${address}`, { actor: address });
    if (entry.brokenReason !== undefined) {
      throw new StrataError('PS_ERR_BROKEN', `actor ${address} is broken: ${entry.brokenReason}`, { actor: address, reason: entry.brokenReason });
    }
    const client = this.#clients[entry.thread];
    assert(client !== undefined, 'a remote entry names an existing thread');
    return client;
  }

  #remoteRouter(): ActorRouter {
    return {
      tell: (address, message) => this.#remoteClient(address).tell(address, message),
      ask: async <Reply>(address: string, message: unknown, options?: AskOptions) => {
        const timeoutMs = options?.timeoutMs ?? limits.askTimeoutMsDefault;
        return (await this.#remoteClient(address).ask(address, message, timeoutMs)) as Reply;
      },
      askBytes: async (address, request, options) => {
        const timeoutMs = options?.timeoutMs ?? limits.askTimeoutMsDefault;
        return this.#remoteClient(address).askBytes(address, request, timeoutMs);
      },
    };
  }

  #startThread(index: number): Promise<ActorThreadClient> {
    return ActorThreadClient.start({
      threadIndex: index,
      workerModule: this.#workerModule,
      logger: this.#logger,
      clock: this.#clock,
      onUplinkTell: (address, message) => this.#uplinkTell(address, message),
      onUplinkAsk: (address, message, timeoutMs, bytes) =>
        bytes ? this.askBytes(address, message as Uint8Array, { timeoutMs }) : this.ask(address, message, { timeoutMs }),
      onBroken: (address, reason) => this.#markBroken(address, reason),
      onExit: (client, reason) => this.#onThreadExit(client, reason),
    });
  }

  #uplinkTell(address: string, message: unknown): void {
    try {
      this.tell(address, message);
    } catch (error) {
      this.#logger.warn({ err: error, actor: address }, 'drop message told across threads');
    }
  }

  #markBroken(address: string, reason: string): void {
    const entry = this.#remote.get(address);
    if (entry !== undefined) entry.brokenReason = reason;
    this.#onBroken?.(address, reason);
  }

  #onThreadExit(client: ActorThreadClient, reason: string): void {
    const index = client.threadIndex;
    this.#logger.error({ actor_thread: index, reason }, 'actor thread died; its actors are broken; replacing the thread');
    for (const [address, entry] of this.#remote) {
      if (entry.thread === index && entry.brokenReason === undefined) this.#markBroken(address, reason);
    }
    if (this.#stopping !== undefined) return;
    const replacement = this.#startThread(index).then(
      (fresh) => { this.#clients[index] = fresh; },
      (error: unknown) => { this.#logger.error({ err: error, actor_thread: index }, 'could not replace actor thread'); },
    ).finally(() => this.#replacements.delete(index));
    this.#replacements.set(index, replacement);
  }
}
