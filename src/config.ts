/**
 * Server configuration: `DIR/strata.toml`, overridden by `FAILPOINTS` and by `-c key=value` flags.
 *
 * Why one table of keys: the TOML file, the CLI flags and `strata init` all validate through the
 * same `CONFIG_KEYS` entries, so an unknown key or a bad value is rejected the same way everywhere,
 * with the key named (PS_ERR_BAD_CONFIG, details.key). TOML keys are snake_case; the TS object is
 * camelCase with units last (`checkpoint_distance` → `checkpointDistanceBytes`).
 *
 * Precedence (later wins): built-in defaults < strata.toml < FAILPOINTS env < `-c` flags.
 *
 * There is no global config: `loadConfig` returns a frozen object that the caller passes down, so a
 * test can run several servers in one process. Relative paths (`log_file`, `remote_storage`) are
 * resolved against the workdir.
 *
 * Example strata.toml:
 *
 *   id = "3f0c2a9d5b7e41c8a6d2e9f01b3c4d5e"
 *   listen_http_addr = "127.0.0.1:9898"
 *   checkpoint_distance = "64MiB"
 *   wait_lsn_timeout = "10s"
 *   checkpoint_timeout = "60s"
 *   max_inmemory_bytes = "128MiB"
 *
 * Keys that depend on each other: `max_inmemory_bytes` defaults to twice `checkpoint_distance`
 * (as resolved) and may not be below it (a timeline would have to wait for a flush before its
 * open layer could ever reach the distance).
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { assert } from './assert.js';
import { StrataError } from './errors.js';
import { parseFailpoints } from './failpoints.js';
import { limits } from './limits.js';

export const CONFIG_FILE_NAME = 'strata.toml';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export interface StrataConfig {
  /** Directory holding strata.toml and all local state (not a TOML key: it is where the file is). */
  readonly workdir: string;
  readonly id: string;
  readonly listenHttpAddr: string;
  readonly listenPgAddr: string;
  readonly actorThreads: number;
  readonly checkpointDistanceBytes: number;
  /**
   * Per timeline: the open in-memory layer plus frozen layers waiting for their flush; above it,
   * ingest waits for a flush (back-pressure to the primary). Default 2 × checkpoint_distance.
   */
  readonly inMemoryBytesMax: number;
  readonly logLevel: LogLevel;
  /** Absolute path; absent means stdout. */
  readonly logFile?: string;
  readonly waitLsnTimeoutMs: number;
  /** An open in-memory layer older than this is flushed even below checkpoint_distance. */
  readonly checkpointTimeoutMs: number;
  /** Absolute path of a local directory used as remote storage; absent means none. */
  readonly remoteStorage?: string;
  readonly pgDistribDir: string;
  /** A failpoint spec (`name=action;…`), already validated. */
  readonly failpoints?: string;
  /** L0 delta files that trigger L0 → L1 compaction. */
  readonly compactionThreshold: number;
  /** Size of the L1 delta files and image layers compaction writes. */
  readonly compactionTargetBytes: number;
  /** How often the compaction actor looks for work (0: never on its own). */
  readonly compactionPeriodMs: number;
  /** Deltas above the newest image of a key range that make compaction write a new image. */
  readonly imageCreationThreshold: number;
  /** WAL bytes of history GC keeps below last_record_lsn. */
  readonly gcHorizonBytes: number;
  /** How often the GC actor runs (0: only on demand). */
  readonly gcPeriodMs: number;
  /** Time of history GC keeps (by commit timestamps). */
  readonly pitrIntervalMs: number;
  /** Computes (PostgreSQL processes started by `compute start`) running at once. */
  readonly computesMax: number;
}

/**
 * The storage settings a tenant may override in its create body (`"config": {...}`): Neon's names.
 * Server-wide defaults come from strata.toml / `-c`.
 */
export type TenantConfig = Pick<StrataConfig,
  | 'checkpointDistanceBytes' | 'checkpointTimeoutMs' | 'inMemoryBytesMax' | 'compactionThreshold' | 'compactionTargetBytes' | 'compactionPeriodMs'
  | 'imageCreationThreshold' | 'gcHorizonBytes' | 'gcPeriodMs' | 'pitrIntervalMs'>;

