/**
 * Config: the key table validates TOML values and -c flags the same way, names the bad key,
 * applies defaults < file < FAILPOINTS < flags, and `initConfig` round-trips through strata.toml.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  initConfig, loadConfig, parseConfigOverrides, parseDurationMs, parseHostPort, parseSizeBytes, resolveConfig, resolveTenantConfig, tenantConfigOf,
} from '../../../src/config.js';
import { StrataError } from '../../../src/errors.js';

async function withDirectory(body: (directory: string) => Promise<void>): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), 'strata-config-'));
  try {
    await body(directory);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

function expectConfigError(action: () => unknown, key: string): void {
  try {
    action();
  } catch (error) {
    assert.instance(error, StrataError);
    assert.is((error as StrataError).code, 'PS_ERR_BAD_CONFIG');
    assert.is((error as StrataError).context.key, key);
    assert.match((error as StrataError).message, `'${key}'`);
    return;
  }
  assert.unreachable(`expected PS_ERR_BAD_CONFIG for ${key}`);
}

test('defaults are applied when nothing is given', () => {
  const config = resolveConfig({ workdir: '/tmp/strata-defaults' });
  assert.is(config.listenHttpAddr, '127.0.0.1:9898');
  assert.is(config.listenPgAddr, '127.0.0.1:64000');
  assert.is(config.checkpointDistanceBytes, 256 * 1024 * 1024);
  assert.is(config.logLevel, 'info');
  assert.is(config.logFile, undefined);
  assert.is(config.pgDistribDir, '/usr/lib/postgresql/15');
  assert.ok(config.actorThreads >= 1);
  assert.match(config.id, /^[0-9a-f]{32}$/);
});

test('max_inmemory_bytes: twice the resolved checkpoint_distance unless set, never below it', () => {
  const MIB = 1024 * 1024;
  assert.is(resolveConfig({ workdir: '/tmp/m' }).inMemoryBytesMax, 512 * MIB, 'default: 2 × the default distance');
  assert.is(resolveConfig({ workdir: '/tmp/m', file: { checkpoint_distance: '64MiB' } }).inMemoryBytesMax, 128 * MIB, 'follows a distance from the file');
  assert.is(resolveConfig({ workdir: '/tmp/m', overrides: ['checkpoint_distance=16MiB'] }).inMemoryBytesMax, 32 * MIB, 'follows a distance from -c');
  assert.is(resolveConfig({ workdir: '/tmp/m', file: { max_inmemory_bytes: '1GiB' } }).inMemoryBytesMax, 1024 * MIB, 'explicit');
  assert.is(resolveConfig({ workdir: '/tmp/m', overrides: ['checkpoint_distance=16MiB', 'max_inmemory_bytes=16MiB'] }).inMemoryBytesMax, 16 * MIB, 'equal to the distance is allowed');
  expectConfigError(() => resolveConfig({ workdir: '/tmp/m', overrides: ['checkpoint_distance=64MiB', 'max_inmemory_bytes=32MiB'] }), 'max_inmemory_bytes');
  expectConfigError(() => resolveConfig({ workdir: '/tmp/m', file: { max_inmemory_bytes: 'lots' } }), 'max_inmemory_bytes');
  expectConfigError(() => parseConfigOverrides(['max_inmemory_bytes=1k']), 'max_inmemory_bytes');
});

test('two configs get different random ids (no shared global state)', () => {
  const first = resolveConfig({ workdir: '/tmp/a' });
  const second = resolveConfig({ workdir: '/tmp/b' });
  assert.is.not(first.id, second.id);
  assert.ok(Object.isFrozen(first));
});

test('unknown key in the file is rejected with the key named', () => {
  expectConfigError(() => resolveConfig({ workdir: '/tmp/x', file: { foo: 1 } }), 'foo');
});

test('unknown key in -c is rejected with the key named', () => {
  expectConfigError(() => parseConfigOverrides(['listen_http=1.2.3.4:5']), 'listen_http');
});

test('bad size, bad duration, bad level, bad address and bad failpoints name their key', () => {
  expectConfigError(() => parseConfigOverrides(['checkpoint_distance=lots']), 'checkpoint_distance');
  expectConfigError(() => parseConfigOverrides(['checkpoint_distance=1']), 'checkpoint_distance');
  expectConfigError(() => parseConfigOverrides(['wait_lsn_timeout=10 fortnights']), 'wait_lsn_timeout');
  expectConfigError(() => parseConfigOverrides(['log_level=loud']), 'log_level');
  expectConfigError(() => parseConfigOverrides(['listen_pg_addr=nohost']), 'listen_pg_addr');
  expectConfigError(() => parseConfigOverrides(['actor_threads=0']), 'actor_threads');
  expectConfigError(() => parseConfigOverrides(['failpoints=timeline-flush=explode']), 'failpoints');
  expectConfigError(() => resolveConfig({ workdir: '/tmp/x', file: { actor_threads: 'four' } }), 'actor_threads');
});

test('storage settings: Neon\'s defaults, server-wide -c values, per-tenant overrides refused by key when bad', () => {
  const defaults = tenantConfigOf(resolveConfig({ workdir: '/tmp/strata-x' }));
  assert.equal(defaults, {
    checkpointDistanceBytes: 256 * 1024 * 1024, checkpointTimeoutMs: 60_000, compactionThreshold: 10, compactionTargetBytes: 128 * 1024 * 1024,
    compactionPeriodMs: 20_000, imageCreationThreshold: 3, gcHorizonBytes: 64 * 1024 * 1024, gcPeriodMs: 3_600_000, pitrIntervalMs: 7 * 86_400_000,
    inMemoryBytesMax: 512 * 1024 * 1024,
  });
  const server = tenantConfigOf(resolveConfig({ workdir: '/tmp/strata-x', overrides: ['compaction_threshold=4', 'gc_horizon=16MiB', 'pitr_interval=1d'] }));
  assert.is(server.compactionThreshold, 4);
  assert.is(server.gcHorizonBytes, 16 * 1024 * 1024);
  assert.is(server.pitrIntervalMs, 86_400_000);
  const tenant = resolveTenantConfig(server, { checkpoint_distance: '1MiB', compaction_period: '0s', image_creation_threshold: 2 });
  assert.is(tenant.checkpointDistanceBytes, 1024 * 1024);
  assert.is(tenant.compactionPeriodMs, 0);
  assert.is(tenant.imageCreationThreshold, 2);
  assert.is(tenant.compactionThreshold, 4, 'what the tenant does not set comes from the server');
  for (const [overrides, key] of [[{ compaction_threshold: 0 }, 'compaction_threshold'], [{ gc_horizon: 'lots' }, 'gc_horizon'], [{ listen_pg_addr: 'x:1' }, 'listen_pg_addr'], [{ bogus: 1 }, 'bogus']] as const) {
    try {
      resolveTenantConfig(server, overrides);
      assert.unreachable(`expected a refusal for ${key}`);
    } catch (error) {
      assert.instance(error, StrataError);
      assert.is((error as StrataError).code, 'PS_ERR_BAD_REQUEST');
      assert.match((error as StrataError).message, key);
    }
  }
});

test('an unknown failpoint name is refused from the file, FAILPOINTS and -c, naming the failpoint', () => {
  const attempts: Array<() => unknown> = [
    () => resolveConfig({ workdir: '/tmp/x', file: { failpoints: 'timeline-flush=off;flush-before-rename=panic' } }),
    () => resolveConfig({ workdir: '/tmp/x', environment: { FAILPOINTS: 'flush-before-rename=panic' } }),
    () => parseConfigOverrides(['failpoints=flush-before-rename=panic']),
  ];
  for (const attempt of attempts) {
    expectConfigError(attempt, 'failpoints');
    assert.throws(attempt, /unknown failpoint 'flush-before-rename'/);
  }
  assert.is(parseConfigOverrides(['failpoints=delta-layer-before-rename=1*exit']).failpoints, 'delta-layer-before-rename=1*exit');
});

test('sizes and durations accept unit suffixes', () => {
  assert.is(parseSizeBytes('256MiB'), 256 * 1024 * 1024);
  assert.is(parseSizeBytes('64 MB'), 64_000_000);
  assert.is(parseSizeBytes('1g'), 1024 ** 3);
  assert.is(parseSizeBytes(4096), 4096);
  assert.is(parseDurationMs('10s'), 10_000);
  assert.is(parseDurationMs('500ms'), 500);
  assert.is(parseDurationMs('2min'), 120_000);
  assert.is(parseDurationMs(250), 250);
});

test('host:port parsing handles IPv4, names and bracketed IPv6', () => {
  assert.equal(parseHostPort('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
  assert.equal(parseHostPort('localhost:9898'), { host: 'localhost', port: 9898 });
  assert.equal(parseHostPort('[::1]:80'), { host: '::1', port: 80 });
  assert.throws(() => parseHostPort('127.0.0.1:70000'));
});

test('precedence: defaults < file < FAILPOINTS env < -c flags', () => {
  const config = resolveConfig({
    workdir: '/tmp/p',
    file: { log_level: 'warn', actor_threads: 2, failpoints: 'timeline-flush=off' },
    environment: { FAILPOINTS: 'timeline-flush=return(1)' },
    overrides: ['actor_threads=3'],
  });
  assert.is(config.logLevel, 'warn');
  assert.is(config.actorThreads, 3);
  assert.is(config.failpoints, 'timeline-flush=return(1)');
  const flagged = resolveConfig({ workdir: '/tmp/p', environment: { FAILPOINTS: 'timeline-flush=return(1)' }, overrides: ['failpoints=walreceiver-before-ingest=pause'] });
  assert.is(flagged.failpoints, 'walreceiver-before-ingest=pause');
});

test('relative log_file and remote_storage resolve against the workdir', () => {
  const config = resolveConfig({ workdir: '/srv/strata', file: { log_file: 'strata.log', remote_storage: '../remote' } });
  assert.is(config.logFile, '/srv/strata/strata.log');
  assert.is(config.remoteStorage, '/srv/remote');
});

test('init writes strata.toml that load reads back identically', async () => {
  await withDirectory(async (directory) => {
    const written = await initConfig(directory, ['checkpoint_distance=64MiB', 'wait_lsn_timeout=500ms', 'listen_http_addr=127.0.0.1:0']);
    const loaded = await loadConfig(directory);
    assert.equal(loaded, written);
    assert.is(loaded.checkpointDistanceBytes, 64 * 1024 * 1024);
    assert.is(loaded.waitLsnTimeoutMs, 500);
    const text = await readFile(join(directory, 'strata.toml'), 'utf8');
    assert.match(text, 'checkpoint_distance = "64MiB"');
  });
});

test('init refuses to overwrite an existing strata.toml', async () => {
  await withDirectory(async (directory) => {
    await initConfig(directory, []);
    const before = await readFile(join(directory, 'strata.toml'), 'utf8');
    try {
      await initConfig(directory, ['log_level=debug']);
      assert.unreachable('second init must fail');
    } catch (error) {
      assert.is((error as StrataError).code, 'PS_ERR_ALREADY_EXISTS');
    }
    assert.is(await readFile(join(directory, 'strata.toml'), 'utf8'), before);
  });
});

test('load rejects a file with an unknown key and a file that is not TOML', async () => {
  await withDirectory(async (directory) => {
    await writeFile(join(directory, 'strata.toml'), 'bogus_key = 1\n');
    try {
      await loadConfig(directory);
      assert.unreachable('unknown key must fail');
    } catch (error) {
      assert.is((error as StrataError).context.key, 'bogus_key');
    }
    await writeFile(join(directory, 'strata.toml'), 'this is [not toml\n');
    try {
      await loadConfig(directory);
      assert.unreachable('bad TOML must fail');
    } catch (error) {
      assert.is((error as StrataError).code, 'PS_ERR_BAD_CONFIG');
    }
  });
});

test('load of a missing strata.toml says to run init', async () => {
  await withDirectory(async (directory) => {
    try {
      await loadConfig(directory);
      assert.unreachable('missing file must fail');
    } catch (error) {
      assert.is((error as StrataError).code, 'PS_ERR_BAD_CONFIG');
      assert.match((error as StrataError).message, 'strata init');
    }
  });
});

test.run();
