/** The walreceiver's transition table: every listed edge works, every other pair is refused. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import { transitionWalReceiver, WALRECEIVER_TRANSITIONS } from '../../../src/timeline/walreceiver-state.js';
import type { WalReceiverState } from '../../../src/timeline/walreceiver.js';

const SAMPLE: Record<WalReceiverState['kind'], WalReceiverState> = {
  Connecting: { kind: 'Connecting', attempt: 1 },
  Streaming: { kind: 'Streaming', startLsn: 0x1000, since: 1 },
  Backoff: { kind: 'Backoff', attempt: 2, delayMs: 200, lastError: 'refused' },
  Stopped: { kind: 'Stopped' },
};

test('every (state, next) pair is allowed exactly when the table has its edge', () => {
  let allowed = 0;
  let refused = 0;
  for (const from of Object.values(SAMPLE)) {
    for (const next of Object.values(SAMPLE)) {
      const edges = Object.values(WALRECEIVER_TRANSITIONS[from.kind]);
      const expected = edges.includes(next.kind);
      try {
        const result = transitionWalReceiver(from, next);
        assert.ok(expected, `${from.kind} -> ${next.kind} should be refused`);
        assert.equal(result, next);
        allowed++;
      } catch (error) {
        assert.ok(isStrataError(error, 'PS_ERR_ILLEGAL_TRANSITION'), String(error));
        assert.not.ok(expected, `${from.kind} -> ${next.kind} should be allowed`);
        refused++;
      }
    }
  }
  assert.is(allowed, 9);
  assert.is(refused, 7);
});

test('a stopped walreceiver never connects again; backoff never streams without connecting', () => {
  assert.throws(() => transitionWalReceiver(SAMPLE.Stopped, SAMPLE.Connecting));
  assert.throws(() => transitionWalReceiver(SAMPLE.Backoff, SAMPLE.Streaming));
  assert.throws(() => transitionWalReceiver(SAMPLE.Backoff, SAMPLE.Backoff));
});

test.run();
