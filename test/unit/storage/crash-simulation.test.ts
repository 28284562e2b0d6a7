/**
 * Seeded crash simulation of the timeline storage engine (what Neon's own suite lacks): the store
 * (open layer, flush, L0 → L1 compaction, image layers, GC) and the timeline metadata run on a
 * simulated disk (src/storage/sim-fs.ts) that can crash at any create, write, fsync, rename,
 * unlink or directory fsync and then keeps only what was durable, with an injected clock.
 *
 * Each seed, deterministically:
 *
 *   plan      crash point N (the N-th disk operation after setup), crash semantics (unsynced writes
 *             dropped or torn; unsynced directory changes dropped or a journal prefix kept), an
 *             injected EIO rate (most seeds: none), I/O latency, key count, compaction, GC and
 *             pitr settings
 *   run       steps until the crash point: puts (images, WAL records, will-init records) at
 *             increasing LSNs on a few dozen keys, flushes (awaited or in the background),
 *             compactions with small target sizes, image layers at the durable LSN over random
 *             tilings of the key space, GC with moving cutoffs (gc_horizon, and pitr_interval on
 *             the simulated clock) and retained branch points, clean restarts; reads started while
 *             compaction and GC swap and delete layers; GC often overlapping a flush. Once an EIO
 *             was injected, failures must be coded StrataErrors (PS_ERR_IO), after which every
 *             read must still be right.
 *   crash     in-flight work stops dead at the crash point; the disk loses what was not durable;
 *             in 40% of seeds the restart's recovery (temp files, compaction leftovers) crashes
 *             again a few operations in
 *   check     (a) the timeline loads (metadata, then the store with its disk_consistent_lsn);
 *             (b) disk_consistent_lsn ≥ every version covered by a flush that returned before the
 *                 crash and ≥ every metadata write completed, is one of the requested flush
 *                 points, and the GC cutoff is at least every one persisted (never goes back);
 *             (c) every key at every LSN where its page changes, from the persisted GC cutoff to
 *                 the durable LSN and above it (nothing above the durable point is visible), and
 *                 at every retained branch point, equals the model restricted to durable data;
 *   resume    (d) more steps after the restart (ingest resumes above the durable LSN), check;
 *             then a flush and a power cut with nothing in flight: everything flushed is there.
 *
 * Environment: STRATA_SIM_SEEDS=N seeds (default SEEDS_DEFAULT: half fixed, 1..N/2, half from a
 * per-run base that is printed), STRATA_SEED=S runs only seed S (and prints its plan). A failure
 * prints the seed and the command that replays it exactly; STRATA_SIM_TRACE=1 with STRATA_SEED
 * prints the seed's actions (the only run-to-run difference is the random temp file suffix of
 * crashsafe.ts, which no decision depends on).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { basename } from 'node:path';
import { SimulatedClock } from '../../../src/actor/clock.js';
import { StrataError } from '../../../src/errors.js';
import type { Key } from '../../../src/keys.js';
import type { Lsn } from '../../../src/lsn.js';
import { silentLogger } from '../../../src/observability/log.js';
import { KEY_SPACE_END, KEY_SPACE_START, parseLayerName } from '../../../src/storage/layer-name.js';
import type { StorageStep } from '../../../src/storage/layered-timeline-store.js';
import { SIMULATED_OPERATION_KINDS, SimulatedDisk, type SimulatedOperationKind } from '../../../src/storage/sim-fs.js';
import type { Value } from '../../../src/value.js';
import { PageModel, redo, SimulatedTimeline } from './crash-simulation-harness.js';
import { blockKey, image, record, seededRandom } from './storage-harness.js';

/**
 * Sized so the file runs in about a minute on the shared 2-core machine: measured 41 s for 3000
 * seeds at load average 4 (22 s for 2000 when quiet; two to three times longer under heavy load).
 */
