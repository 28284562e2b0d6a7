/**
 * PendingRequests: the bounded table of requests awaiting a reply from the other side of a thread
 * boundary, each with its own timeout (PS_ERR_TIMEOUT). Used by both ends: the main thread's
 * ActorThreadClient (asks, spawns, controls sent to a worker) and a worker's uplink (asks its actors
 * send to actors on other threads).
 *
 * Request ids are u32 (they travel in ring frames) and wrap; an id still in use is skipped. When
 * `capacity` requests are pending, `add` throws PS_ERR_MAILBOX_FULL: the caller backs off.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { Clock, TimerHandle } from './clock.js';

export type PendingResult = { ok: true; value: unknown } | { ok: false; error: Error };

interface PendingEntry {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: TimerHandle;
}

export interface PendingRequestsOptions {
  clock: Clock;
  capacity: number;
  /** Names the other side in error messages ("actor thread 3"). */
  label: string;
}

export class PendingRequests {
  readonly #entries = new Map<number, PendingEntry>();
  readonly #options: PendingRequestsOptions;
  #nextId = 1;

  constructor(options: PendingRequestsOptions) {
    assert(options.capacity >= 1 && options.capacity < 2 ** 31, 'pending capacity is a positive bound');
    this.#options = options;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Reserves an id; `send(id)` must transmit the request (a throw rejects and frees the id). */
  add(timeoutMs: number, target: string, send: (requestId: number) => void): Promise<unknown> {
    assert(timeoutMs > 0, 'a request timeout is positive');
    if (this.#entries.size >= this.#options.capacity) {
      throw new StrataError('PS_ERR_MAILBOX_FULL', `${this.#options.label} has ${this.#options.capacity} requests pending`, { actor: target });
    }
    const requestId = this.#allocateId();
    const promise = new Promise<unknown>((resolve, reject) => {
      const timer = this.#options.clock.setTimeout(() => {
        if (!this.#entries.delete(requestId)) return;
        reject(new StrataError('PS_ERR_TIMEOUT', `request to ${target} on ${this.#options.label} timed out after ${timeoutMs} ms`, { actor: target, timeoutMs }));
      }, timeoutMs);
      this.#entries.set(requestId, { resolve, reject, timer });
    });
    try {
      send(requestId);
    } catch (error) {
      this.settle(requestId, { ok: false, error: error instanceof Error ? error : new Error(String(error)) });
    }
    return promise;
  }

  /** Delivers a reply; false when the request already timed out (the reply is dropped). */
  settle(requestId: number, result: PendingResult): boolean {
    const entry = this.#entries.get(requestId);
    if (entry === undefined) return false;
    this.#entries.delete(requestId);
    entry.timer.cancel();
    if (result.ok) entry.resolve(result.value);
    else entry.reject(result.error);
    return true;
  }

  /** Rejects everything pending (the other side died or is shutting down). */
  rejectAll(error: Error): void {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    for (const entry of entries) {
      entry.timer.cancel();
      entry.reject(error);
    }
    assert(this.#entries.size === 0, 'no request survives rejectAll');
  }

  #allocateId(): number {
    // Bounded: at most `capacity` ids are in use, so a free one is found within capacity + 1 steps.
    for (let attempt = 0; attempt <= this.#options.capacity; attempt++) {
      const id = this.#nextId;
      this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1;
      if (!this.#entries.has(id)) return id;
    }
    throw new Error('unreachable: no free request id below capacity');
  }
}