export const TENANT_CONFIG_KEYS = [
  'checkpoint_distance', 'checkpoint_timeout', 'max_inmemory_bytes', 'compaction_threshold', 'compaction_target_size', 'compaction_period',
  'image_creation_threshold', 'gc_horizon', 'gc_period', 'pitr_interval',
] as const;

type MutableConfig = { -readonly [K in keyof StrataConfig]: StrataConfig[K] };
type ConfigField = Exclude<keyof StrataConfig, 'workdir'>;

interface ConfigKey {
  /** TOML key (snake_case). */
  readonly key: string;
  readonly field: ConfigField;
  /** Validates a TOML value or a `-c` string; throws a plain message on bad input. */
  readonly parse: (value: unknown) => string | number;
  /** Canonical TOML value for `strata init`. */
  readonly format: (value: string | number) => string | number;
  /** `strata init` writes the text as given (sizes, durations) rather than `format(value)`. */
  readonly keepText?: boolean;
}

const KIB = 1024;
const SIZE_UNITS: Record<string, number> = {
  '': 1, b: 1, k: KIB, kb: 1000, kib: KIB, m: KIB ** 2, mb: 1000 ** 2, mib: KIB ** 2, g: KIB ** 3, gb: 1000 ** 3, gib: KIB ** 3,
  t: KIB ** 4, tb: 1000 ** 4, tib: KIB ** 4,
};
const DURATION_UNITS: Record<string, number> = { '': 1, ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000, day: 86_400_000, days: 86_400_000 };
const checkpointDistanceBytesMin = 64 * KIB;
const checkpointDistanceBytesMax = KIB ** 4;
const checkpointDistanceBytesDefault = 256 * KIB ** 2;
/** max_inmemory_bytes when not set: this many checkpoint_distances (one open, one being flushed). */
const IN_MEMORY_BYTES_FACTOR_DEFAULT = 2;
const waitLsnTimeoutMsMax = 24 * 3_600_000;
const actorThreadsMax = 256;
/** Periods longer than a year are a typo. */
const durationMsMax = 365 * 86_400_000;

/** Parses sizes like `268435456`, `"256MiB"`, `"64 MB"`, `"1g"` into bytes (KiB = 1024, KB = 1000). */
export function parseSizeBytes(value: unknown): number {
  return parseWithUnits(value, SIZE_UNITS, 'a size such as 268435456, "256MiB" or "64 MB"');
}

/** Parses durations like `500`, `"500ms"`, `"10s"`, `"2min"` into milliseconds. */
export function parseDurationMs(value: unknown): number {
  return parseWithUnits(value, DURATION_UNITS, 'a duration such as 500, "500ms" or "10s"');
}

function parseWithUnits(value: unknown, units: Record<string, number>, expected: string): number {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value;
    throw new Error(`expected ${expected}, got ${value}`);
  }
  if (typeof value !== 'string') throw new Error(`expected ${expected}`);
  const match = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(value);
  const multiplier = match ? units[match[2]!.toLowerCase()] : undefined;
  if (!match || multiplier === undefined) throw new Error(`expected ${expected}, got '${value}'`);
  const result = Math.round(Number(match[1]) * multiplier);
  if (!Number.isSafeInteger(result)) throw new Error(`'${value}' is too large`);
  return result;
}

