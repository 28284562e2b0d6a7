/** The compute's transition table: every listed edge works, every other pair is refused; the registry file round-trips. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeRegistry, encodeRegistry, type ComputeRecord } from '../../../src/compute/compute-registry-file.js';
import { COMPUTE_TRANSITIONS, isActive, isFinished, transitionCompute, type ComputeState } from '../../../src/compute/compute-state.js';
import { isStrataError } from '../../../src/errors.js';

const SAMPLE: Record<ComputeState['kind'], ComputeState> = {
  Starting: { kind: 'Starting', since: 1 },
  Running: { kind: 'Running', pid: 4242, since: 2 },
  Stopping: { kind: 'Stopping', reason: 'requested', pid: 4242 },
  Stopped: { kind: 'Stopped', at: 3, reason: 'requested' },
  Failed: { kind: 'Failed', reason: 'start failed: exit 1', at: 4, logTail: ['FATAL:  could not bind'] },
};

test('every (state, next) pair is allowed exactly when the table has its edge', () => {
  let allowed = 0;
  let refused = 0;
  for (const from of Object.values(SAMPLE)) {
    for (const next of Object.values(SAMPLE)) {
      const expected = Object.values(COMPUTE_TRANSITIONS[from.kind]).includes(next.kind);
      try {
        assert.equal(transitionCompute(from, next), next);
        assert.ok(expected, `${from.kind} -> ${next.kind} should be refused`);
        allowed++;
      } catch (error) {
        assert.ok(isStrataError(error, 'PS_ERR_ILLEGAL_TRANSITION'), String(error));
        assert.not.ok(expected, `${from.kind} -> ${next.kind} should be allowed`);
        refused++;
      }
    }
  }
  // Starting→Running|Failed, Running→Stopping|Failed, Stopping→Stopped|Failed, Failed→Stopping.
  assert.is(allowed, 7);
  assert.is(refused, 18);
});

test('a compute never starts twice, a Stopped one never moves, a Starting one cannot be stopped', () => {
  for (const from of Object.values(SAMPLE)) assert.throws(() => transitionCompute(from, SAMPLE.Starting));
  for (const next of Object.values(SAMPLE)) assert.throws(() => transitionCompute(SAMPLE.Stopped, next));
  assert.throws(() => transitionCompute(SAMPLE.Starting, SAMPLE.Stopping));
  assert.throws(() => transitionCompute(SAMPLE.Failed, SAMPLE.Running), 'a Failed compute is not restarted in place');
});

test('active and finished partition the states (max_computes bounds the active ones)', () => {
  for (const state of Object.values(SAMPLE)) assert.is(isActive(state), !isFinished(state), state.kind);
  assert.equal(Object.values(SAMPLE).filter(isActive).map((state) => state.kind), ['Starting', 'Running', 'Stopping']);
});

const RECORD: ComputeRecord = {
  computeId: 'c'.repeat(32), tenantId: 'a'.repeat(32), timelineId: 'b'.repeat(32), mode: 'read-only', branch: null, lsn: '0/16B3748', port: 54012,
  directory: '/w/computes/' + 'c'.repeat(32), createdAt: 1_767_225_600_000, keep: false, state: SAMPLE.Running,
};

test('computes.json round-trips every state and refuses what it cannot trust', () => {
  const records = Object.values(SAMPLE).map((state, index) => ({ ...RECORD, computeId: String(index).repeat(32), state }));
  assert.equal(decodeRegistry(encodeRegistry(records), 'computes.json'), records);
  const bad = (text: string, pattern: RegExp) => {
    try {
      decodeRegistry(Buffer.from(text), 'computes.json');
    } catch (error) {
      assert.ok(isStrataError(error, 'PS_ERR_IO'), String(error));
      assert.match((error as Error).message, pattern);
      return;
    }
    assert.unreachable(`decoded ${text}`);
  };
  bad('{', /not JSON/);
  bad('{"format":"other","version":1,"computes":[]}', /not a strata-computes file/);
  bad('{"format":"strata-computes","version":2,"computes":[]}', /version 2/);
  const withState = (state: unknown) => JSON.stringify({ format: 'strata-computes', version: 1, computes: [{ ...RECORD, state }] });
  bad(withState({ kind: 'Exploded' }), /unknown compute state 'Exploded'/);
  bad(withState({ kind: 'Running', since: 1 }), /field 'pid'/);
  bad(JSON.stringify({ format: 'strata-computes', version: 1, computes: [RECORD, RECORD] }), /appears twice/);
  bad(JSON.stringify({ format: 'strata-computes', version: 1, computes: [{ ...RECORD, port: 70_000 }] }), /field 'port'/);
});

test.run();
