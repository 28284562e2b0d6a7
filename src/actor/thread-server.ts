/**
 * ActorThreadServer: the worker-thread side of the actor runtime. workers/actor-thread.ts only
 * constructs it; all logic lives here so it can be read next to its client (thread-client.ts).
 *
 *   main thread                               this worker thread
 *   ActorThreadClient ── MessagePort ──────▶  #onMessage: spawn / tell / ask / control / shutdown
 *                     ◀─ MessagePort ───────  replies, uplinkTell / uplinkAsk, broken reports
 *                     ── request ring ──────▶ #serveRing: askBytes frames (hot path)
 *                     ◀─ response ring ─────  response frames (MessagePort when full / too large)
 *
 * Actors here live in one ActorRegistry; an address not found locally goes up to the main thread
 * (the uplink), which routes it to the right thread. Behaviors are loaded by module URL and export
 * name, because functions cannot cross threads; the factory gets the spawn's `args`.
 */
import type { MessagePort } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { assert, assertNever } from '../assert.js';
import { StrataError } from '../errors.js';
import { limits } from '../limits.js';
import type { Logger } from '../observability/log.js';
import { systemClock } from './clock.js';
import { PendingRequests } from './pending-requests.js';
import { ActorRegistry } from './registry.js';
import { SharedRing } from './ring.js';
import { runControl, threadControlHandlers, type ControlHandlers } from './thread-controls.js';
import {
  RESPONSE_ERROR, RESPONSE_OK, decodeRequestFrame, encodeErrorPayload, encodeResponseHeader, fromWireError, toWireError,
  type ActorThreadData, type FromThread, type ToThread, type WireResult,
} from './thread-protocol.js';
import type { ActorRouter, AskOptions, ModuleBehaviorFactory } from './types.js';

export interface ActorThreadServerOptions {
  port: MessagePort;
  data: ActorThreadData;
  logger: Logger;
  controlHandlers?: ControlHandlers;
}

/** How long the ring loop sleeps between checks when idle; a write wakes it at once. */
const RING_IDLE_WAIT_MS = 1_000;

export class ActorThreadServer {
  readonly registry: ActorRegistry;
  readonly #port: MessagePort;
  readonly #logger: Logger;
  readonly #requestRing: SharedRing;
  readonly #responseRing: SharedRing;
  readonly #uplink: PendingRequests;
  readonly #controlHandlers: ControlHandlers;
  #closing = false;

  constructor(options: ActorThreadServerOptions) {
    this.#port = options.port;
    this.#logger = options.logger;
    this.#requestRing = SharedRing.attach(options.data.requestRing, options.data.ringMessageBytesMax);
    this.#responseRing = SharedRing.attach(options.data.responseRing, options.data.ringMessageBytesMax);
    this.#controlHandlers = options.controlHandlers ?? threadControlHandlers;
    this.#uplink = new PendingRequests({ clock: systemClock, capacity: limits.actorThreadPendingMax, label: 'main thread' });
    this.registry = new ActorRegistry({
      logger: options.logger,
      remote: this.#uplinkRouter(),
      onBroken: (address, reason) => this.#post({ kind: 'broken', address, reason }),
    });
  }

  start(): void {
    this.#port.on('message', (message: ToThread) => this.#onMessage(message));
    this.#post({ kind: 'ready' });
    void this.#serveRing();
  }