const SEEDS_DEFAULT = 3000;
const DIRECTORY = '/sim/tenants/t1/timelines/tl1';
const START_MS = Date.UTC(2024, 0, 1);
/** Crash points are drawn from [1, OPERATIONS_MAX]; a seed that ends first gets a power cut. */
const OPERATIONS_MAX = 240;
const STEPS_BEFORE_CRASH_MAX = 400;
/** Loads retried after injected I/O errors (each fails with a few percent at most). */
const LOAD_ATTEMPTS_MAX = 20;
/** STRATA_SIM_TRACE=1 (with STRATA_SEED) prints every action, load and crash of the seed. */
const TRACE = process.env.STRATA_SIM_TRACE === '1';

interface SeedPlan {
  seed: number;
  keys: number;
  crashAtOperation: number;
  unsyncedWrites: 'drop' | 'torn';
  unsyncedDirectoryChanges: 'drop' | 'prefix';
  ioErrorRate: number;
  latency: boolean;
  compactionThreshold: number;
  gcHorizon: number;
  pitrIntervalMs: number;
  fileHandlesMax: number;
  stepsAfterRestart: number;
  /** Crash point during the restart after the crash (recovery itself crashing), if any. */
  recoveryCrashAtOperation: number | undefined;
}

function planOf(seed: number): SeedPlan {
  const random = seededRandom(seed);
  const pick = <T>(choices: readonly T[]): T => choices[Math.floor(random() * choices.length)]!;
  return {
    seed,
    keys: 8 + Math.floor(random() * 32),
    crashAtOperation: 1 + Math.floor(random() * OPERATIONS_MAX),
    unsyncedWrites: random() < 0.3 ? 'torn' : 'drop',
    unsyncedDirectoryChanges: random() < 0.3 ? 'prefix' : 'drop',
    ioErrorRate: random() < 0.2 ? 0.01 + random() * 0.04 : 0,
    latency: random() < 0.5,
    compactionThreshold: 2 + Math.floor(random() * 3),
    gcHorizon: pick([0, 150, 600, 3000]),
    pitrIntervalMs: pick([0, 0, 4000, 30000]),
    fileHandlesMax: pick([1, 4, 64]),
    stepsAfterRestart: 3 + Math.floor(random() * 10),
    recoveryCrashAtOperation: random() < 0.4 ? 1 + Math.floor(random() * 8) : undefined,
  };
}

interface Totals {
  seeds: number;
  crashesByOperation: Map<string, number>;
  crashesByFile: Map<string, number>;
  powerCuts: number;
  recoveryCrashes: Map<string, number>;
  ioErrorsInjected: number;
  ioErrorsReported: number;
  readsCompared: number;
  flushesReturned: number;
  compactions: number;
  imageLayers: number;
  layersRemovedByGc: number;
  durableBeyondReturnedFlush: number;
}

const count = (map: Map<string, number>, key: string): void => { map.set(key, (map.get(key) ?? 0) + 1); };

/** What kind of file a crash point's operation named (for the coverage summary). */
function fileKind(path: string | undefined): string {
  if (path === undefined) return 'none';
  if (path === DIRECTORY) return 'directory';
  const name = basename(path);
  const temp = name.endsWith('.strata-temp');
  const target = temp ? name.slice(0, name.lastIndexOf('.', name.length - '.strata-temp'.length - 1)) : name;
  const layer = parseLayerName(target);
  const writers: Record<string, string> = { delta: 'L1 layer', image: 'image layer' };
  const kind = layer === undefined ? writers[target] ?? target
    : layer.kind === 'image' ? 'image layer'
      : layer.keyStart === KEY_SPACE_START && layer.keyEnd === KEY_SPACE_END ? 'L0 layer' : 'L1 layer';
  return temp ? `${kind} (temp)` : kind;
}

