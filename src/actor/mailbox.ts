/**
 * A bounded FIFO mailbox: a fixed ring of slots, so an actor that falls behind pushes back on its
 * senders (PS_ERR_MAILBOX_FULL) instead of growing without limit (XState and nact mailboxes are
 * unbounded; that is the lesson we change).
 *
 *   slots: [ . . h x x x t . . ]     h = #head (next to dequeue), t = (#head + #size) % capacity
 *
 * The mailbox holds envelopes only; it does not process them. The actor shell owns the loop and
 * the try/catch around `receive`.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { limits } from '../limits.js';

export interface MailboxOptions {
  /** Actor address, named in the PS_ERR_MAILBOX_FULL error. */
  address: string;
  /** Slots; default `limits.mailboxCapacityMax`. */
  capacity?: number;
}

export class Mailbox<Item> {
  readonly address: string;
  readonly capacity: number;
  readonly #slots: (Item | undefined)[];
  #head = 0;
  #size = 0;

  constructor(options: MailboxOptions) {
    const capacity = options.capacity ?? limits.mailboxCapacityMax;
    assert(Number.isInteger(capacity) && capacity >= 1, 'a mailbox holds at least one message');
    assert(capacity <= limits.mailboxCapacityMax, 'mailbox capacity is bounded by limits.mailboxCapacityMax');
    this.address = options.address;
    this.capacity = capacity;
    this.#slots = new Array<Item | undefined>(capacity).fill(undefined);
  }

  get size(): number {
    return this.#size;
  }

  /** Appends `item`; throws PS_ERR_MAILBOX_FULL when every slot is taken. */
  enqueue(item: Item): void {
    if (this.#size === this.capacity) {
      throw new StrataError('PS_ERR_MAILBOX_FULL', `mailbox of ${this.address} is full (${this.capacity} messages)`, {
        actor: this.address,
        capacity: this.capacity,
      });
    }
    const tail = (this.#head + this.#size) % this.capacity;
    assert(this.#slots[tail] === undefined, 'the tail slot is free');
    this.#slots[tail] = item;
    this.#size += 1;
  }

  /** Removes and returns the oldest item, or undefined when empty. */
  dequeue(): Item | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#slots[this.#head];
    assert(item !== undefined, 'an occupied slot holds an item');
    this.#slots[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.capacity;
    this.#size -= 1;
    return item;
  }

  /** Removes every item, oldest first (shutdown rejects them). */
  drain(): Item[] {
    const items: Item[] = [];
    for (let item = this.dequeue(); item !== undefined; item = this.dequeue()) items.push(item);
    assert(this.#size === 0, 'a drained mailbox is empty');
    return items;
  }
}