function formatSizeBytes(bytes: number): string | number {
  for (const [unit, size] of [['TiB', KIB ** 4], ['GiB', KIB ** 3], ['MiB', KIB ** 2], ['KiB', KIB]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return bytes;
}

function formatDurationMs(milliseconds: number): string {
  return milliseconds >= 1000 && milliseconds % 1000 === 0 ? `${milliseconds / 1000}s` : `${milliseconds}ms`;
}

function inRange(minimum: number, maximum: number, parse: (value: unknown) => number): (value: unknown) => number {
  return (value) => {
    const result = parse(value);
    if (result < minimum || result > maximum) throw new Error(`${result} is outside ${minimum}..${maximum}`);
    return result;
  };
}

function parseInteger(value: unknown): number {
  const number = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isSafeInteger(number)) throw new Error(`expected an integer, got ${JSON.stringify(value)}`);
  return number;
}

function parseText(pattern: RegExp, expected: string): (value: unknown) => string {
  return (value) => {
    if (typeof value !== 'string' || !pattern.test(value)) throw new Error(`expected ${expected}, got ${JSON.stringify(value)}`);
    return value;
  };
}

/** Parses `host:port` (`[v6]:port` for IPv6); port 0 asks the OS for a free port. */
export function parseHostPort(address: string): { host: string; port: number } {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(address);
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65_535) throw new StrataError('PS_ERR_BAD_CONFIG', `invalid address '${address}': expected host:port`, { address });
  const host = match[1]!.startsWith('[') ? match[1]!.slice(1, -1) : match[1]!;
  return { host, port };
}

function parseAddress(value: unknown): string {
  if (typeof value !== 'string') throw new Error(`expected "host:port", got ${JSON.stringify(value)}`);
  try {
    parseHostPort(value);
  } catch {
    throw new Error(`expected "host:port", got '${value}'`);
  }
  return value;
}

function parseFailpointSpec(value: unknown): string {
  if (typeof value !== 'string') throw new Error(`expected a failpoint spec string`);
  try {
    parseFailpoints(value);
  } catch (error) {
    throw new Error(error instanceof Error ? error.message : String(error));
  }
  return value;
}

const identity = (value: string | number) => value;

export const CONFIG_KEYS: readonly ConfigKey[] = [
  { key: 'id', field: 'id', parse: parseText(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'an id of letters, digits, _ and -'), format: identity },
  { key: 'listen_http_addr', field: 'listenHttpAddr', parse: parseAddress, format: identity },
  { key: 'listen_pg_addr', field: 'listenPgAddr', parse: parseAddress, format: identity },
  { key: 'actor_threads', field: 'actorThreads', parse: inRange(1, actorThreadsMax, parseInteger), format: identity },
  {
    key: 'checkpoint_distance', field: 'checkpointDistanceBytes',
    parse: inRange(checkpointDistanceBytesMin, checkpointDistanceBytesMax, parseSizeBytes), format: (value) => formatSizeBytes(Number(value)), keepText: true,
  },
  {
    key: 'max_inmemory_bytes', field: 'inMemoryBytesMax',
    parse: inRange(checkpointDistanceBytesMin, IN_MEMORY_BYTES_FACTOR_DEFAULT * checkpointDistanceBytesMax, parseSizeBytes),
    format: (value) => formatSizeBytes(Number(value)), keepText: true,
  },
  { key: 'log_level', field: 'logLevel', parse: parseText(new RegExp(`^(${LOG_LEVELS.join('|')})$`), LOG_LEVELS.join('|')), format: identity },
  { key: 'log_file', field: 'logFile', parse: parseText(/^.+$/, 'a file path'), format: identity, keepText: true },
  { key: 'checkpoint_timeout', field: 'checkpointTimeoutMs', parse: inRange(100, waitLsnTimeoutMsMax, parseDurationMs), format: (value) => formatDurationMs(Number(value)), keepText: true },
  { key: 'wait_lsn_timeout', field: 'waitLsnTimeoutMs', parse: inRange(1, waitLsnTimeoutMsMax, parseDurationMs), format: (value) => formatDurationMs(Number(value)), keepText: true },
  { key: 'remote_storage', field: 'remoteStorage', parse: parseText(/^.+$/, 'a directory path'), format: identity, keepText: true },
  { key: 'pg_distrib_dir', field: 'pgDistribDir', parse: parseText(/^.+$/, 'a directory path'), format: identity },
  { key: 'failpoints', field: 'failpoints', parse: parseFailpointSpec, format: identity },
  { key: 'compaction_threshold', field: 'compactionThreshold', parse: inRange(1, 10_000, parseInteger), format: identity },
  { key: 'compaction_target_size', field: 'compactionTargetBytes', parse: inRange(64 * KIB, KIB ** 4, parseSizeBytes), format: (value) => formatSizeBytes(Number(value)), keepText: true },
  { key: 'compaction_period', field: 'compactionPeriodMs', parse: inRange(0, durationMsMax, parseDurationMs), format: (value) => formatDurationMs(Number(value)), keepText: true },
  { key: 'image_creation_threshold', field: 'imageCreationThreshold', parse: inRange(1, 10_000, parseInteger), format: identity },
  { key: 'gc_horizon', field: 'gcHorizonBytes', parse: inRange(0, 2 ** 52, parseSizeBytes), format: (value) => formatSizeBytes(Number(value)), keepText: true },
  { key: 'gc_period', field: 'gcPeriodMs', parse: inRange(0, durationMsMax, parseDurationMs), format: (value) => formatDurationMs(Number(value)), keepText: true },
  { key: 'max_computes', field: 'computesMax', parse: inRange(0, limits.computesMaxLimit, parseInteger), format: identity },
  { key: 'pitr_interval', field: 'pitrIntervalMs', parse: inRange(0, 10 * 365 * 86_400_000, parseDurationMs), format: (value) => formatDurationMs(Number(value)), keepText: true },
];

