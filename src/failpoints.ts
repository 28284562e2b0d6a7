/**
 * Failpoints: named places in the code where a test or an operator can inject a fault.
 *
 * Why: crash-safety and recovery paths only run when something goes wrong, so tests make things go
 * wrong on purpose (Neon's `fail` crate, TiKV's fail-rs). The grammar is fail-rs's, plus `exit`:
 *
 *   spec    = entry { ";" entry }
 *   entry   = name "=" action
 *   action  = [ P "%" ] [ N "*" ] kind [ "(" argument ")" ]
 *   kind    = off | return | sleep | panic | pause | exit
 *
 *   FAILPOINTS="delta-layer-before-rename=1*exit;timeline-flush=50%return(boom);walreceiver-before-ingest=3*sleep(100)"
 *
 * - `off`           removes the failpoint (and releases callers paused on it).
 * - `return[(v)]`   the call site receives `{ kind: 'return', value: v }` ('' without a value) and
 *                   decides what "return" means there (often: throw PS_ERR_FAILPOINT, see
 *                   `failpointOrThrow`).
 * - `sleep(ms)`     delays the caller.
 * - `panic[(msg)]`  throws an AssertionError naming the failpoint: a simulated programmer crash.
 * - `pause`         blocks async callers until the failpoint is reconfigured; the released caller
 *                   then continues as if nothing fired (fail-rs semantics).
 * - `exit`          ends the whole process at once with SIGKILL, from whatever thread evaluates it:
 *                   no exit handlers, no flushing, no cleanup, so the files are exactly what a crash
 *                   at that step leaves (a `panic` is caught by supervisors, and `process.exit` in a
 *                   worker thread ends only that thread). One line naming the failpoint is written
 *                   to stderr first, synchronously, so a crash test can tell which step it died at.
 * - `N*`            fires N times, then the failpoint turns itself off.
 * - `P%`            fires with probability P percent (the random source is injectable).
 *
 * Names: only the names of FAILPOINT_NAMES (failpoint-names.ts) exist. Configuring another name is
 * refused with PS_ERR_BAD_REQUEST naming it (PS_ERR_BAD_CONFIG from the config), and evaluating one
 * is a programmer error (assert), so a typo cannot silently disable a test.
 *
 * Scope: failpoints are process-wide by nature, but worker threads do not share memory, so each
 * thread has ONE module-level registry (`defaultRegistry`) and configurations are forwarded:
 *  - the actor runtime forwards every reconfiguration (`{kind:'failpoints', spec}`) to each actor
 *    thread, which calls `configureFailpoints(spec)` in its own thread;
 *  - a thread that starts helper threads which evaluate failpoints (the layer flush thread,
 *    storage/flush-worker.ts) hands them the current configuration when it starts them and
 *    forwards later ones through `followFailpoints`.
 * `N*` counts are per thread. Tests that need isolation or a seeded random source create their
 * own `FailpointRegistry`.
 */
import { AssertionError } from 'node:assert';
import { writeSync } from 'node:fs';
import { threadId } from 'node:worker_threads';
import { assert } from './assert.js';
import { StrataError } from './errors.js';
import { FAILPOINT_NAMES, type FailpointName, type FailpointNameTable } from './failpoint-names.js';

export { FAILPOINT_NAMES, type FailpointName } from './failpoint-names.js';

export type FailpointKind = 'off' | 'return' | 'sleep' | 'panic' | 'pause' | 'exit';

/** One parsed action, e.g. `25%3*return(7)`. */
export interface FailpointAction {
  readonly kind: FailpointKind;
  /** Argument in parentheses, if any (the value of `return`, the message of `panic`). */
  readonly argument: string | undefined;
  /** Milliseconds for `sleep`. */
  readonly sleepMs: number;
  /** Fires left before turning off; undefined means unlimited. */
  readonly count: number | undefined;
  /** Probability of firing, 0..100. */
  readonly probabilityPercent: number;
  /** The `P%` prefix as written ('' when absent). */
  readonly probabilityText: string;
  /** Canonical text of the action (what listFailpoints shows). */
  readonly text: string;
}

export interface FailpointReturn {
  readonly kind: 'return';
  readonly value: string;
}

export interface FailpointOptions {
  /** Aborts a `pause` or `sleep` wait (shutdown); the failpoint then returns undefined. */
  signal?: AbortSignal;
}

/** Names are what call sites use: letters, digits and `_ . : -`. */
const NAME_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
const ACTION_PATTERN = /^(?:(\d{1,3}(?:\.\d+)?)%)?(?:(\d{1,9})\*)?(off|return|sleep|panic|pause|exit)(?:\((.*)\))?$/s;
/** A sleep longer than an hour is a typo, not a test. */
const SLEEP_MS_MAX = 3_600_000;
const ENTRIES_MAX = 1024;

