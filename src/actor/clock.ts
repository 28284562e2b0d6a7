/**
 * The actor runtime's view of time: an injected `Clock`, so supervision windows and ask timeouts
 * can be driven by a `SimulatedClock` in tests instead of real timers.
 *
 * Only two operations are needed: reading the time (restart budget windows) and scheduling a
 * one-shot callback (ask timeouts). `SimulatedClock.advance(ms)` fires due timers in time order,
 * which makes supervision tests deterministic (XState's SimulatedClock does the same).
 */
import { assert } from '../assert.js';

export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds on a monotonic-enough scale; only differences are used. */
  now(): number;
  /** Calls `callback` once after `delayMs`, unless cancelled first. */
  setTimeout(callback: () => void, delayMs: number): TimerHandle;
}

/** The real clock: `performance.now()` and Node timers. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout(callback, delayMs) {
    assert(delayMs >= 0, 'a timer delay is never negative');
    const timer = setTimeout(callback, delayMs);
    return { cancel: () => clearTimeout(timer) };
  },
};

interface SimulatedTimer {
  dueMs: number;
  sequence: number;
  callback: () => void;
  cancelled: boolean;
}

/** A clock that only moves when a test calls `advance`. */
export class SimulatedClock implements Clock {
  #nowMs: number;
  #sequence = 0;
  readonly #timers: SimulatedTimer[] = [];

  constructor(startMs = 0) {
    this.#nowMs = startMs;
  }

  now(): number {
    return this.#nowMs;
  }

  setTimeout(callback: () => void, delayMs: number): TimerHandle {
    assert(delayMs >= 0, 'a timer delay is never negative');
    const timer: SimulatedTimer = { dueMs: this.#nowMs + delayMs, sequence: this.#sequence++, callback, cancelled: false };
    this.#timers.push(timer);
    return { cancel: () => { timer.cancelled = true; } };
  }

  /** Moves time forward by `deltaMs`, firing every timer that falls due, earliest first. */
  advance(deltaMs: number): void {
    assert(deltaMs >= 0, 'simulated time only moves forward');
    const targetMs = this.#nowMs + deltaMs;
    for (;;) {
      const next = this.#nextDue(targetMs);
      if (next === undefined) break;
      this.#nowMs = next.dueMs;
      next.callback();
    }
    this.#nowMs = targetMs;
  }

  /** Timers not yet fired nor cancelled (tests assert nothing leaks). */
  get pendingTimers(): number {
    return this.#timers.filter((timer) => !timer.cancelled).length;
  }

  #nextDue(targetMs: number): SimulatedTimer | undefined {
    let best: SimulatedTimer | undefined;
    let bestIndex = -1;
    for (let index = 0; index < this.#timers.length; index++) {
      const timer = this.#timers[index]!;
      if (timer.cancelled || timer.dueMs > targetMs) continue;
      if (best === undefined || timer.dueMs < best.dueMs || (timer.dueMs === best.dueMs && timer.sequence < best.sequence)) {
        best = timer;
        bestIndex = index;
      }
    }
    if (best !== undefined) this.#timers.splice(bestIndex, 1);
    this.#timers.splice(0, this.#timers.length, ...this.#timers.filter((timer) => !timer.cancelled));
    return best;
  }
}