const KEYS_BY_NAME = new Map(CONFIG_KEYS.map((entry) => [entry.key, entry]));

function configKey(key: string): ConfigKey {
  const entry = KEYS_BY_NAME.get(key);
  if (entry === undefined) throw new StrataError('PS_ERR_BAD_CONFIG', `unknown config key '${key}'`, { key });
  return entry;
}

/** Validates one value for a TOML key; returns its typed form. */
export function parseConfigValue(key: string, value: unknown): string | number {
  const entry = configKey(key);
  try {
    return entry.parse(value);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new StrataError('PS_ERR_BAD_CONFIG', `bad value for config key '${key}': ${reason}`, { key });
  }
}

/** Parses `-c key=value` flags into a validated TOML-keyed table. */
export function parseConfigOverrides(pairs: readonly string[]): Record<string, string | number> {
  const table: Record<string, string | number> = {};
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    if (equals <= 0) throw new StrataError('PS_ERR_BAD_CONFIG', `bad -c '${pair}': expected key=value`, { key: pair });
    const key = pair.slice(0, equals).trim();
    table[key] = parseConfigValue(key, pair.slice(equals + 1));
  }
  return table;
}

export function defaultConfig(workdir: string): StrataConfig {
  assert(isAbsolute(workdir), 'workdir must be absolute');
  return Object.freeze({
    workdir,
    id: randomBytes(16).toString('hex'),
    listenHttpAddr: '127.0.0.1:9898',
    listenPgAddr: '127.0.0.1:64000',
    actorThreads: Math.min(actorThreadsMax, availableParallelism()),
    checkpointDistanceBytes: checkpointDistanceBytesDefault,
    inMemoryBytesMax: IN_MEMORY_BYTES_FACTOR_DEFAULT * checkpointDistanceBytesDefault,
    logLevel: 'info',
    waitLsnTimeoutMs: limits.waitLsnTimeoutMsDefault,
    checkpointTimeoutMs: limits.checkpointTimeoutMsDefault,
    pgDistribDir: '/usr/lib/postgresql/15',
    // Neon's defaults.
    compactionThreshold: 10,
    compactionTargetBytes: 128 * KIB ** 2,
    compactionPeriodMs: 20_000,
    imageCreationThreshold: 3,
    gcHorizonBytes: 64 * KIB ** 2,
    gcPeriodMs: 3_600_000,
    pitrIntervalMs: 7 * 86_400_000,
    computesMax: limits.computesMaxDefault,
  });
}

/** The tenant settings of a server config (its defaults for every tenant). */
export function tenantConfigOf(config: StrataConfig): TenantConfig {
  return {
    checkpointDistanceBytes: config.checkpointDistanceBytes, checkpointTimeoutMs: config.checkpointTimeoutMs,
    inMemoryBytesMax: config.inMemoryBytesMax, compactionThreshold: config.compactionThreshold, compactionTargetBytes: config.compactionTargetBytes,
    compactionPeriodMs: config.compactionPeriodMs, imageCreationThreshold: config.imageCreationThreshold,
    gcHorizonBytes: config.gcHorizonBytes, gcPeriodMs: config.gcPeriodMs, pitrIntervalMs: config.pitrIntervalMs,
  };
}

