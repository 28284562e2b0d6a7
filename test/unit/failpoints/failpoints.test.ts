/**
 * Failpoints: every action, the N* and P% prefixes (with an injected random source), pause released
 * by reconfiguration, bad specs rejected with the failpoint named, and the name table: unknown names
 * refused when configured and asserted when evaluated, every known name listed, `exit` killing the
 * whole process from a worker thread.
 *
 * Registries of the action tests accept the names of TEST_NAMES (the `names` option); the
 * module-level registry accepts FAILPOINT_NAMES only.
 */
import { AssertionError } from 'node:assert';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { StrataError } from '../../../src/errors.js';
import {
  FAILPOINT_NAMES, FailpointRegistry, clearFailpoints, configureFailpoints, describeFailpoints, failpoint, failpointError,
  failpointOrThrow, failpointSync, followFailpoints, listFailpoints, parseFailpoints, type FailpointName,
} from '../../../src/failpoints.js';

const TEST_NAMES = Object.fromEntries(
  ['nothing', 'a', 'b', 'slow', 'crash', 'gate', 'twice', 'maybe', 'combo', 'good', 'broken', 'x', 'y', 'z', 'p', 'gone']
    .map((name) => [name, `test failpoint ${name}`]),
);

/** A registry for the action tests: the test table of names, and any other options. */
function testRegistry(options: ConstructorParameters<typeof FailpointRegistry>[0] = {}): FailpointRegistry {
  return new FailpointRegistry({ names: TEST_NAMES, ...options });
}

test('an unconfigured failpoint does nothing', async () => {
  const registry = testRegistry();
  assert.is(await registry.evaluate('nothing'), undefined);
  assert.is(registry.evaluateSync('nothing'), undefined);
});

test('return and return(v) hand the value to the call site', async () => {
  const registry = testRegistry();
  registry.configure('a=return;b=return(42)');
  assert.equal(await registry.evaluate('a'), { kind: 'return', value: '' });
  assert.equal(registry.evaluateSync('b'), { kind: 'return', value: '42' });
});

test('off removes a failpoint', async () => {
  const registry = testRegistry();
  registry.configure('a=return(1)');
  registry.configure('a=off');
  assert.is(await registry.evaluate('a'), undefined);
  assert.equal(registry.list(), {});
});

test('sleep(ms) delays the caller', async () => {
  const registry = testRegistry();
  registry.set('slow', 'sleep(60)');
  const started = performance.now();
  assert.is(await registry.evaluate('slow'), undefined);
  assert.ok(performance.now() - started >= 55);
});

test('sleep is aborted by the signal', async () => {
  const registry = testRegistry();
  registry.set('slow', 'sleep(10000)');
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 20);
  const started = performance.now();
  await registry.evaluate('slow', { signal: controller.signal });
  assert.ok(performance.now() - started < 5000);
});

test('panic throws an AssertionError naming the failpoint, sync and async', async () => {
  const registry = testRegistry();
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
  const registry = testRegistry();
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
  const registry = testRegistry();
  registry.set('gate', 'pause');
  const waiting = registry.evaluate('gate');
  registry.set('gate', 'return(7)');
  assert.is(await waiting, undefined);
  assert.equal(await registry.evaluate('gate'), { kind: 'return', value: '7' });
});

test('pause at a sync call site is refused', () => {
  const registry = testRegistry();
  registry.set('gate', 'pause');
  assert.throws(() => registry.evaluateSync('gate'), /cannot pause/);
});

test('N* fires N times and then turns off', async () => {
  const registry = testRegistry();
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
  const registry = testRegistry({ random: () => draws.shift() ?? 1 });
  registry.configure('maybe=25%return');
  const results = [];
  for (let index = 0; index < 4; index += 1) results.push((await registry.evaluate('maybe')) !== undefined);
  assert.equal(results, [true, false, true, false]);
});

test('P% and N* combine: only firing draws consume the count', async () => {
  const draws = [0.9, 0.1, 0.9, 0.1, 0.1];
  const registry = testRegistry({ random: () => draws.shift() ?? 0 });
  registry.configure('combo=50%2*return');
  const results = [];
  for (let index = 0; index < 5; index += 1) results.push(registry.evaluateSync('combo') !== undefined);
  assert.equal(results, [false, true, false, true, false]);
});

