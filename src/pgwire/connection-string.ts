/**
 * libpq connection strings, in both forms libpq accepts:
 *
 *   key=value:  host=127.0.0.1 port=5432 user=postgres password='a b\'c' dbname=postgres
 *   URI:        postgresql://user:secret@127.0.0.1:5432/postgres?application_name=strata
 *
 * Why our own parser: Strata talks to the primary without libpq, and the walreceiver's config holds
 * exactly these strings. Only a single host is supported, and no TLS: sslmode disable, allow and
 * prefer connect in clear text (as libpq does when the server has no TLS); require and stricter
 * modes are refused with PS_ERR_BAD_CONFIG rather than silently downgraded. Unknown keys are
 * refused too (libpq does the same), except a few libpq tuning keys that have no meaning here.
 * Error messages never contain the password.
 */
import { userInfo } from 'node:os';
import { StrataError } from '../errors.js';
import { assert } from '../assert.js';

export type SslMode = 'disable' | 'allow' | 'prefer';

export interface ConnectionParameters {
  /** A host name or address, or an absolute Unix socket directory. */
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  dbname: string;
  applicationName: string | undefined;
  sslmode: SslMode;
  connectTimeoutMs: number | undefined;
  /** The `replication` startup parameter, if the string sets one. */
  replication: string | undefined;
  /** The `options` startup parameter (command-line options for the backend). */
  options: string | undefined;
}

const SUPPORTED_KEYS = new Set([
  'host', 'hostaddr', 'port', 'user', 'password', 'dbname', 'application_name', 'sslmode',
  'connect_timeout', 'replication', 'options',
]);

/** libpq keys that tune things Strata does not do; accepted and ignored. */
const IGNORED_KEYS = new Set([
  'fallback_application_name', 'keepalives', 'keepalives_idle', 'keepalives_interval',
  'keepalives_count', 'tcp_user_timeout', 'target_session_attrs', 'gssencmode', 'client_encoding',
]);

export function parseConnectionString(text: string): ConnectionParameters {
  const entries = /^postgres(ql)?:\/\//.test(text) ? parseUri(text) : parseKeyValue(text);
  return buildParameters(entries);
}

function bad(message: string, details: Record<string, unknown> = {}): StrataError {
  return new StrataError('PS_ERR_BAD_CONFIG', `connection string: ${message}`, details);
}

/** Splits `key = value` pairs; values may be single-quoted with backslash escapes. */
export function parseKeyValue(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  let position = 0;
  const skipSpace = () => {
    while (position < text.length && /\s/.test(text[position]!)) position++;
  };
  for (;;) {
    skipSpace();
    if (position >= text.length) return entries;
    const keyStart = position;
    while (position < text.length && text[position] !== '=' && !/\s/.test(text[position]!)) position++;
    const key = text.slice(keyStart, position);
    skipSpace();
    // The key is left out of the message: in a malformed string it may be a piece of a password.
    if (text[position] !== '=' || key === '') throw bad(`missing '=' after the key at offset ${keyStart}`);
    position++;
    skipSpace();
    const [value, next] = readValue(text, position, key);
    entries.set(key, value);
    position = next;
  }
}

function readValue(text: string, start: number, key: string): [string, number] {
  let value = '';
  let position = start;
  const quoted = text[position] === "'";
  if (quoted) position++;
  for (;;) {
    if (position >= text.length) {
      if (quoted) throw bad(`unterminated quoted value for '${key}'`, { key });
      return [value, position];
    }
    const character = text[position]!;
    if (quoted && character === "'") return [value, position + 1];
    if (!quoted && /\s/.test(character)) return [value, position];
    if (character === '\\' && position + 1 < text.length) {
      value += text[position + 1];
      position += 2;
      continue;
    }
    value += character;
    position++;
  }
}

function decode(component: string, what: string): string {
  try {
    return decodeURIComponent(component);
  } catch {
    throw bad(`invalid percent-encoding in the ${what}`);
  }
}

