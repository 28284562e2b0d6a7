/**
 * `ask` is bounded: an actor that never answers makes the ask reject with PS_ERR_TIMEOUT once the
 * (simulated) clock passes the timeout, and a late answer is dropped.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SimulatedClock } from '../../../src/actor/clock.js';
import { ActorRegistry } from '../../../src/actor/registry.js';
import { isStrataError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/observability/log.js';

test('an unanswered ask rejects with PS_ERR_TIMEOUT after timeoutMs', async () => {
  const clock = new SimulatedClock();
  const registry = new ActorRegistry({ logger: silentLogger(), clock });
  let answer: (value: string) => void = () => undefined;
  await registry.spawn({ address: 'test/silent', behavior: { receive: () => new Promise<string>((resolve) => { answer = resolve; }) } });
  const asked = registry.ask('test/silent', 'hello?', { timeoutMs: 500 });
  let outcome: unknown = 'pending';
  asked.then((value) => { outcome = value; }, (error: unknown) => { outcome = error; });
  await new Promise((resolve) => setImmediate(resolve));
  clock.advance(499);
  await Promise.resolve();
  assert.is(outcome, 'pending');
  clock.advance(1);
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(isStrataError(outcome, 'PS_ERR_TIMEOUT'), String(outcome));
  answer('too late');
  assert.is(clock.pendingTimers, 0);
  await registry.stopAll();
});

test('an ask answered in time resolves with the value receive returned', async () => {
  const clock = new SimulatedClock();
  const registry = new ActorRegistry({ logger: silentLogger(), clock });
  await registry.spawn<number>({ address: 'test/double', behavior: { receive: (value) => value * 2 } });
  assert.is(await registry.ask<number>('test/double', 21, { timeoutMs: 10 }), 42);
  assert.is(clock.pendingTimers, 0);
  await registry.stopAll();
});

test.run();