test('bad specs are rejected with the failpoint named, and nothing is applied', () => {
  const registry = testRegistry();
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
  const parsed = parseFailpoints(' a = 10%3*sleep(5) ; b=return(v) ;', TEST_NAMES);
  assert.equal(parsed.map((entry) => [entry.name, entry.action.text]), [['a', '10%3*sleep(5)'], ['b', 'return(v)']]);
});

test('the thread registry behind configureFailpoints/failpoint works and failpointError is coded', async () => {
  clearFailpoints();
  configureFailpoints('timeline-flush=return(9)');
  assert.equal(listFailpoints(), { 'timeline-flush': 'return(9)' });
  const fired = await failpoint('timeline-flush');
  assert.ok(fired);
  assert.is(failpointError('timeline-flush', fired).code, 'PS_ERR_FAILPOINT');
  assert.equal(failpointSync('timeline-flush'), { kind: 'return', value: '9' });
  try {
    await failpointOrThrow('timeline-flush');
    assert.unreachable('return must throw through failpointOrThrow');
  } catch (error) {
    assert.is((error as StrataError).code, 'PS_ERR_FAILPOINT');
    assert.match((error as Error).message, "failpoint 'timeline-flush' returned '9'");
  }
  clearFailpoints();
  assert.is(await failpoint('timeline-flush'), undefined);
  await failpointOrThrow('timeline-flush');
});

test('unknown names are refused by configure and set, naming the failpoint, and nothing is applied', () => {
  clearFailpoints();
  for (const spec of ['flush-before-rename=panic', 'timeline-flush=return;flush=return(1)', 'ingest=10%sleep(50)']) {
    try {
      configureFailpoints(spec);
      assert.unreachable(`spec '${spec}' must be refused`);
    } catch (error) {
      assert.instance(error, StrataError);
      assert.is((error as StrataError).code, 'PS_ERR_BAD_REQUEST');
      assert.match((error as StrataError).message, /unknown failpoint '(flush-before-rename|flush|ingest)'/);
      assert.match((error as StrataError).message, 'timeline-flush', 'the message lists the known names');
    }
  }
  assert.throws(() => new FailpointRegistry().set('timline-flush', 'return'), /unknown failpoint 'timline-flush'/);
  assert.throws(() => parseFailpoints('gone=off'), /unknown failpoint 'gone'/);
  assert.equal(parseFailpoints('gone=off', null).map((entry) => entry.name), ['gone'], 'null checks the syntax only');
  assert.equal(listFailpoints(), {});
});

test('evaluating an unknown name is an assert, thrown at once even when nothing is configured', () => {
  clearFailpoints();
  assert.throws(() => failpoint('timline-flush' as FailpointName), (error: Error) => error instanceof AssertionError && /timline-flush/.test(error.message));
  assert.throws(() => failpointSync('flush-before-rename' as FailpointName), (error: Error) => error instanceof AssertionError);
  configureFailpoints('timeline-flush=return');
  assert.throws(() => failpoint('timeline_flush' as FailpointName), (error: Error) => error instanceof AssertionError);
  assert.throws(() => testRegistry().evaluate('timeline-flush'), (error: Error) => error instanceof AssertionError, 'a test table has its own names');
  clearFailpoints();
});

test('describeFailpoints lists every known failpoint in table order with its action or off', () => {
  clearFailpoints();
  configureFailpoints('delta-layer-before-rename=2*exit;metadata-before-rename=pause');
  const described = describeFailpoints();
  assert.equal(described.map((entry) => entry.name), Object.keys(FAILPOINT_NAMES));
  const active = described.filter((entry) => entry.actions !== 'off');
  assert.equal(active.map((entry) => [entry.name, entry.actions]), [['delta-layer-before-rename', '2*exit'], ['metadata-before-rename', 'pause']]);
  for (const entry of described) assert.is(entry.description, FAILPOINT_NAMES[entry.name as FailpointName]);
  console.log(`known failpoints: ${described.length}, active: ${active.length}`);
  clearFailpoints();
});