/** A layer file name, short: L0/L1/image with key (last 8 hex digits) and LSN ranges in decimal. */
function fileKindOfName(name: string): string {
  const layer = parseLayerName(name);
  if (layer === undefined) return name;
  const keys = `${layer.keyStart.slice(-8)}-${layer.keyEnd.slice(-8)}`;
  if (layer.kind === 'image') return `image[${keys}]@${layer.lsn}`;
  const group = layer.keyStart === KEY_SPACE_START && layer.keyEnd === KEY_SPACE_END ? 'L0' : `L1[${keys}]`;
  return `${group}@${layer.lsnStart}-${layer.lsnEnd}`;
}

/** Facts established before the crash that the restarted timeline must honour. */
interface Promises {
  /** upTo of every flush the store was asked for: disk_consistent_lsn is one of them. */
  flushPoints: Set<Lsn>;
  /** Highest disk_consistent_lsn a store flush returned before the crash point. */
  flushReturned: Lsn;
  /** Highest disk_consistent_lsn and GC cutoff of metadata writes completed before it. */
  metadataDiskConsistentLsn: Lsn;
  metadataGcCutoff: Lsn;
}

class SeedRun {
  readonly plan: SeedPlan;
  readonly #random: () => number;
  readonly disk: SimulatedDisk;
  readonly #clock = new SimulatedClock(START_MS);
  readonly #model = new PageModel();
  readonly #keys: Key[];
  readonly #totals: Totals;
  #timeline!: SimulatedTimeline;
  #lsn = 0;
  #lsnSeenMax = 0;
  readonly #retainLsns: Lsn[] = [];
  readonly #promises: Promises = { flushPoints: new Set([0]), flushReturned: 0, metadataDiskConsistentLsn: 0, metadataGcCutoff: 0 };
  /** Background flushes and reads started from maintenance hooks; settled at step ends. */
  #inFlight: Promise<void>[] = [];

  constructor(plan: SeedPlan, totals: Totals) {
    this.plan = plan;
    this.#totals = totals;
    this.#random = seededRandom(plan.seed ^ 0x5bd1e995);
    this.disk = new SimulatedDisk({
      random: seededRandom(plan.seed ^ 0x27d4eb2f), unsyncedWrites: plan.unsyncedWrites,
      unsyncedDirectoryChanges: plan.unsyncedDirectoryChanges, ioErrorRate: plan.ioErrorRate, latency: plan.latency,
    });
    this.#keys = Array.from({ length: plan.keys }, (_, block) => blockKey(block));
  }

  async load(): Promise<SimulatedTimeline> {
    const timeline = await SimulatedTimeline.load({
      fs: this.disk.mount(), directory: DIRECTORY, clock: this.#clock, logger: silentLogger(),
      fileHandlesMax: this.plan.fileHandlesMax, inMemoryChunkBytes: 4096,
      checkpointHook: (step) => this.#readsDuring(step),
      observer: {
        flushRequested: (upTo) => { this.#promises.flushPoints.add(upTo); },
        flushReturned: (lsn) => {
          if (this.disk.frozen) return;
          this.#promises.flushReturned = Math.max(this.#promises.flushReturned, lsn);
          this.#totals.flushesReturned++;
        },
        metadataWritten: (metadata) => {
          if (this.disk.frozen) return;
          // Maxima: once a write completed, GC may act on it, so the file must never go back.
          this.#promises.metadataDiskConsistentLsn = Math.max(this.#promises.metadataDiskConsistentLsn, metadata.diskConsistentLsn);
          this.#promises.metadataGcCutoff = Math.max(this.#promises.metadataGcCutoff, metadata.latestGcCutoffLsn);
        },
      },
    });
    this.#timeline = timeline;
    this.#trace(() => `loaded: disk_consistent_lsn ${timeline.store.diskConsistentLsn}, gc cutoff ${timeline.gcCutoffLsn}, layers ${timeline.store.layerFileNames.map(fileKindOfName).join(' ')}`);
    return timeline;
  }

  /** Prints a line of the seed's trace (STRATA_SIM_TRACE=1); the message is built only then. */
  #trace(message: () => string): void {
    if (TRACE) console.log(`[op ${this.disk.operations}${this.disk.frozen ? ' frozen' : ''}] ${message()}`);
  }

