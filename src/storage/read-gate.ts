/**
 * Keeps layer files alive while reads that may use them are in flight.
 *
 * WHY: a read collects version refs from the layer map, then awaits positioned reads of files.
 * Compaction and GC take layers out of the map and delete their files; a file deleted between the
 * two steps would fail a correct read. So every read enters the gate (tagged with the current
 * epoch) and leaves it when done; whoever removes layers from the map advances the epoch and
 * waits until no read of an earlier epoch is left, then deletes. Reads never wait here.
 */
import { assert } from '../assert.js';

interface Waiter {
  epoch: number;
  resolve: () => void;
}

export class ReadGate {
  #epoch = 0;
  /** Reads in flight per epoch (only epochs with reads are present). */
  readonly #active = new Map<number, number>();
  #waiters: Waiter[] = [];

  enter(): number {
    const epoch = this.#epoch;
    this.#active.set(epoch, (this.#active.get(epoch) ?? 0) + 1);
    return epoch;
  }

  exit(epoch: number): void {
    const count = this.#active.get(epoch);
    assert(count !== undefined && count > 0, 'exit of a read that did not enter');
    if (count === 1) this.#active.delete(epoch);
    else this.#active.set(epoch, count - 1);
    this.#wake();
  }

  /** Starts a new epoch and resolves when every read that entered before it has left. */
  drain(): Promise<void> {
    const before = this.#epoch;
    this.#epoch += 1;
    if (!this.#hasReadsUpTo(before)) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ epoch: before, resolve }));
  }

  #hasReadsUpTo(epoch: number): boolean {
    for (const active of this.#active.keys()) if (active <= epoch) return true;
    return false;
  }

  #wake(): void {
    if (this.#waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const waiter of this.#waiters) {
      if (this.#hasReadsUpTo(waiter.epoch)) still.push(waiter);
      else waiter.resolve();
    }
    this.#waiters = still;
  }
}