interface ActiveFailpoint {
  action: FailpointAction;
  remaining: number | undefined;
  /** Resolved when this configuration is replaced; paused callers wait on it. */
  readonly replaced: Promise<void>;
  readonly release: () => void;
}

function badSpec(name: string, message: string): StrataError {
  return new StrataError('PS_ERR_BAD_REQUEST', `failpoint '${name}': ${message}`, { failpoint: name });
}

/** Parses one action; throws PS_ERR_BAD_REQUEST naming the failpoint. */
export function parseFailpointAction(name: string, text: string): FailpointAction {
  const trimmed = text.trim();
  const match = ACTION_PATTERN.exec(trimmed);
  if (!match) throw badSpec(name, `invalid action '${text}': expected [P%][N*]off|return|sleep|panic|pause|exit[(arg)]`);
  const probabilityPercent = match[1] === undefined ? 100 : Number(match[1]);
  if (!(probabilityPercent >= 0 && probabilityPercent <= 100)) throw badSpec(name, `probability ${match[1]}% is not within 0..100`);
  const count = match[2] === undefined ? undefined : Number(match[2]);
  const kind = match[3] as FailpointKind;
  const argument = match[4];
  if (argument !== undefined && /[;()]/.test(argument)) throw badSpec(name, `argument '${argument}' must not contain ';', '(' or ')'`);
  let sleepMs = 0;
  if (kind === 'sleep') {
    if (argument === undefined || !/^\d{1,10}$/.test(argument)) throw badSpec(name, `sleep needs milliseconds, e.g. sleep(100)`);
    sleepMs = Number(argument);
    if (sleepMs > SLEEP_MS_MAX) throw badSpec(name, `sleep(${argument}) exceeds ${SLEEP_MS_MAX} ms`);
  }
  if ((kind === 'off' || kind === 'pause' || kind === 'exit') && argument !== undefined) throw badSpec(name, `${kind} takes no argument`);
  if (kind === 'off' && (count !== undefined || match[1] !== undefined)) throw badSpec(name, `off takes no count or probability`);
  const probabilityText = match[1] === undefined ? '' : `${match[1]}%`;
  const prefix = probabilityText + (count === undefined ? '' : `${count}*`);
  return { kind, argument, sleepMs, count, probabilityPercent, probabilityText, text: `${prefix}${kind}${argument === undefined ? '' : `(${argument})`}` };
}

function unknownName(name: string, names: FailpointNameTable): StrataError {
  const known = Object.keys(names);
  return new StrataError('PS_ERR_BAD_REQUEST', `unknown failpoint '${name}': the ${known.length} known failpoints are ${known.join(', ')}`,
    { failpoint: name });
}

/**
 * Parses `name=action;…` into entries, validating all of them before anything is applied. Names
 * must be keys of `names` (default FAILPOINT_NAMES); `null` checks the syntax only (a client that
 * leaves the names to the server it talks to).
 */
export function parseFailpoints(spec: string, names: FailpointNameTable | null = FAILPOINT_NAMES): Array<{ name: string; action: FailpointAction }> {
  const entries: Array<{ name: string; action: FailpointAction }> = [];
  for (const part of spec.split(';')) {
    if (part.trim() === '') continue;
    const equals = part.indexOf('=');
    const name = (equals < 0 ? part : part.slice(0, equals)).trim();
    if (!NAME_PATTERN.test(name)) throw badSpec(name, `invalid failpoint name (letters, digits, '_.:-')`);
    if (names !== null && !Object.hasOwn(names, name)) throw unknownName(name, names);
    if (equals < 0) throw badSpec(name, `missing '=action'`);
    entries.push({ name, action: parseFailpointAction(name, part.slice(equals + 1)) });
    if (entries.length > ENTRIES_MAX) throw badSpec(name, `more than ${ENTRIES_MAX} failpoints in one spec`);
  }
  return entries;
}

/** Formats a list as a spec string that `parseFailpoints` accepts again. */
export function formatFailpoints(list: Readonly<Record<string, string>>): string {
  return Object.entries(list).map(([name, action]) => `${name}=${action}`).join(';');
}

function sleepWithSignal(milliseconds: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => { clearTimeout(timer); resolve(); };
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, milliseconds);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function waitWithSignal(promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const onAbort = () => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then(() => { signal.removeEventListener('abort', onAbort); resolve(); });
  });
}

/** Sleeps synchronously (Atomics.wait is allowed in every Node thread). */
function sleepSync(milliseconds: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, milliseconds);
}