  #onMessage(message: ToThread): void {
    switch (message.kind) {
      case 'spawn':
        return this.#reply(message.requestId, this.#spawn(message));
      case 'tell':
        return this.#tell(message.address, message.message);
      case 'ask':
        return this.#reply(message.requestId, this.registry.ask(message.address, message.message, { timeoutMs: message.timeoutMs }));
      case 'askBytes':
        return this.#answerBytes(message.requestId, message.address, message.bytes, message.timeoutMs);
      case 'stopActor':
        return this.#reply(message.requestId, this.registry.stopActor(message.address));
      case 'control':
        return this.#reply(message.requestId, runControl(this.#controlHandlers, message.control));
      case 'shutdown':
        return this.#reply(message.requestId, this.#shutdown());
      case 'uplinkReply':
        this.#uplink.settle(message.requestId, message.ok ? { ok: true, value: message.value } : { ok: false, error: fromWireError(message.error) });
        return;
      default:
        assertNever(message);
    }
  }

  async #spawn(message: Extract<ToThread, { kind: 'spawn' }>): Promise<null> {
    const url = message.module.startsWith('file:') ? message.module : pathToFileURL(message.module).href;
    const loaded = (await import(url)) as Record<string, unknown>;
    const factory = loaded[message.exportName];
    if (typeof factory !== 'function') {
      throw new StrataError('PS_ERR_BAD_REQUEST', `module ${message.module} has no function export ${message.exportName}`, { actor: message.address });
    }
    const moduleFactory = factory as ModuleBehaviorFactory<unknown>;
    await this.registry.spawn({
      address: message.address,
      factory: (context) => moduleFactory(message.args, context),
      ...(message.mailboxCapacity === undefined ? {} : { mailboxCapacity: message.mailboxCapacity }),
    });
    return null;
  }

  #tell(address: string, message: unknown): void {
    try {
      this.registry.tell(address, message);
    } catch (error) {
      this.#logger.warn({ err: error, actor: address }, 'drop told message');
    }
  }

  async #shutdown(): Promise<null> {
    this.#closing = true;
    await this.registry.stopAll();
    this.#requestRing.close();
    this.#uplink.rejectAll(new StrataError('PS_ERR_SHUTTING_DOWN', 'actor thread is shutting down'));
    return null;
  }

  #reply(requestId: number, work: Promise<unknown>): void {
    work.then(
      (value) => this.#postResult(requestId, { ok: true, value }),
      (error: unknown) => this.#postResult(requestId, { ok: false, error: toWireError(error) }),
    );
  }

  #postResult(requestId: number, result: WireResult): void {
    try {
      this.#post({ kind: 'reply', requestId, ...result });
    } catch (error) {
      this.#post({ kind: 'reply', requestId, ok: false, error: toWireError(error) });
    }
  }

  #post(message: FromThread): void {
    this.#port.postMessage(message);
  }

  async #serveRing(): Promise<void> {
    // Runs for the life of the thread; each pass drains every published request.
    while (!this.#closing) {
      for (let frame = this.#requestRing.read(); frame !== undefined; frame = this.#requestRing.read()) {
        const request = decodeRequestFrame(frame);
        this.#answerBytes(request.requestId, request.address, request.payload, limits.askTimeoutMsDefault);
      }
      await this.#requestRing.waitForDataAsync(RING_IDLE_WAIT_MS);
    }
  }

  #answerBytes(requestId: number, address: string, request: Uint8Array, timeoutMs: number): void {
    this.registry.askBytes(address, request, { timeoutMs }).then(
      (response) => {
        const header = encodeResponseHeader(requestId, RESPONSE_OK);
        if (this.#responseRing.tryWriteParts(header, response)) return;
        this.#post({ kind: 'reply', requestId, ok: true, value: response });
      },
      (error: unknown) => {
        const header = encodeResponseHeader(requestId, RESPONSE_ERROR);
        if (this.#responseRing.tryWriteParts(header, encodeErrorPayload(error))) return;
        this.#post({ kind: 'reply', requestId, ok: false, error: toWireError(error) });
      },
    );
  }

  #uplinkRouter(): ActorRouter {
    const askUp = (address: string, message: unknown, options: AskOptions | undefined, bytes: boolean) => {
      const timeoutMs = options?.timeoutMs ?? limits.askTimeoutMsDefault;
      return this.#uplink.add(timeoutMs, address, (requestId) => {
        this.#post({ kind: 'uplinkAsk', requestId, address, message, timeoutMs, bytes });
      });
    };
    return {
      tell: (address, message) => this.#post({ kind: 'uplinkTell', address, message }),
      ask: async <Reply>(address: string, message: unknown, options?: AskOptions) => (await askUp(address, message, options, false)) as Reply,
      askBytes: async (address, request, options) => {
        const response = await askUp(address, request, options, true);
        assert(response instanceof Uint8Array, 'an askBytes reply is bytes');
        return response;
      },
    };
  }
}
