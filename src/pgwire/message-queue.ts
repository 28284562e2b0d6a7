/**
 * A bounded FIFO of parsed backend messages between a socket and one consumer, with back-pressure.
 *
 * Why: the socket produces as fast as the primary sends (a base backup is gigabytes), but the
 * consumer (a tar writer, WAL ingest) may be slower. When the queued bytes pass `bytesMax` the
 * queue calls `pause()` (the socket stops reading, TCP flow control pushes back to the primary);
 * when the consumer drains it below half, `resume()`. The queue can overshoot by one TCP read,
 * since a chunk is parsed whole.
 *
 *   socket ──push()──▶ | m1 | m2 | … | mN | ──next()──▶ consumer
 *                      └ bytes > bytesMax → pause ┘   bytes < bytesMax/2 → resume
 *
 * `fail(error)` ends the queue: messages already queued are still delivered, then every `next()`
 * rejects with that error.
 */
import { assert } from '../assert.js';
import type { BackendMessage } from './messages.js';

export interface MessageQueueOptions {
  bytesMax: number;
  pause: () => void;
  resume: () => void;
}

export class MessageQueue {
  readonly #options: MessageQueueOptions;
  #items: BackendMessage[] = [];
  #head = 0;
  #bytes = 0;
  #paused = false;
  #error: Error | undefined;
  #waiter: { resolve: (message: BackendMessage) => void; reject: (error: Error) => void } | undefined;

  constructor(options: MessageQueueOptions) {
    assert(options.bytesMax > 0, 'queue bound must be positive');
    this.#options = options;
  }

  get queuedBytes(): number {
    return this.#bytes;
  }

  get failed(): Error | undefined {
    return this.#error;
  }

  push(message: BackendMessage): void {
    if (this.#error !== undefined) return;
    const waiter = this.#waiter;
    if (waiter !== undefined) {
      assert(this.#head === this.#items.length, 'a waiter only exists while the queue is empty');
      this.#waiter = undefined;
      waiter.resolve(message);
      return;
    }
    this.#items.push(message);
    this.#bytes += message.length;
    if (!this.#paused && this.#bytes > this.#options.bytesMax) {
      this.#paused = true;
      this.#options.pause();
    }
  }

  /** Ends the queue; later `next()` calls reject once the queued messages are consumed. */
  fail(error: Error): void {
    if (this.#error !== undefined) return;
    this.#error = error;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(error);
  }

  next(): Promise<BackendMessage> {
    assert(this.#waiter === undefined, 'the message queue has a single consumer');
    if (this.#head < this.#items.length) return Promise.resolve(this.#take());
    if (this.#error !== undefined) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  #take(): BackendMessage {
    const message = this.#items[this.#head]!;
    this.#items[this.#head] = undefined as unknown as BackendMessage;
    this.#head++;
    this.#bytes -= message.length;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    if (this.#paused && this.#bytes <= this.#options.bytesMax / 2) {
      this.#paused = false;
      this.#options.resume();
    }
    assert(this.#bytes >= 0, 'queued bytes cannot go negative');
    return message;
  }
}
