/**
 * Tenant state machine: walks every (state kind × message kind) pair against an edge list written
 * here independently of the module, checks the data states carry, the INFO log line, and that the
 * header diagram of tenant-state.ts lists exactly the table's edges.
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import {
  TENANT_MESSAGE_KINDS,
  TENANT_STATE_KINDS,
  TENANT_STATE_MACHINE,
  applyTenantTransition,
  initialTenantState,
  tenantStateForApi,
  transitionTenant,
  type TenantState,
  type TenantStateMessage,
} from '../../../src/tenant/tenant-state.js';
import { listEdges } from '../../../src/actor/state-machine.js';
import { LogCapture } from '../../helpers/log-capture.js';

/** The legal edges as the issue and the design describe them; every other pair must throw. */
const EXPECTED_EDGES = [
  'Attaching --Activate--> Activating',
  'Attaching --Stop--> Stopping',
  'Attaching --MarkBroken--> Broken',
  'Activating --ActivationDone--> Active',
  'Activating --Stop--> Stopping',
  'Activating --MarkBroken--> Broken',
  'Active --Stop--> Stopping',
  'Active --MarkBroken--> Broken',
  'Stopping --StopDone--> Stopped',
  'Stopping --MarkBroken--> Broken',
  'Broken --Stop--> Stopping',
];

const SAMPLE_STATES: Record<string, TenantState> = {
  Attaching: { kind: 'Attaching' },
  Activating: { kind: 'Activating' },
  Active: { kind: 'Active' },
  Stopping: { kind: 'Stopping', reason: 'shutdown' },
  Stopped: { kind: 'Stopped' },
  Broken: { kind: 'Broken', reason: 'first failure' },
};

const SAMPLE_MESSAGES: Record<string, TenantStateMessage> = {
  Activate: { kind: 'Activate' },
  ActivationDone: { kind: 'ActivationDone' },
  Stop: { kind: 'Stop', reason: 'detach' },
  StopDone: { kind: 'StopDone' },
  MarkBroken: { kind: 'MarkBroken', reason: 'disk full', stack: 'Error: disk full\n    at x' },
};

function expectedTarget(from: string, message: string): string | undefined {
  const edge = EXPECTED_EDGES.find((line) => line.startsWith(`${from} --${message}--> `));
  return edge?.split(' ').at(-1);
}

test('the module has exactly the state and message kinds this test knows', () => {
  assert.equal([...TENANT_STATE_KINDS].sort(), Object.keys(SAMPLE_STATES).sort());
  assert.equal([...TENANT_MESSAGE_KINDS].sort(), Object.keys(SAMPLE_MESSAGES).sort());
});

test('every (state, message) pair: the expected edges succeed with their target, all others throw', () => {
  let legal = 0;
  let illegal = 0;
  for (const [fromKind, state] of Object.entries(SAMPLE_STATES)) {
    for (const [messageKind, message] of Object.entries(SAMPLE_MESSAGES)) {
      const target = expectedTarget(fromKind, messageKind);
      if (target !== undefined) {
        assert.is(transitionTenant(state, message).kind, target, `${fromKind} --${messageKind}-->`);
        legal += 1;
        continue;
      }
      try {
        transitionTenant(state, message);
        assert.unreachable(`${fromKind} --${messageKind}--> should be illegal`);
      } catch (error) {
        assert.ok(isStrataError(error, 'PS_ERR_ILLEGAL_TRANSITION'), `${fromKind} --${messageKind}--> code`);
        assert.is(error.message, `tenant: illegal transition ${fromKind} --${messageKind}-->`);
        assert.equal({ from: error.context.from, message: error.context.message }, { from: fromKind, message: messageKind });
        illegal += 1;
      }
    }
  }
  assert.is(legal, EXPECTED_EDGES.length);
  assert.is(legal + illegal, 6 * 5);
});

test('a tenant starts Attaching and reaches Active through Activate and ActivationDone', () => {
  let state = initialTenantState();
  assert.is(state.kind, 'Attaching');
  state = transitionTenant(state, { kind: 'Activate' });
  state = transitionTenant(state, { kind: 'ActivationDone' });
  assert.equal(state, { kind: 'Active' });
});

test('MarkBroken carries its reason and stack into Broken', () => {
  const broken = transitionTenant({ kind: 'Active' }, { kind: 'MarkBroken', reason: 'walredo died', stack: 'S' });
  assert.equal(broken, { kind: 'Broken', reason: 'walredo died', stack: 'S' });
});

test('Stop of a Broken tenant keeps the broken reason in Stopping', () => {
  const stopping = transitionTenant({ kind: 'Broken', reason: 'bad layer' }, { kind: 'Stop', reason: 'detach' });
  assert.equal(stopping, { kind: 'Stopping', reason: 'detach', brokenReason: 'bad layer' });
});

test('a second MarkBroken is illegal, so the first reason cannot be overwritten', () => {
  const broken: TenantState = Object.freeze({ kind: 'Broken', reason: 'first' });
  assert.throws(() => transitionTenant(broken, { kind: 'MarkBroken', reason: 'second' }), /illegal transition Broken --MarkBroken-->/);
  assert.equal(broken, { kind: 'Broken', reason: 'first' });
});

test('applyTenantTransition logs the change at INFO with from and to', () => {
  const capture = new LogCapture();
  const next = applyTenantTransition({ kind: 'Activating' }, { kind: 'ActivationDone' }, capture.logger);
  assert.is(next.kind, 'Active');
  assert.is(capture.lines.length, 1);
  const line = capture.lines[0]!;
  assert.is(line.level, 30);
  assert.is(line.from, 'Activating');
  assert.is(line.to, 'Active');
  assert.is(line.msg, 'tenant state Activating --ActivationDone--> Active');
  capture.assertClean();
});

test('applyTenantTransition logs nothing for an illegal edge', () => {
  const capture = new LogCapture();
  assert.throws(() => applyTenantTransition({ kind: 'Stopped' }, { kind: 'Activate' }, capture.logger));
  assert.is(capture.lines.length, 0);
});

test('the header diagram lists exactly the edges of the table', () => {
  const source = readFileSync(new URL('../../../../src/tenant/tenant-state.ts', import.meta.url), 'utf8');
  const drawn = [...source.matchAll(/^ \*\s+(\w+) --> (\w+): (\w+)$/gm)].map(
    (match) => `${match[1]} --${match[3]}--> ${match[2]}`,
  );
  const table = listEdges(TENANT_STATE_MACHINE).map((edge) => `${edge.from} --${edge.message}--> ${edge.to}`);
  assert.equal(drawn.sort(), table.sort());
  assert.equal(table.sort(), [...EXPECTED_EDGES].sort());
});

test('the API view uses the slugs and puts the broken reason in data', () => {
  assert.equal(tenantStateForApi({ kind: 'Active' }), { slug: 'Active' });
  assert.equal(tenantStateForApi({ kind: 'Broken', reason: 'why' }), { slug: 'Broken', data: { reason: 'why' } });
});

test.run();
