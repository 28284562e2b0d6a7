/**
 * libpq connection strings in key=value and URI form, and the clear errors for what Strata refuses.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConnectionString } from '../../../src/pgwire/connection-string.js';
import { isStrataError } from '../../../src/errors.js';

test('key=value form with quoting and escapes', () => {
  const parameters = parseConnectionString(
    "host=10.0.0.5 port = 6543 user=strata password='p a\\'ss' dbname=app application_name=strata_wal connect_timeout=5",
  );
  assert.equal(parameters, {
    host: '10.0.0.5', port: 6543, user: 'strata', password: "p a'ss", dbname: 'app', applicationName: 'strata_wal',
    sslmode: 'prefer', connectTimeoutMs: 5000, replication: undefined, options: undefined,
  });
});

test('URI form with percent-encoded password and query parameters', () => {
  const parameters = parseConnectionString('postgresql://replicator:s%40cret%2F1@db.example:5433/prod?sslmode=disable&application_name=x');
  assert.is(parameters.host, 'db.example');
  assert.is(parameters.port, 5433);
  assert.is(parameters.user, 'replicator');
  assert.is(parameters.password, 's@cret/1');
  assert.is(parameters.dbname, 'prod');
  assert.is(parameters.sslmode, 'disable');
  assert.is(parameters.applicationName, 'x');
});

test('postgres:// scheme, IPv6 host, defaults', () => {
  const parameters = parseConnectionString('postgres://u@[::1]/');
  assert.is(parameters.host, '::1');
  assert.is(parameters.port, 5432);
  assert.is(parameters.dbname, 'u');
  assert.is(parameters.password, undefined);
});

test('a Unix socket directory as host', () => {
  assert.is(parseConnectionString('host=/var/run/postgresql user=postgres').host, '/var/run/postgresql');
});

function expectBadConfig(text: string, pattern: RegExp): StrataErrorLike {
  try {
    parseConnectionString(text);
  } catch (error) {
    assert.ok(isStrataError(error, 'PS_ERR_BAD_CONFIG'), String(error));
    assert.match((error as Error).message, pattern);
    return error as StrataErrorLike;
  }
  return assert.unreachable(`expected PS_ERR_BAD_CONFIG for ${text}`) as never;
}
type StrataErrorLike = Error & { context: Record<string, unknown> };

test('sslmode=require is refused clearly', () => {
  expectBadConfig('host=a sslmode=require', /sslmode=require is not supported/);
  expectBadConfig('postgresql://a/?sslmode=verify-full', /sslmode=verify-full is not supported/);
});

test('unknown keys are refused and named', () => {
  expectBadConfig('host=a frobnicate=1', /unknown option 'frobnicate'/);
});

test('libpq tuning keys are accepted and ignored', () => {
  assert.is(parseConnectionString('host=a keepalives=1 target_session_attrs=any').host, 'a');
});

test('bad port, unterminated quote and multiple hosts are refused', () => {
  expectBadConfig('host=a port=99999', /invalid port/);
  expectBadConfig("host=a password='abc", /unterminated/);
  expectBadConfig('postgresql://a,b/db', /multiple hosts/);
});

test('errors never contain the password', () => {
  const error = expectBadConfig('password=hunter2 bad', /missing '='/);
  assert.not.match(error.message, /hunter2/);
  assert.not.match(JSON.stringify(error.context), /hunter2/);
  const uriError = expectBadConfig('postgresql://u:hunter2@h/db?sslmode=require', /sslmode/);
  assert.not.match(uriError.message, /hunter2/);
});

test.run();
