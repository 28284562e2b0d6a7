/**
 * Timeline state machine: walks every (state kind × message kind) pair against an edge list
 * written here independently of the module, checks the data states carry, the INFO log line, and
 * that the header diagram of timeline-state.ts lists exactly the table's edges.
 */
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import { listEdges } from '../../../src/actor/state-machine.js';
import {
  TIMELINE_MESSAGE_KINDS,
  TIMELINE_STATE_KINDS,
  TIMELINE_STATE_MACHINE,
  applyTimelineTransition,
  initialTimelineState,
  timelineStateForApi,
  transitionTimeline,
  type TimelineState,
  type TimelineStateMessage,
} from '../../../src/timeline/timeline-state.js';
import { LogCapture } from '../../helpers/log-capture.js';

/** The legal edges as the issue and the design describe them; every other pair must throw. */
const EXPECTED_EDGES = [
  'Loading --Activate--> Active',
  'Loading --Stop--> Stopping',
  'Loading --MarkBroken--> Broken',
  'Active --Stop--> Stopping',
  'Active --MarkBroken--> Broken',
  'Stopping --StopDone--> Stopped',
  'Stopping --MarkBroken--> Broken',
  'Broken --Stop--> Stopping',
];

const SAMPLE_STATES: Record<string, TimelineState> = {
  Loading: { kind: 'Loading' },
  Active: { kind: 'Active' },
  Stopping: { kind: 'Stopping', reason: 'shutdown' },
  Stopped: { kind: 'Stopped' },
  Broken: { kind: 'Broken', reason: 'first failure' },
};

const SAMPLE_MESSAGES: Record<string, TimelineStateMessage> = {
  Activate: { kind: 'Activate' },
  Stop: { kind: 'Stop', reason: 'delete' },
  StopDone: { kind: 'StopDone' },
  MarkBroken: { kind: 'MarkBroken', reason: 'layer checksum mismatch' },
};

function expectedTarget(from: string, message: string): string | undefined {
  const edge = EXPECTED_EDGES.find((line) => line.startsWith(`${from} --${message}--> `));
  return edge?.split(' ').at(-1);
}

test('the module has exactly the state and message kinds this test knows', () => {
  assert.equal([...TIMELINE_STATE_KINDS].sort(), Object.keys(SAMPLE_STATES).sort());
  assert.equal([...TIMELINE_MESSAGE_KINDS].sort(), Object.keys(SAMPLE_MESSAGES).sort());
});

test('every (state, message) pair: the expected edges succeed with their target, all others throw', () => {
  let legal = 0;
  let illegal = 0;
  for (const [fromKind, state] of Object.entries(SAMPLE_STATES)) {
    for (const [messageKind, message] of Object.entries(SAMPLE_MESSAGES)) {
      const target = expectedTarget(fromKind, messageKind);
      if (target !== undefined) {
        assert.is(transitionTimeline(state, message).kind, target, `${fromKind} --${messageKind}-->`);
        legal += 1;
        continue;
      }
      try {
        transitionTimeline(state, message);
        assert.unreachable(`${fromKind} --${messageKind}--> should be illegal`);
      } catch (error) {
        assert.ok(isStrataError(error, 'PS_ERR_ILLEGAL_TRANSITION'), `${fromKind} --${messageKind}--> code`);
        assert.is(error.message, `timeline: illegal transition ${fromKind} --${messageKind}-->`);
        assert.equal({ from: error.context.from, message: error.context.message }, { from: fromKind, message: messageKind });
        illegal += 1;
      }
    }
  }
  assert.is(legal, EXPECTED_EDGES.length);
  assert.is(legal + illegal, 5 * 4);
});

test('a timeline starts Loading and Activate makes it Active', () => {
  const state = initialTimelineState();
  assert.is(state.kind, 'Loading');
  assert.equal(transitionTimeline(state, { kind: 'Activate' }), { kind: 'Active' });
});

test('Stopping cannot go back to Active', () => {
  assert.throws(
    () => transitionTimeline({ kind: 'Stopping', reason: 'shutdown' }, { kind: 'Activate' }),
    (error: unknown) => isStrataError(error, 'PS_ERR_ILLEGAL_TRANSITION'),
  );
});

test('MarkBroken carries its reason; Stop of a Broken timeline keeps it', () => {
  const broken = transitionTimeline({ kind: 'Loading' }, { kind: 'MarkBroken', reason: 'bad metadata' });
  assert.equal(broken, { kind: 'Broken', reason: 'bad metadata' });
  const stopping = transitionTimeline(broken, { kind: 'Stop', reason: 'shutdown' });
  assert.equal(stopping, { kind: 'Stopping', reason: 'shutdown', brokenReason: 'bad metadata' });
});

test('applyTimelineTransition logs the change at INFO with from, to and the broken reason', () => {
  const capture = new LogCapture();
  applyTimelineTransition({ kind: 'Active' }, { kind: 'MarkBroken', reason: 'flush failed' }, capture.logger);
  assert.is(capture.lines.length, 1);
  const line = capture.lines[0]!;
  assert.is(line.level, 30);
  assert.equal([line.from, line.to, line.reason], ['Active', 'Broken', 'flush failed']);
  assert.is(line.msg, 'timeline state Active --MarkBroken--> Broken');
  capture.assertClean();
});

test('the header diagram lists exactly the edges of the table', () => {
  const source = readFileSync(new URL('../../../../src/timeline/timeline-state.ts', import.meta.url), 'utf8');
  const drawn = [...source.matchAll(/^ \*\s+(\w+) --> (\w+): (\w+)$/gm)].map(
    (match) => `${match[1]} --${match[3]}--> ${match[2]}`,
  );
  const table = listEdges(TIMELINE_STATE_MACHINE).map((edge) => `${edge.from} --${edge.message}--> ${edge.to}`);
  assert.equal(drawn.sort(), table.sort());
  assert.equal(table.sort(), [...EXPECTED_EDGES].sort());
});

test('the API view has the slug and the broken reason', () => {
  assert.equal(timelineStateForApi({ kind: 'Loading' }), { state: 'Loading' });
  assert.equal(timelineStateForApi({ kind: 'Broken', reason: 'x' }), { state: 'Broken', broken_reason: 'x' });
});

test.run();