/**
 * The `exit` action: one stderr line, then SIGKILL to this process. `writeSync` and `process.kill`
 * work from any thread; SIGKILL ends every thread of the process before `kill` returns to this
 * one. The wait after it only guards against a kernel that delivers it late: nothing after an
 * `exit` may run.
 */
function killProcess(name: string): never {
  writeSync(2, `strata: failpoint '${name}' exit: killing process ${process.pid} (thread ${threadId}) with SIGKILL\n`);
  process.kill(process.pid, 'SIGKILL');
  for (;;) sleepSync(1000);
}

/** Called with every spec a registry applies (configure, set, clear), after it was applied. */
export type FailpointsListener = (spec: string) => void;

export interface FailpointRegistryOptions {
  /** Returns a number in [0, 1), as Math.random does; tests inject a seeded one. */
  random?: () => number;
  /** The names this registry accepts; default FAILPOINT_NAMES. Tests use their own tables. */
  names?: FailpointNameTable;
  /** What `exit` does; default SIGKILL of this process. Tests inject a recorder that throws. */
  exit?: (name: string) => never;
}

/** One known failpoint as GET /v1/failpoints lists it. */
export interface FailpointDescription {
  name: string;
  /** The active action (as `list` shows it), or 'off'. */
  actions: string;
  description: string;
}

export class FailpointRegistry {
  readonly #active = new Map<string, ActiveFailpoint>();
  readonly #random: () => number;
  readonly #names: FailpointNameTable;
  readonly #exit: (name: string) => never;
  readonly #listeners = new Set<FailpointsListener>();