test('the name table: well-formed names, one-line descriptions, the reserved names, every other name evaluated in src/', () => {
  const reserved: string[] = [];
  for (const [name, description] of Object.entries(FAILPOINT_NAMES)) {
    assert.match(name, /^[a-z]+(-[a-z]+)*$/, `${name} is kebab-case`);
    assert.ok(description.length > 10 && !description.includes('\n'), `${name}: one-line description`);
    assert.is(description.startsWith('reserved:'), reserved.includes(name), `${name}: reserved exactly when listed as such`);
  }
  for (const name of reserved) assert.ok(Object.hasOwn(FAILPOINT_NAMES, name), `${name} is registered`);
  // A failpoint that no code evaluates tests nothing: each non-reserved name appears in src/ or
  // workers/ outside the table itself (as a string literal at its call site).
  const root = fileURLToPath(new URL('../../../../', import.meta.url));
  const sources = [...sourceFiles(join(root, 'src')), ...sourceFiles(join(root, 'workers'))].filter((file) => !file.endsWith('failpoint-names.ts'));
  const text = sources.map((file) => readFileSync(file, 'utf8')).join('\n');
  const used = Object.keys(FAILPOINT_NAMES).filter((name) => !reserved.includes(name));
  for (const name of used) assert.ok(text.includes(`'${name}'`), `${name} is evaluated somewhere in src/ or workers/`);
  console.log(`failpoint names: ${used.length} evaluated in ${sources.length} source files, ${reserved.length} reserved`);
});

function sourceFiles(directory: string): string[] {
  const files: string[] = [];
  for (const name of readdirSync(directory)) {
    const path = join(directory, name);
    if (statSync(path).isDirectory()) files.push(...sourceFiles(path));
    else if (name.endsWith('.ts')) files.push(path);
  }
  return files;
}

test('followers receive every spec applied (configure, set, clear) until they stop following', () => {
  const registry = testRegistry();
  const seen: string[] = [];
  const stop = registry.follow((spec) => seen.push(spec));
  registry.configure('a=return;b=1*exit');
  registry.set('x', ' 10%sleep(5) ');
  registry.configure('');
  registry.clear();
  stop();
  registry.configure('a=return');
  assert.equal(seen, ['a=return;b=1*exit', 'x=10%sleep(5)', 'a=off;b=off;x=off']);
  const unfollow = followFailpoints((spec) => seen.push(`thread: ${spec}`));
  configureFailpoints('timeline-flush=off');
  unfollow();
  clearFailpoints();
  assert.is(seen.at(-1), 'thread: timeline-flush=off');
});

test('exit calls the exit hook with the failpoint name, sync and async, and takes no argument', async () => {
  const exits: string[] = [];
  const registry = testRegistry({ exit: (name) => { exits.push(name); throw new Error(`exit ${name}`); } });
  registry.configure('crash=2*exit');
  await registry.evaluate('crash').then(() => assert.unreachable('exit returns nothing'), (error: Error) => assert.is(error.message, 'exit crash'));
  assert.throws(() => registry.evaluateSync('crash'), /exit crash/);
  assert.is(registry.evaluateSync('crash'), undefined, 'N* counts exits too');
  assert.equal(exits, ['crash', 'crash']);
  assert.throws(() => registry.configure('crash=exit(1)'), /exit takes no argument/);
});

test('exit kills the whole process with SIGKILL from a worker thread, after one stderr line', async () => {
  const failpoints = new URL('../../../src/failpoints.js', import.meta.url).href;
  // The worker evaluates the failpoint; the main thread would print 'survived' a moment later.
  const script = `
    import { Worker } from 'node:worker_threads';
    const worker = new Worker(${JSON.stringify(`
      const { configureFailpoints, failpoint } = await import(${JSON.stringify(failpoints)});
      configureFailpoints('delta-layer-before-rename=exit');
      await failpoint('delta-layer-before-rename');
      process.stdout.write('worker survived\\n');
    `)}, { eval: true, type: 'module' });
    worker.on('error', (error) => process.stdout.write('worker error ' + error.message + '\\n'));
    setTimeout(() => process.stdout.write('main survived\\n'), 3000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal])));
  console.log(`child: code ${code} signal ${signal} stdout ${JSON.stringify(stdout)} stderr ${JSON.stringify(stderr)}`);
  assert.is(signal, 'SIGKILL');
  assert.is(code, null);
  assert.is(stdout, '', 'neither the worker nor the main thread ran on');
  assert.match(stderr, /^strata: failpoint 'delta-layer-before-rename' exit: killing process \d+ \(thread \d+\) with SIGKILL\n$/);
});

test.run();