/**
 * Applies a tenant's overrides (`{"checkpoint_distance": "16MiB", ...}`, Neon's names) to the
 * server's defaults. Unknown keys and bad values are refused with PS_ERR_BAD_REQUEST naming the key.
 */
export function resolveTenantConfig(defaults: TenantConfig, overrides: unknown): TenantConfig {
  if (overrides === undefined || overrides === null) return { ...defaults };
  if (typeof overrides !== 'object' || Array.isArray(overrides)) {
    throw new StrataError('PS_ERR_BAD_REQUEST', 'config must be an object of tenant settings', { parameter: 'config' });
  }
  const resolved: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(overrides as Record<string, unknown>)) {
    if (!(TENANT_CONFIG_KEYS as readonly string[]).includes(key)) {
      throw new StrataError('PS_ERR_BAD_REQUEST', `unknown tenant config key '${key}' (known: ${TENANT_CONFIG_KEYS.join(', ')})`, { parameter: 'config', key });
    }
    try {
      resolved[configKey(key).field] = configKey(key).parse(value);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new StrataError('PS_ERR_BAD_REQUEST', `bad value for tenant config key '${key}': ${reason}`, { parameter: 'config', key });
    }
  }
  const tenant = resolved as unknown as MutableConfig;
  // max_inmemory_bytes follows the tenant's checkpoint_distance unless the tenant set it too.
  if (!('max_inmemory_bytes' in (overrides as Record<string, unknown>)) && 'checkpoint_distance' in (overrides as Record<string, unknown>)) {
    tenant.inMemoryBytesMax = Math.max(defaults.inMemoryBytesMax, IN_MEMORY_BYTES_FACTOR_DEFAULT * tenant.checkpointDistanceBytes);
  }
  if (tenant.inMemoryBytesMax < tenant.checkpointDistanceBytes) {
    throw new StrataError('PS_ERR_BAD_REQUEST', `bad value for tenant config key 'max_inmemory_bytes': ${tenant.inMemoryBytesMax} is below checkpoint_distance (${tenant.checkpointDistanceBytes})`,
      { parameter: 'config', key: 'max_inmemory_bytes' });
  }
  return resolved as unknown as TenantConfig;
}

export interface ResolveConfigOptions {
  workdir: string;
  /** Values from strata.toml (TOML keys). */
  file?: Readonly<Record<string, unknown>>;
  /** Environment; only `FAILPOINTS` is read. */
  environment?: Readonly<Record<string, string | undefined>>;
  /** Values from `-c key=value` flags. */
  overrides?: readonly string[];
}

/** Builds the config from defaults, file, environment and flags, validating every key. */
export function resolveConfig(options: ResolveConfigOptions): StrataConfig {
  const workdir = resolve(options.workdir);
  const config: MutableConfig = { ...defaultConfig(workdir) };
  const apply = (table: Readonly<Record<string, unknown>>) => {
    for (const [key, value] of Object.entries(table)) {
      const parsed = parseConfigValue(key, value);
      (config as unknown as Record<string, unknown>)[configKey(key).field] = parsed;
    }
  };
  apply(options.file ?? {});
  const failpointsEnvironment = options.environment?.FAILPOINTS;
  if (failpointsEnvironment !== undefined && failpointsEnvironment !== '') apply({ failpoints: failpointsEnvironment });
  const overrides = parseConfigOverrides(options.overrides ?? []);
  apply(overrides);
  resolveInMemoryBytesMax(config, 'max_inmemory_bytes' in (options.file ?? {}) || 'max_inmemory_bytes' in overrides);
  if (config.logFile !== undefined) config.logFile = resolve(workdir, config.logFile);
  if (config.remoteStorage !== undefined) config.remoteStorage = resolve(workdir, config.remoteStorage);
  assert(config.actorThreads >= 1, 'at least one actor thread');
  return Object.freeze(config);
}