  constructor(options: FailpointRegistryOptions = {}) {
    this.#random = options.random ?? Math.random;
    this.#names = options.names ?? FAILPOINT_NAMES;
    this.#exit = options.exit ?? killProcess;
    assert(Object.keys(this.#names).every((name) => NAME_PATTERN.test(name)), 'every known failpoint name is well formed');
  }

  /** Applies every entry of `spec` (others stay as they are); all-or-nothing on parse errors. */
  configure(spec: string): void {
    const entries = parseFailpoints(spec, this.#names);
    for (const { name, action } of entries) this.#install(name, action);
    if (entries.length > 0) this.#notify(spec);
  }

  set(name: string, actionText: string): void {
    if (!NAME_PATTERN.test(name)) throw badSpec(name, `invalid failpoint name (letters, digits, '_.:-')`);
    if (!Object.hasOwn(this.#names, name)) throw unknownName(name, this.#names);
    const action = parseFailpointAction(name, actionText);
    this.#install(name, action);
    this.#notify(`${name}=${action.text}`);
  }

  /** Turns every failpoint off, releasing paused callers. */
  clear(): void {
    const names = [...this.#active.keys()];
    for (const active of this.#active.values()) active.release();
    this.#active.clear();
    if (names.length > 0) this.#notify(names.map((name) => `${name}=off`).join(';'));
  }

  /** The active failpoints and their actions (remaining counts included). */
  list(): Record<string, string> {
    const result: Record<string, string> = {};
    for (const [name, active] of this.#active) {
      const { action, remaining } = active;
      const countText = remaining === undefined ? '' : `${remaining}*`;
      result[name] = `${action.probabilityText}${countText}${action.kind}${action.argument === undefined ? '' : `(${action.argument})`}`;
    }
    return result;
  }

  /** Every known failpoint, in table order, with its active action or 'off'. */
  describe(): FailpointDescription[] {
    const active = this.list();
    const described = Object.entries(this.#names).map(([name, description]) => ({ name, actions: active[name] ?? 'off', description }));
    assert(Object.keys(active).every((name) => Object.hasOwn(this.#names, name)), 'only known failpoints are active');
    return described;
  }

  /** Calls `listener` with every spec applied from now on; returns the function that stops it. */
  follow(listener: FailpointsListener): () => void {
    this.#listeners.add(listener);
    return () => { this.#listeners.delete(listener); };
  }

  /**
   * The async call site: see the module header for what each action does. An unknown name is a
   * programmer error, thrown synchronously whether or not anything is configured.
   */
  evaluate(name: string, options: FailpointOptions = {}): Promise<FailpointReturn | undefined> {
    this.#assertKnown(name);
    const active = this.#fire(name);
    if (active === undefined) return Promise.resolve(undefined);
    return this.#act(name, active, options);
  }

  /** The sync call site: `return`, `panic` and `exit`; `sleep` blocks the thread; `pause` is refused. */
  evaluateSync(name: string): FailpointReturn | undefined {
    this.#assertKnown(name);
    const active = this.#fire(name);
    if (active === undefined) return undefined;
    const { action } = active;
    if (action.kind === 'sleep') {
      sleepSync(action.sleepMs);
      return undefined;
    }
    if (action.kind === 'pause') {
      throw new AssertionError({ message: `failpoint '${name}' is a synchronous call site and cannot pause` });
    }
    return this.#returnPanicOrExit(name, action);
  }

  #assertKnown(name: string): void {
    assert(Object.hasOwn(this.#names, name), `failpoint '${name}' is not in the failpoint table (failpoint-names.ts)`);
  }

  async #act(name: string, active: ActiveFailpoint, options: FailpointOptions): Promise<FailpointReturn | undefined> {
    const { action } = active;
    switch (action.kind) {
      case 'sleep':
        await sleepWithSignal(action.sleepMs, options.signal);
        return undefined;
      case 'pause':
        await waitWithSignal(active.replaced, options.signal);
        return undefined;
      default:
        return this.#returnPanicOrExit(name, action);
    }
  }

  #returnPanicOrExit(name: string, action: FailpointAction): FailpointReturn {
    if (action.kind === 'exit') this.#exit(name);
    if (action.kind === 'panic') {
      throw new AssertionError({ message: `failpoint '${name}' panicked${action.argument === undefined ? '' : `: ${action.argument}`}` });
    }
    assert(action.kind === 'return', `failpoint '${name}' has unexpected kind ${action.kind}`);
    return { kind: 'return', value: action.argument ?? '' };
  }

  /** Decides whether the failpoint fires now, consuming one of its N fires. */
  #fire(name: string): ActiveFailpoint | undefined {
    if (this.#active.size === 0) return undefined;
    const active = this.#active.get(name);
    if (active === undefined) return undefined;
    if (active.action.probabilityPercent < 100 && this.#random() * 100 >= active.action.probabilityPercent) return undefined;
    if (active.remaining !== undefined) {
      assert(active.remaining > 0, 'an exhausted failpoint must have been removed');
      active.remaining -= 1;
      if (active.remaining === 0) this.#remove(name);
    }
    return active;
  }

  #install(name: string, action: FailpointAction): void {
    assert(Object.hasOwn(this.#names, name), 'only known failpoints are installed');
    this.#remove(name);
    if (action.kind === 'off') return;
    if (action.count === 0) return;
    if (this.#active.size >= ENTRIES_MAX) throw badSpec(name, `more than ${ENTRIES_MAX} failpoints are active`);
    let release!: () => void;
    const replaced = new Promise<void>((resolve) => { release = resolve; });
    this.#active.set(name, { action, remaining: action.count, replaced, release });
    assert(this.#active.get(name)?.action === action, 'the failpoint is installed');
  }

  /** Removing a failpoint is a reconfiguration: callers paused on it are released. */
  #remove(name: string): void {
    const previous = this.#active.get(name);
    if (previous === undefined) return;
    this.#active.delete(name);
    previous.release();
  }

  #notify(spec: string): void {
    for (const listener of this.#listeners) listener(spec);
  }
}

/** The registry of this thread (see "Scope" in the header). */
export const defaultRegistry = new FailpointRegistry();

export function configureFailpoints(spec: string): void {
  defaultRegistry.configure(spec);
}

export function setFailpoint(name: string, actionText: string): void {
  defaultRegistry.set(name, actionText);
}

export function clearFailpoints(): void {
  defaultRegistry.clear();
}

export function listFailpoints(): Record<string, string> {
  return defaultRegistry.list();
}

/** Every known failpoint with its action in this thread (GET /v1/failpoints). */
export function describeFailpoints(): FailpointDescription[] {
  return defaultRegistry.describe();
}

/** Forwards this thread's reconfigurations to `listener` (a helper thread); returns the stop function. */
export function followFailpoints(listener: FailpointsListener): () => void {
  return defaultRegistry.follow(listener);
}

export function failpoint(name: FailpointName, options: FailpointOptions = {}): Promise<FailpointReturn | undefined> {
  return defaultRegistry.evaluate(name, options);
}

export function failpointSync(name: FailpointName): FailpointReturn | undefined {
  return defaultRegistry.evaluateSync(name);
}

/** The conventional meaning of `return` at a call site that can fail: a coded operating error. */
export function failpointError(name: string, fired: FailpointReturn): StrataError {
  return new StrataError('PS_ERR_FAILPOINT', `failpoint '${name}' returned${fired.value === '' ? '' : ` '${fired.value}'`}`, {
    failpoint: name,
    value: fired.value,
  });
}

/**
 * A step that can fail, in one line: evaluates the failpoint and turns `return` into
 * PS_ERR_FAILPOINT (the other actions behave as in `failpoint`).
 */
export async function failpointOrThrow(name: FailpointName, options: FailpointOptions = {}): Promise<void> {
  const fired = await failpoint(name, options);
  if (fired !== undefined) throw failpointError(name, fired);
}
