/**
 * `<workdir>/computes/computes.json`: the registry of computes, as the compute manager persists it
 * after every state change (crash-safe: temp file, fsync, rename, fsync of the directory).
 *
 * WHY a file at all: a compute's postmaster outlives a crash of Strata (pg_ctl daemonizes it).
 * Without the registry a restarted server would neither know it nor clean its data directory. At
 * startup the manager reads the file and reconciles every entry (adopts a live postmaster, cleans
 * up a dead one).
 *
 *   {
 *     "format": "strata-computes", "version": 1,
 *     "computes": [{
 *       "computeId": "5c0f…", "tenantId": "…", "timelineId": "…", "mode": "read-only",
 *       "lsn": "0/16B3748" | null, "port": 54012, "directory": "/work/computes/5c0f…",
 *       "createdAt": 1767225600000, "keep": false,
 *       "state": { "kind": "Running", "pid": 81234, "since": 1767225601234 }
 *     }]
 *   }
 *
 * Decoding checks every field; a file that does not decode is PS_ERR_IO naming the path (the
 * server refuses to start rather than forget computes it may still be running).
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { COMPUTE_STATE_KINDS, type ComputeState } from './compute-state.js';

export const REGISTRY_FILE_NAME = 'computes.json';
const FORMAT = 'strata-computes';
const VERSION = 1;

export type ComputeMode = 'read-only' | 'branch';

export interface ComputeRecord {
  readonly computeId: string;
  readonly tenantId: string;
  /** For a branch compute: the branch timeline (its ancestor until the branch exists). */
  timelineId: string;
  readonly mode: ComputeMode;
  /** The branch's name (`--branch NAME`); null for a read-only compute. */
  readonly branch: string | null;
  /** "X/Y" once the full backup said which state it holds; null while Starting. */
  lsn: string | null;
  readonly port: number;
  /** `<workdir>/computes/<id>`: pgdata/, postgres.log and the Unix socket. */
  readonly directory: string;
  readonly createdAt: number;
  /** Keep the data directory when stopped (`stop --keep`). */
  keep: boolean;
  state: ComputeState;
}

export function encodeRegistry(records: readonly ComputeRecord[]): Uint8Array {
  const text = JSON.stringify({ format: FORMAT, version: VERSION, computes: records }, null, 2);
  const bytes = Buffer.from(`${text}\n`, 'utf8');
  assert(decodeRegistry(bytes, 'encoded registry').length === records.length, 'the registry round-trips');
  return bytes;
}

function fail(path: string, message: string): StrataError {
  return new StrataError('PS_ERR_IO', `${path}: ${message}`, { path });
}

function field<T>(path: string, object: Record<string, unknown>, name: string, check: (value: unknown) => value is T): T {
  const value = object[name];
  if (!check(value)) throw fail(path, `field '${name}' is missing or has the wrong type: ${JSON.stringify(value)}`);
  return value;
}

const isString = (value: unknown): value is string => typeof value === 'string';
const isId = (value: unknown): value is string => typeof value === 'string' && /^[0-9a-f]{32}$/.test(value);
const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isPort = (value: unknown): value is number => isCount(value) && value >= 1 && value <= 65_535;
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function decodeState(path: string, value: unknown): ComputeState {
  if (!isObject(value)) throw fail(path, 'a compute state is not an object');
  const kind = field(path, value, 'kind', isString);
  switch (kind) {
    case 'Starting': return { kind, since: field(path, value, 'since', isCount) };
    case 'Running': return { kind, pid: field(path, value, 'pid', isCount), since: field(path, value, 'since', isCount) };
    case 'Stopping': {
      const pid = value.pid;
      const reason = field(path, value, 'reason', isString);
      return isCount(pid) ? { kind, reason, pid } : { kind, reason };
    }
    case 'Stopped': return { kind, at: field(path, value, 'at', isCount), reason: field(path, value, 'reason', isString) };
    case 'Failed': {
      const logTail = field(path, value, 'logTail', (tail): tail is string[] => Array.isArray(tail) && tail.every(isString));
      return { kind, reason: field(path, value, 'reason', isString), at: field(path, value, 'at', isCount), logTail };
    }
    default: throw fail(path, `unknown compute state '${kind}' (known: ${COMPUTE_STATE_KINDS.join(', ')})`);
  }
}

function decodeRecord(path: string, value: unknown): ComputeRecord {
  if (!isObject(value)) throw fail(path, 'a compute entry is not an object');
  const mode = field(path, value, 'mode', isString);
  if (mode !== 'read-only' && mode !== 'branch') throw fail(path, `unknown compute mode '${mode}'`);
  const branch = value.branch ?? null;
  if (branch !== null && !isString(branch)) throw fail(path, `field 'branch' is neither null nor a name`);
  const lsn = value.lsn;
  if (lsn !== null && !isString(lsn)) throw fail(path, `field 'lsn' is neither null nor "X/Y"`);
  return {
    computeId: field(path, value, 'computeId', isId), tenantId: field(path, value, 'tenantId', isId),
    timelineId: field(path, value, 'timelineId', isId), mode, branch, lsn, port: field(path, value, 'port', isPort),
    directory: field(path, value, 'directory', isString), createdAt: field(path, value, 'createdAt', isCount),
    keep: field(path, value, 'keep', (keep): keep is boolean => typeof keep === 'boolean'), state: decodeState(path, value.state),
  };
}

export function decodeRegistry(bytes: Uint8Array, path: string): ComputeRecord[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw fail(path, `not JSON: ${(error as Error).message}`);
  }
  if (!isObject(parsed) || parsed.format !== FORMAT) throw fail(path, `not a ${FORMAT} file`);
  if (parsed.version !== VERSION) throw fail(path, `version ${String(parsed.version)}, this server reads ${VERSION}`);
  if (!Array.isArray(parsed.computes)) throw fail(path, "field 'computes' is not an array");
  const records = parsed.computes.map((entry) => decodeRecord(path, entry));
  const ids = new Set(records.map((record) => record.computeId));
  if (ids.size !== records.length) throw fail(path, 'a compute id appears twice');
  return records;
}