  /** Setup (not part of the simulation: no crash point yet), then steps until the crash point. */
  async runUntilCrash(): Promise<void> {
    this.disk.ioErrorRate = 0;
    await SimulatedTimeline.create(this.disk.mount(), DIRECTORY);
    await this.load();
    this.disk.crashAtOperation = this.disk.operations + this.plan.crashAtOperation;
    this.disk.ioErrorRate = this.plan.ioErrorRate;
    for (let step = 0; step < STEPS_BEFORE_CRASH_MAX && !this.disk.frozen; step++) await this.#step();
    await this.#settle();
    if (this.disk.frozen) {
      count(this.#totals.crashesByOperation, this.disk.crashedAt!);
      count(this.#totals.crashesByFile, `${this.disk.crashedAt} ${fileKind(this.disk.crashedPath)}`);
    } else {
      this.#totals.powerCuts++;
    }
    this.#trace(() => `crash (${this.disk.frozen ? `crash point: ${this.disk.crashedAt} ${this.disk.crashedPath}` : 'power cut'})`);
    this.#totals.ioErrorsInjected += this.disk.ioErrors;
    this.disk.ioErrorRate = 0;
    this.disk.crash();
  }

  /** (a), (b), (c) of the header. */
  async restartAndCheck(): Promise<void> {
    const promises = this.#promises;
    const gcCutoffBefore = this.#timeline.metadataGcCutoffLsn;
    const timeline = await this.#recover();
    const durable = timeline.store.diskConsistentLsn;
    const cutoff = timeline.gcCutoffLsn;
    const covered = this.#model.newestLsnAtOrBelow(promises.flushReturned);
    assert.ok(durable >= covered, `(b) disk_consistent_lsn ${durable} after the crash is below ${covered}, covered by a flush that returned ${promises.flushReturned}`);
    assert.ok(durable >= promises.metadataDiskConsistentLsn, `(b) disk_consistent_lsn ${durable} is below the metadata's ${promises.metadataDiskConsistentLsn}`);
    assert.ok(promises.flushPoints.has(durable), `(b) disk_consistent_lsn ${durable} is no flush point`);
    assert.ok(cutoff >= promises.metadataGcCutoff && cutoff <= gcCutoffBefore, `(b) GC cutoff ${cutoff} outside [${promises.metadataGcCutoff}, ${gcCutoffBefore}]`);
    if (durable > promises.flushReturned) this.#totals.durableBeyondReturnedFlush++;
    this.#model.truncateAbove(durable);
    await this.#checkAll('(c) after the crash', cutoff);
    for (const point of this.#retainLsns) await this.#checkAt(`(c) at retained branch point ${point}`, point);
    this.#lsn = durable;
  }

  /**
   * Loads after the crash; with a recovery crash point, the first load may itself crash (while
   * removing temp files or an interrupted compaction's files): then the disk crashes again and the
   * next load must still find everything.
   */
  async #recover(): Promise<SimulatedTimeline> {
    const crashAt = this.plan.recoveryCrashAtOperation;
    if (crashAt === undefined) return this.load();
    this.disk.crashAtOperation = this.disk.operations + crashAt;
    try {
      const timeline = await this.load();
      this.disk.crashAtOperation = undefined;
      return timeline;
    } catch (error) {
      if (!this.disk.frozen) throw error;
      count(this.#totals.recoveryCrashes, `${this.disk.crashedAt} ${fileKind(this.disk.crashedPath)}`);
      this.#trace(() => `recovery crashed: ${this.disk.crashedAt} ${this.disk.crashedPath}`);
      this.disk.crash();
      return this.load();
    }
  }

  /** (d) of the header: ingest resumes, then a flush and a power cut with nothing in flight. */
  async resumeAndCheck(): Promise<void> {
    for (let step = 0; step < this.plan.stepsAfterRestart; step++) await this.#step();
    await this.#settle();
    await this.#checkNewest('(d) after ingest resumed');
    const flushed = await this.#timeline.flush();
    this.#trace(() => `flushed ${flushed}, power cut`);
    this.disk.crash();
    const timeline = await this.load();
    assert.is(timeline.store.diskConsistentLsn, flushed, '(d) a power cut after a flush keeps exactly what it flushed');
    this.#model.truncateAbove(flushed);
    await this.#checkAll('(d) after a power cut', timeline.gcCutoffLsn);
    await timeline.close();
  }

  async #step(): Promise<void> {
    this.#clock.advance(Math.floor(this.#random() * 1500));
    this.#putBatch();
    const dice = this.#random();
    if (dice < 0.09) await this.#attempt('flush', () => this.#timeline.flush());
    else if (dice < 0.15) this.#backgroundFlush();
    else if (dice < 0.20) await this.#attempt('compaction', () => this.#compact());
    else if (dice < 0.24) await this.#attempt('image layers', () => this.#createImages());
    else if (dice < 0.29) {
      // Half the time with a flush in flight, GC starting a seeded while later: the flush's
      // metadata write and GC's overlap in varied orders.
      if (this.#random() < 0.5) {
        this.#backgroundFlush();
        for (let hop = Math.floor(this.#random() * 120); hop > 0; hop--) await Promise.resolve();
      }
      await this.#attempt('gc', () => this.#gc());
    }
    else if (dice < 0.30) await this.#attempt('clean restart', () => this.#restartCleanly());
    if (this.#random() < 0.5) await this.#settle();
  }

  /** One WAL record's worth of puts at the next LSN: 1-3 keys; a key's first value initializes it. */
  #putBatch(): void {
    this.#lsn += 8 + Math.floor(this.#random() * 40);
    this.#lsnSeenMax = Math.max(this.#lsnSeenMax, this.#lsn);
    const entries: [Key, Value][] = [];
    for (let put = 1 + Math.floor(this.#random() * 3); put > 0; put--) {
      const block = Math.floor(this.#random() * this.#keys.length);
      const key = this.#keys[block]!;
      if (entries.some(([used]) => used === key)) continue;
      const dice = this.#random();
      const fill = (this.#lsn + block) & 0xff;
      const value = !this.#model.has(key)
        ? (dice < 0.5 ? image(fill, 64) : record(fill, true, 40))
        : (dice < 0.15 ? image(fill, 64) : record(fill, dice < 0.2, 40));
      entries.push([key, value]);
      this.#model.put(key, this.#lsn, value);
    }
    this.#timeline.put(entries, this.#lsn, this.#random() < 0.3);
  }

  /**
   * Runs one operation of the workload. After the crash point its failure is expected. Once an
   * EIO was injected, an operation may fail (that one, or a later one it left behind: a flush
   * retrying a lost layer, too many frozen layers), but only with a PS_ERR_IO StrataError, and
   * every read must still be right. Before any injected fault, every failure is a bug.
   */
  async #attempt(activity: string, work: () => Promise<unknown>): Promise<void> {
    this.#trace(() => `${activity} at lsn ${this.#lsn} (disk_consistent_lsn ${this.#timeline.store.diskConsistentLsn}, cutoff ${this.#timeline.gcCutoffLsn})`);
    try {
      const result = await work();
      if (result !== undefined) this.#trace(() => `${activity} done: ${JSON.stringify(result)}`);
    } catch (error) {
      this.#trace(() => `${activity} failed: ${(error as Error).message}`);
      if (this.disk.frozen) return;
      if (this.disk.ioErrors === 0) throw error;
      this.#expectCodedIoError(error);
      await this.#settle();
      if (this.disk.frozen) return;
      await this.#checkAll('after an injected I/O error', this.#timeline.gcCutoffLsn, this.#timeline.lastRecordLsn);
    }
  }

  #expectCodedIoError(error: unknown): void {
    const described = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`).split('\n').slice(0, 6).join('\n') : String(error);
    assert.ok(error instanceof StrataError && error.code === 'PS_ERR_IO', `an injected EIO must surface as a PS_ERR_IO StrataError, got ${described}`);
    this.#totals.ioErrorsReported++;
  }

  #backgroundFlush(): void {
    this.#trace(() => `background flush at lsn ${this.#lsn}`);
    this.#inFlight.push(this.#timeline.flush().then(() => undefined, (error: unknown) => {
      if (this.disk.frozen) return;
      if (this.disk.ioErrors === 0) throw error;
      this.#expectCodedIoError(error);
    }));
  }

  async #settle(): Promise<void> {
    while (this.#inFlight.length > 0) {
      const batch = this.#inFlight;
      this.#inFlight = [];
      await Promise.all(batch);
    }
  }

  async #compact(): Promise<unknown> {
    const targetFileBytes = 300 + Math.floor(this.#random() * 3000);
    const outcome = await this.#timeline.store.compactLevel0({ threshold: this.plan.compactionThreshold, targetFileBytes });
    if (outcome !== undefined) this.#totals.compactions++;
    return outcome;
  }

  /** Image layers at the durable LSN over a random tiling of the key space (some parts skipped). */
  async #createImages(): Promise<void> {
    const store = this.#timeline.store;
    const at = store.diskConsistentLsn;
    if (at === 0) return;
    const cuts = [...new Set([0, ...Array.from({ length: 1 + Math.floor(this.#random() * 3) }, () => Math.floor(this.#random() * this.#keys.length))])].sort((left, right) => left - right);
    for (let part = 0; part < cuts.length; part++) {
      if (this.#random() < 0.3) continue;
      const start = part === 0 ? KEY_SPACE_START : this.#keys[cuts[part]!]!;
      const end = part + 1 < cuts.length ? this.#keys[cuts[part + 1]!]! : KEY_SPACE_END;
      const entries: [Key, Uint8Array][] = [];
      for (const key of this.#keys) {
        const page = key >= start && key < end ? this.#model.page(key, at) : undefined;
        if (page !== undefined) entries.push([key, page]);
      }
      const written = await store.writeImageLayer(at, start, end, (async function* () { yield* entries; })());
      if (written !== undefined) this.#totals.imageLayers++;
      this.#trace(() => `image layer at ${at} [${start.slice(-8)}, ${end.slice(-8)}): ${written?.entries ?? 'not written'}`);
    }
  }

  async #gc(): Promise<void> {
    this.#trace(() => `gc starts with layers ${this.#timeline.store.layerFileNames.map(fileKindOfName).join(' ')}`);
    const timeline = this.#timeline;
    const durable = timeline.store.diskConsistentLsn;
    // A child branch at a durable LSN not below the cutoff (a branch below it is refused).
    if (this.#random() < 0.15 && durable > timeline.gcCutoffLsn) {
      this.#retainLsns.push(timeline.gcCutoffLsn + Math.floor(this.#random() * (durable - timeline.gcCutoffLsn + 1)));
    }
    const outcome = await timeline.gc({ gcHorizon: this.plan.gcHorizon, pitrIntervalMs: this.plan.pitrIntervalMs, retainLsns: this.#retainLsns });
    this.#totals.layersRemovedByGc += outcome.layers_removed;
    this.#trace(() => `gc: cutoff ${timeline.gcCutoffLsn}, retained ${this.#retainLsns.join(',')}, ${JSON.stringify(outcome)}; layers ${timeline.store.layerFileNames.map(fileKindOfName).join(' ')}`);
  }

  /**
   * A restart without power loss: values above disk_consistent_lsn are gone, files are not. A load
   * that fails with an injected EIO must say so with PS_ERR_IO; it is retried, as the supervisor
   * restarts a timeline that failed to load.
   */
  async #restartCleanly(): Promise<void> {
    await this.#settle();
    await this.#timeline.close();
    let timeline: SimulatedTimeline | undefined;
    for (let attempt = 0; timeline === undefined; attempt++) {
      try {
        timeline = await this.load();
      } catch (error) {
        if (this.disk.frozen || this.disk.ioErrors === 0 || attempt === LOAD_ATTEMPTS_MAX) throw error;
        this.#expectCodedIoError(error);
      }
    }
    this.#model.truncateAbove(timeline.store.diskConsistentLsn);
    this.#lsn = timeline.store.diskConsistentLsn;
  }

  /**
   * Failpoint hook of compaction and GC: starts reads while layers are swapped and deleted (the
   * read gate must keep their files); checked when the step settles.
   */
  async #readsDuring(step: StorageStep): Promise<void> {
    if (this.#random() < 0.5) return;
    const cutoff = this.#timeline.gcCutoffLsn;
    for (let read = 1 + Math.floor(this.#random() * 4); read > 0; read--) {
      const key = this.#keys[Math.floor(this.#random() * this.#keys.length)]!;
      const lsn = cutoff + Math.floor(this.#random() * (this.#timeline.lastRecordLsn - cutoff + 1));
      const expected = this.#model.page(key, lsn);
      this.#inFlight.push(this.#timeline.store.getReconstructData(key, lsn).then((data) => {
        assert.equal(redo(data), expected, `read of ${key} at ${lsn} during ${step}`);
        this.#totals.readsCompared++;
      }, (error: unknown) => {
        if (!this.disk.frozen) throw error;
      }));
    }
  }

  /** Every key at every LSN where its page changes (and one below), from `lsnMin` on. */
  async #checkAll(label: string, lsnMin: Lsn, lsnMax: Lsn = this.#lsnSeenMax): Promise<void> {
    const durable = this.#timeline.store.diskConsistentLsn;
    for (const key of this.#keys) {
      const probes = new Set<Lsn>([lsnMin, durable, lsnMax, this.#timeline.lastRecordLsn]);
      for (const lsn of this.#model.lsnsOf(key)) probes.add(lsn).add(lsn - 1);
      for (const lsn of probes) if (lsn >= lsnMin) await this.#compare(label, key, lsn);
    }
  }

  /** Every key at the newest LSN, the durable one and the cutoff (a light check). */
  async #checkNewest(label: string): Promise<void> {
    const timeline = this.#timeline;
    for (const lsn of new Set([timeline.gcCutoffLsn, timeline.store.diskConsistentLsn, timeline.lastRecordLsn])) await this.#checkAt(label, lsn);
  }

  async #checkAt(label: string, lsn: Lsn): Promise<void> {
    for (const key of this.#keys) await this.#compare(label, key, lsn);
  }

  async #compare(label: string, key: Key, lsn: Lsn): Promise<void> {
    const actual = redo(await this.#timeline.store.getReconstructData(key, lsn));
    assert.equal(actual, this.#model.page(key, lsn), `${label}: key ${key} at lsn ${lsn}`);
    this.#totals.readsCompared++;
  }
}

async function runSeed(seed: number, totals: Totals): Promise<void> {
  const run = new SeedRun(planOf(seed), totals);
  try {
    await run.runUntilCrash();
    await run.restartAndCheck();
    await run.resumeAndCheck();
    totals.seeds++;
  } catch (error) {
    const command = `STRATA_SEED=${seed} node --enable-source-maps dist/test/unit/storage/crash-simulation.test.js`;
    console.error(`crash simulation failed with seed ${seed} (plan ${JSON.stringify(run.plan)}; crash point hit: ${run.disk.crashedAt ?? 'none'} ${run.disk.crashedPath ?? ''})\n  repro: ${command}`);
    throw error;
  }
}

function seedsToRun(): { seeds: number[]; description: string } {
  const fixed = process.env.STRATA_SEED;
  if (fixed !== undefined) return { seeds: [Number(fixed) >>> 0], description: `seed ${fixed}` };
  const total = Number(process.env.STRATA_SIM_SEEDS ?? SEEDS_DEFAULT);
  assert.ok(Number.isSafeInteger(total) && total > 0, 'STRATA_SIM_SEEDS is a positive integer');
  const base = Math.imul(Date.now() >>> 0, 2654435761) >>> 0;
  const fixedCount = Math.ceil(total / 2);
  const seeds = [
    ...Array.from({ length: fixedCount }, (_, index) => index + 1),
    ...Array.from({ length: total - fixedCount }, (_, index) => (base + index) >>> 0),
  ];
  return { seeds, description: `seeds 1..${fixedCount} and ${base}..${(base + total - fixedCount - 1) >>> 0}` };
}

/** One headline line (seeds, crash points by operation, reads compared), then the coverage detail. */
function summary(totals: Totals, description: string, elapsedMs: number, cpuMs: number): string {
  const list = (map: Map<string, number>) => [...map].sort((left, right) => right[1] - left[1]).map(([kind, hits]) => `${kind} ${hits}`).join(', ');
  const byOperation = SIMULATED_OPERATION_KINDS.map((kind: SimulatedOperationKind) => `${kind} ${totals.crashesByOperation.get(kind) ?? 0}`).join(', ');
  const headline = `crash simulation: ${totals.seeds} seeds (${description}) in ${(elapsedMs / 1000).toFixed(1)}s (CPU ${(cpuMs / 1000).toFixed(1)}s); `
    + `crash points by operation: ${byOperation}, power cuts ${totals.powerCuts}; reads compared ${totals.readsCompared}`;
  const detail = `  crash points by operation and file: ${list(totals.crashesByFile)}; during recovery: ${list(totals.recoveryCrashes)}; `
    + `EIO injected ${totals.ioErrorsInjected}, reported as PS_ERR_IO ${totals.ioErrorsReported}; `
    + `flushes returned ${totals.flushesReturned}, durable beyond the last returned flush ${totals.durableBeyondReturnedFlush}; `
    + `compactions ${totals.compactions}, image layers ${totals.imageLayers}, layers removed by GC ${totals.layersRemovedByGc}`;
  return `${headline}\n${detail}`;
}

test('crashes at any disk operation lose nothing durable and show nothing that was not (seeded)', async () => {
  const { seeds, description } = seedsToRun();
  const totals: Totals = {
    seeds: 0, crashesByOperation: new Map(), crashesByFile: new Map(), powerCuts: 0, recoveryCrashes: new Map(), ioErrorsInjected: 0, ioErrorsReported: 0,
    readsCompared: 0, flushesReturned: 0, compactions: 0, imageLayers: 0, layersRemovedByGc: 0, durableBeyondReturnedFlush: 0,
  };
  if (process.env.STRATA_SEED !== undefined) console.log(`plan: ${JSON.stringify(planOf(seeds[0]!))}`);
  const startedMs = Date.now();
  const cpuBefore = process.cpuUsage();
  for (const seed of seeds) await runSeed(seed, totals);
  const cpu = process.cpuUsage(cpuBefore);
  console.log(summary(totals, description, Date.now() - startedMs, (cpu.user + cpu.system) / 1000));
  if (seeds.length >= 200) {
    for (const kind of SIMULATED_OPERATION_KINDS) assert.ok((totals.crashesByOperation.get(kind) ?? 0) > 0, `some crash point hit a ${kind}`);
    assert.ok(totals.compactions > 0 && totals.imageLayers > 0 && totals.layersRemovedByGc > 0, 'every kind of maintenance ran');
    assert.ok(totals.ioErrorsReported > 0, 'some injected I/O error was reported');
  }
});

test.run();