/** postgresql://[user[:password]@][host][:port][/dbname][?key=value&…] */
export function parseUri(text: string): Map<string, string> {
  const entries = new Map<string, string>();
  let rest = text.replace(/^postgres(ql)?:\/\//, '');
  const queryIndex = rest.indexOf('?');
  const query = queryIndex >= 0 ? rest.slice(queryIndex + 1) : '';
  if (queryIndex >= 0) rest = rest.slice(0, queryIndex);
  const slashIndex = rest.indexOf('/');
  const authority = slashIndex >= 0 ? rest.slice(0, slashIndex) : rest;
  if (slashIndex >= 0 && slashIndex < rest.length - 1) entries.set('dbname', decode(rest.slice(slashIndex + 1), 'database name'));
  const atIndex = authority.lastIndexOf('@');
  const hostPort = atIndex >= 0 ? authority.slice(atIndex + 1) : authority;
  if (atIndex >= 0) {
    const credentials = authority.slice(0, atIndex);
    const colon = credentials.indexOf(':');
    const user = colon >= 0 ? credentials.slice(0, colon) : credentials;
    if (user !== '') entries.set('user', decode(user, 'user name'));
    if (colon >= 0) entries.set('password', decode(credentials.slice(colon + 1), 'password'));
  }
  parseHostPort(hostPort, entries);
  for (const pair of query.split('&')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    if (equals < 0) throw bad(`URI parameter '${pair.replace(/password.*/i, 'password')}' has no value`);
    entries.set(decode(pair.slice(0, equals), 'parameter name'), decode(pair.slice(equals + 1), 'parameter value'));
  }
  return entries;
}

function parseHostPort(hostPort: string, entries: Map<string, string>): void {
  if (hostPort.includes(',')) throw bad('multiple hosts are not supported');
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    if (close < 0) throw bad('unterminated IPv6 address');
    entries.set('host', hostPort.slice(1, close));
    const after = hostPort.slice(close + 1);
    if (after.startsWith(':')) entries.set('port', after.slice(1));
    return;
  }
  const colon = hostPort.lastIndexOf(':');
  const host = colon >= 0 ? hostPort.slice(0, colon) : hostPort;
  if (host !== '') entries.set('host', decode(host, 'host'));
  if (colon >= 0) entries.set('port', hostPort.slice(colon + 1));
}

function parseSslMode(value: string | undefined): SslMode {
  if (value === undefined || value === 'disable' || value === 'allow' || value === 'prefer') return value ?? 'prefer';
  if (value === 'require' || value === 'verify-ca' || value === 'verify-full') {
    throw bad(`sslmode=${value} is not supported: Strata connects without TLS (use disable or prefer)`, { sslmode: value });
  }
  throw bad(`invalid sslmode '${value}'`, { sslmode: value });
}

function parsePort(value: string | undefined): number {
  if (value === undefined || value === '') return 5432;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) throw bad(`invalid port '${value}'`, { port: value });
  return port;
}

function parseConnectTimeout(value: string | undefined): number | undefined {
  if (value === undefined || value === '' || value === '0') return undefined;
  if (!/^\d+$/.test(value)) throw bad(`invalid connect_timeout '${value}'`, { connect_timeout: value });
  // libpq treats anything below 2 seconds as 2 seconds.
  return Math.max(2, Number(value)) * 1000;
}

function buildParameters(entries: Map<string, string>): ConnectionParameters {
  for (const key of entries.keys()) {
    if (!SUPPORTED_KEYS.has(key) && !IGNORED_KEYS.has(key)) throw bad(`unknown option '${key}'`, { key });
  }
  const host = entries.get('hostaddr') || entries.get('host') || 'localhost';
  if (host.includes(',')) throw bad('multiple hosts are not supported');
  const user = entries.get('user') || userInfo().username;
  const result: ConnectionParameters = {
    host,
    port: parsePort(entries.get('port')),
    user,
    password: entries.get('password'),
    dbname: entries.get('dbname') || user,
    applicationName: entries.get('application_name'),
    sslmode: parseSslMode(entries.get('sslmode')),
    connectTimeoutMs: parseConnectTimeout(entries.get('connect_timeout')),
    replication: entries.get('replication'),
    options: entries.get('options'),
  };
  assert(result.user.length > 0, 'a user name is always resolved');
  return result;
}