/** Derives max_inmemory_bytes from checkpoint_distance when it was not set; checks the two agree. */
function resolveInMemoryBytesMax(config: MutableConfig, explicit: boolean): void {
  if (!explicit) {
    config.inMemoryBytesMax = IN_MEMORY_BYTES_FACTOR_DEFAULT * config.checkpointDistanceBytes;
    return;
  }
  if (config.inMemoryBytesMax < config.checkpointDistanceBytes) {
    throw new StrataError('PS_ERR_BAD_CONFIG',
      `bad value for config key 'max_inmemory_bytes': ${config.inMemoryBytesMax} is below checkpoint_distance (${config.checkpointDistanceBytes})`,
      { key: 'max_inmemory_bytes' });
  }
}

/** Parses strata.toml text into a table (no validation of keys yet). */
export function parseConfigToml(text: string, path = CONFIG_FILE_NAME): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new StrataError('PS_ERR_BAD_CONFIG', `cannot parse ${path}: ${reason}`, { path });
  }
}

/** Reads `DIR/strata.toml` and applies environment and flag overrides. */
export async function loadConfig(
  workdir: string,
  options: { overrides?: readonly string[]; environment?: Readonly<Record<string, string | undefined>> } = {},
): Promise<StrataConfig> {
  const path = join(resolve(workdir), CONFIG_FILE_NAME);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const hint = code === 'ENOENT' ? ' (run `strata init --workdir DIR` first)' : '';
    throw new StrataError('PS_ERR_BAD_CONFIG', `cannot read ${path}: ${code ?? String(error)}${hint}`, { path });
  }
  return resolveConfig({ workdir, file: parseConfigToml(text, path), ...options });
}

/**
 * The TOML text `strata init` writes: the id (so it stays stable) plus every key given with -c.
 * Sizes and durations keep the text the user wrote ("64MB"); other values are written typed.
 */
export function configToToml(config: StrataConfig, overrides: Readonly<Record<string, string>> = {}): string {
  const table: Record<string, string | number> = {};
  for (const key of new Set(['id', ...Object.keys(overrides)])) {
    const entry = configKey(key);
    const value = (config as unknown as Record<string, string | number | undefined>)[entry.field];
    const text = overrides[key];
    if (value === undefined) continue;
    table[key] = entry.keepText === true && text !== undefined ? text.trim() : entry.format(value);
  }
  const header = '# Strata page server configuration. Keys and defaults: docs/api.md#configuration.\n';
  return header + stringifyToml(table) + '\n';
}

/**
 * `strata init`: writes DIR/strata.toml crash-safely (temp, fsync, rename, fsync dir). Refuses to
 * overwrite an existing file.
 */
export async function initConfig(workdir: string, overrides: readonly string[] = []): Promise<StrataConfig> {
  const directory = resolve(workdir);
  const config = resolveConfig({ workdir: directory, overrides });
  const rawOverrides = Object.fromEntries(overrides.map((pair) => [pair.slice(0, pair.indexOf('=')).trim(), pair.slice(pair.indexOf('=') + 1)]));
  const text = configToToml(config, rawOverrides);
  const path = join(directory, CONFIG_FILE_NAME);
  await writeFileCrashSafe(path, text);
  const reloaded = resolveConfig({ workdir: directory, file: parseConfigToml(text, path) });
  assert(reloaded.id === config.id, 'strata.toml must round-trip the id');
  return config;
}

async function writeFileCrashSafe(path: string, text: string): Promise<void> {
  const directory = resolve(path, '..');
  await mkdir(directory, { recursive: true });
  const temporary = `${path}.tmp-${process.pid}`;
  const handle = await open(temporary, 'wx');
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await linkWithoutOverwrite(temporary, path);
  } finally {
    await unlink(temporary).catch(() => undefined);
  }
  const directoryHandle = await open(directory, 'r');
  try {
    await directoryHandle.sync();
  } finally {
    await directoryHandle.close();
  }
}

/** rename() would replace an existing file; link() fails with EEXIST instead, atomically. */
async function linkWithoutOverwrite(source: string, target: string): Promise<void> {
  try {
    await link(source, target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new StrataError('PS_ERR_ALREADY_EXISTS', `${target} already exists; refusing to overwrite it`, { path: target });
    }
    throw error;
  }
}
