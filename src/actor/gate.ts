/**
 * Gate: holds shutdown open while I/O is in flight (Neon's `libs/utils/src/sync/gate.rs`).
 *
 * Work that must finish before an object stops `enter()`s the gate (or uses `run(fn)`), and
 * `leave()`s when done. `close()` forbids new entries (PS_ERR_SHUTTING_DOWN) and resolves once
 * every holder has left. Shutdown is therefore: abort the signal, `await gate.close()`, Stopped.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';

export interface GateGuard {
  /** Leaves the gate; calling it twice is a programmer error. */
  leave(): void;
}

export class Gate {
  readonly name: string;
  #holders = 0;
  #closed = false;
  #drained: (() => void) | undefined;
  #closing: Promise<void> | undefined;

  constructor(name: string) {
    this.name = name;
  }

  get holders(): number {
    return this.#holders;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  enter(): GateGuard {
    if (this.#closed) {
      throw new StrataError('PS_ERR_SHUTTING_DOWN', `${this.name} is shutting down`, { gate: this.name });
    }
    this.#holders += 1;
    let left = false;
    return {
      leave: () => {
        assert(!left, 'a gate guard is left once');
        left = true;
        this.#leave();
      },
    };
  }

  /** Runs `work` while holding the gate. */
  async run<Result>(work: () => Promise<Result> | Result): Promise<Result> {
    const guard = this.enter();
    try {
      return await work();
    } finally {
      guard.leave();
    }
  }

  /** Forbids new entries and waits for current holders to leave; idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    if (this.#closing !== undefined) return this.#closing;
    this.#closing = this.#holders === 0 ? Promise.resolve() : new Promise<void>((resolve) => { this.#drained = resolve; });
    return this.#closing;
  }

  #leave(): void {
    assert(this.#holders > 0, 'leave matches an enter');
    this.#holders -= 1;
    if (this.#holders === 0 && this.#drained !== undefined) {
      const drained = this.#drained;
      this.#drained = undefined;
      drained();
    }
  }
}
