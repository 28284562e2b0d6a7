/**
 * Failpoints: every action, the N* and P% prefixes (with an injected random source), pause released
 * by reconfiguration, and bad specs rejected with the failpoint named.
 */
import { AssertionError } from 'node:assert';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { StrataError } from '../../../src/errors.js';
import {
  FailpointRegistry, clearFailpoints, configureFailpoints, failpoint, failpointError, failpointSync, listFailpoints, parseFailpoints,
} from '../../../src/failpoints.js';

test('an unconfigured failpoint does nothing', async () => {
  const registry = new FailpointRegistry();
  assert.is(await registry.evaluate('nothing'), undefined);
  assert.is(registry.evaluateSync('nothing'), undefined);
});

test('return and return(v) hand the value to the call site', async () => {
  const registry = new FailpointRegistry();
  registry.configure('a=return;b=return(42)');
  assert.equal(await registry.evaluate('a'), { kind: 'return', value: '' });
  assert.equal(registry.evaluateSync('b'), { kind: 'return', value: '42' });
});

test('off removes a failpoint', async () => {
  const registry = new FailpointRegistry();
  registry.configure('a=return(1)');
  registry.configure('a=off');
  assert.is(await registry.evaluate('a'), undefined);
  assert.equal(registry.list(), {});
});

test('sleep(ms) delays the caller', async () => {
  const registry = new FailpointRegistry();
  registry.set('slow', 'sleep(60)');
  const started = performance.now();
  assert.is(await registry.evaluate('slow'), undefined);
  assert.ok(performance.now() - started >= 55);
});

test('sleep is aborted by the signal', async () => {
  const registry = new FailpointRegistry();
  registry.set('slow', 'sleep(10000)');
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 20);
  const started = performance.now();
  await registry.evaluate('slow', { signal: controller.signal });
  assert.ok(performance.now() - started < 5000);
});

test('panic throws an AssertionError naming the failpoint, sync and async', async () => {
  const registry = new FailpointRegistry();
  registry.configure('crash=panic(disk on fire)');
  try {
    await registry.evaluate('crash');
    assert.unreachable('panic must throw');
  } catch (error) {
    assert.instance(error, AssertionError);
    assert.match((error as Error).message, "failpoint 'crash' panicked: disk on fire");
  }
  assert.throws(() => registry.evaluateSync('crash'), (error: Error) => error instanceof AssertionError);
});

test('pause blocks until the failpoint is reconfigured', async () => {
  const registry = new FailpointRegistry();
  registry.set('gate', 'pause');
  let released = false;
  const waiting = registry.evaluate('gate').then((result) => { released = true; return result; });
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.is(released, false);
  registry.configure('gate=off');
  assert.is(await waiting, undefined);
  assert.is(released, true);
});

test('pause is released by switching to another action too', async () => {
  const registry = new FailpointRegistry();
  registry.set('gate', 'pause');
  const waiting = registry.evaluate('gate');
  registry.set('gate', 'return(7)');
  assert.is(await waiting, undefined);
  assert.equal(await registry.evaluate('gate'), { kind: 'return', value: '7' });
});

test('pause at a sync call site is refused', () => {
  const registry = new FailpointRegistry();
  registry.set('gate', 'pause');
  assert.throws(() => registry.evaluateSync('gate'), /cannot pause/);
});

test('N* fires N times and then turns off', async () => {
  const registry = new FailpointRegistry();
  registry.configure('twice=2*return(x)');
  assert.equal(registry.list(), { twice: '2*return(x)' });
  assert.ok(await registry.evaluate('twice'));
  assert.equal(registry.list(), { twice: '1*return(x)' });
  assert.ok(registry.evaluateSync('twice'));
  assert.is(await registry.evaluate('twice'), undefined);
  assert.equal(registry.list(), {});
});

test('P% fires according to the injected random source', async () => {
  const draws = [0.10, 0.90, 0.24, 0.26];
  const registry = new FailpointRegistry({ random: () => draws.shift() ?? 1 });
  registry.configure('maybe=25%return');
  const results = [];
  for (let index = 0; index < 4; index += 1) results.push((await registry.evaluate('maybe')) !== undefined);
  assert.equal(results, [true, false, true, false]);
});

test('P% and N* combine: only firing draws consume the count', async () => {
  const draws = [0.9, 0.1, 0.9, 0.1, 0.1];
  const registry = new FailpointRegistry({ random: () => draws.shift() ?? 0 });
  registry.configure('combo=50%2*return');
  const results = [];
  for (let index = 0; index < 5; index += 1) results.push(registry.evaluateSync('combo') !== undefined);
  assert.equal(results, [false, true, false, true, false]);
});

test('bad specs are rejected with the failpoint named, and nothing is applied', () => {
  const registry = new FailpointRegistry();
  for (const [spec, name] of [['good=return;broken=explode', 'broken'], ['x=sleep(abc)', 'x'], ['y=150%return', 'y'], ['z', 'z'], ['p=pause(1)', 'p']]) {
    try {
      registry.configure(spec!);
      assert.unreachable(`spec '${spec}' must be rejected`);
    } catch (error) {
      assert.instance(error, StrataError);
      assert.is((error as StrataError).code, 'PS_ERR_BAD_REQUEST');
      assert.match((error as StrataError).message, `'${name}'`);
    }
  }
  assert.equal(registry.list(), {});
});

test('parseFailpoints canonicalises actions', () => {
  const parsed = parseFailpoints(' a = 10%3*sleep(5) ; b=return(v) ;');
  assert.equal(parsed.map((entry) => [entry.name, entry.action.text]), [['a', '10%3*sleep(5)'], ['b', 'return(v)']]);
});

test('the thread registry behind configureFailpoints/failpoint works and failpointError is coded', async () => {
  clearFailpoints();
  configureFailpoints('module-level=return(9)');
  assert.equal(listFailpoints(), { 'module-level': 'return(9)' });
  const fired = await failpoint('module-level');
  assert.ok(fired);
  assert.is(failpointError('module-level', fired).code, 'PS_ERR_FAILPOINT');
  assert.equal(failpointSync('module-level'), { kind: 'return', value: '9' });
  clearFailpoints();
  assert.is(await failpoint('module-level'), undefined);
});

test.run();
