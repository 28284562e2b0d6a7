/**
 * Assertions for programmer errors.
 *
 * An assertion failure means the code is wrong, not the input: it throws an AssertionError that
 * the actor supervisor treats as a crash of the actor (restart / mark broken). Operating errors
 * (bad input, full mailboxes, timeouts, I/O) are coded `StrataError`s from `errors.ts` instead.
 */
import { AssertionError } from 'node:assert';

export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new AssertionError({ message });
}

/** For the `default:` arm of an exhaustive switch over a tagged union. */
export function assertNever(value: never, message = 'unexpected variant'): never {
  throw new AssertionError({ message: `${message}: ${JSON.stringify(value)}` });
}

export function unreachable(message: string): never {
  throw new AssertionError({ message: `unreachable: ${message}` });
}
