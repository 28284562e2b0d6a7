/**
 * An in-memory `Fs` (fs.ts) with POSIX-like crash semantics, for seeded crash simulations of the
 * storage engine (test/unit/storage/crash-simulation.test.ts). TigerBeetle's `testing/storage.zig`
 * is the model: the disk is a value the test owns, faults come from a seeded generator, and the
 * same seed replays the same run exactly.
 *
 * WHY in src/: `Fs` is the storage engine's injectable seam; this is its second implementation,
 * kept beside the first so that a change of the interface breaks both at compile time.
 *
 * What is durable, and when (what a crash keeps):
 *
 *   file data          each file (inode) has LIVE bytes (what reads see) and DURABLE bytes;
 *                      `sync()` copies live to durable. A crash resets every file to its durable
 *                      bytes, or, with `unsyncedWrites: 'torn'`, to its durable bytes plus a seeded
 *                      prefix of the writes made since its last sync (the last one possibly cut
 *                      short): a checksummed format must detect that, or never rely on it.
 *   directory entries  create, rename and unlink change a directory's LIVE entries only;
 *                      `syncDirectory(dir)` makes that directory's entries durable. A crash resets
 *                      every directory to its durable entries, or, with
 *                      `unsyncedDirectoryChanges: 'prefix'`, replays a seeded prefix of the changes
 *                      made since (in order, as a journaling file system commits metadata). So a
 *                      file created in a directory never fsynced disappears, and a rename not
 *                      followed by a directory fsync is undone. A file no entry names is gone.
 *   directories        `mkdirRecursive` is durable at once (the simulation runs inside a timeline
 *                      directory that exists; its creation is the tenant's business).
 *
 * Crash points and the "process" that dies:
 *
 *   mount() ──► Fs of generation g ── counted operations: create, write, sync, rename, unlink,
 *                                      syncDirectory (numbered 1, 2, … over the disk's life)
 *   operation number == crashAtOperation  ──► throws SimulatedCrash; the disk FREEZES: every later
 *                                             operation of any kind throws SimulatedCrash, so the
 *                                             store's in-flight work stops dead
 *   crash()  ──► applies the rules above, generation g+1; Fs objects of older generations keep
 *                throwing SimulatedCrash forever (a dead process's late promises cannot touch the
 *                disk the restarted one uses); mount() again for the restarted store.
 *
 * Injected I/O errors are not crashes: with `ioErrorRate`, each write, sync or syncDirectory fails
 * with EIO with that (seeded) probability, and nothing of it happens. A failed file sync is
 * sticky, as on Linux after writeback errors (fsyncgate): later syncs of that file fail too, so
 * code that retries an fsync and trusts the second answer is caught.
 *
 * Optional seeded latency (`latency: true`) resolves each operation after 0-3 extra microtask
 * hops, so concurrent chains (a flush, a GC, reads) interleave differently per seed, yet the same
 * way for the same seed.
 */
import { basename, dirname } from 'node:path';
import { assert } from '../assert.js';
import type { Fs, FsFileHandle, FsOpenMode } from './fs.js';

/** The operations a crash point or an I/O error can hit, in the order of the header. */
export type SimulatedOperationKind = 'create' | 'write' | 'sync' | 'rename' | 'unlink' | 'syncDirectory';

export const SIMULATED_OPERATION_KINDS: readonly SimulatedOperationKind[] = ['create', 'write', 'sync', 'rename', 'unlink', 'syncDirectory'];

/** Operations that can fail with an injected EIO (the ones that move data toward the disk). */
const IO_ERROR_KINDS: ReadonlySet<SimulatedOperationKind> = new Set(['write', 'sync', 'syncDirectory']);

/** Thrown by every operation from the crash point on: the process is dead. */
export class SimulatedCrash extends Error {
  /** The operation the crash point hit (undefined: an operation after it). */
  readonly operation: SimulatedOperationKind | undefined;

  constructor(message: string, operation: SimulatedOperationKind | undefined) {
    super(message);
    this.name = 'SimulatedCrash';
    this.operation = operation;
  }
}

export interface SimulatedDiskOptions {
  /** Seeded generator for crash outcomes, I/O errors and latency. */
  random: () => number;
  unsyncedWrites: 'drop' | 'torn';
  unsyncedDirectoryChanges: 'drop' | 'prefix';
  /** Initial ioErrorRate of the disk (see there). */
  ioErrorRate?: number;
  latency?: boolean;
}

interface Inode {
  readonly id: number;
  live: Buffer<ArrayBufferLike>;
  liveBytes: number;
  durable: Buffer<ArrayBufferLike>;
  /** Writes since the last sync, oldest first (kept only with unsyncedWrites 'torn'). */
  unsynced: { position: number; bytes: Buffer }[];
  syncFailed: boolean;
}

interface Directory {
  live: Map<string, Inode>;
  durable: Map<string, Inode>;
}

type DirectoryChange =
  | { kind: 'link'; directory: string; name: string; inode: Inode }
  | { kind: 'unlink'; directory: string; name: string }
  | { kind: 'rename'; directory: string; source: string; target: string; inode: Inode };

function errnoError(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

/**
 * The disk's contents: directories, files and the directory changes not yet durable. Internal:
 * the mounted Fs calls these after SimulatedDisk.enter allowed the operation.
 */
class DiskState {
  readonly directories = new Map<string, Directory>();
  /** Directory changes not yet made durable by a syncDirectory, oldest first. */
  changes: DirectoryChange[] = [];
  #nextInode = 1;
  readonly #keepUnsyncedWrites: boolean;

  constructor(keepUnsyncedWrites: boolean) {
    this.#keepUnsyncedWrites = keepUnsyncedWrites;
  }

  directory(path: string): Directory {
    const directory = this.directories.get(path);
    if (directory === undefined) throw errnoError('ENOENT', `no such directory '${path}'`);
    return directory;
  }

  lookup(path: string): Inode {
    const inode = this.directory(dirname(path)).live.get(basename(path));
    if (inode === undefined) throw errnoError('ENOENT', `no such file '${path}'`);
    return inode;
  }

  create(path: string): Inode {
    const directory = this.directory(dirname(path));
    const name = basename(path);
    if (directory.live.has(name)) throw errnoError('EEXIST', `file exists '${path}'`);
    const inode: Inode = { id: this.#nextInode++, live: Buffer.alloc(0), liveBytes: 0, durable: Buffer.alloc(0), unsynced: [], syncFailed: false };
    this.#change({ kind: 'link', directory: dirname(path), name, inode });
    return inode;
  }

  write(inode: Inode, bytes: Uint8Array, position: number): void {
    const written = writeInto(inode.live, inode.liveBytes, position, bytes);
    inode.live = written.buffer;
    inode.liveBytes = written.size;
    if (this.#keepUnsyncedWrites) inode.unsynced.push({ position, bytes: Buffer.from(bytes) });
  }

  sync(inode: Inode, path: string): void {
    if (inode.syncFailed) throw errnoError('EIO', `an earlier fsync of '${path}' failed (sticky)`);
    inode.durable = Buffer.from(inode.live.subarray(0, inode.liveBytes));
    inode.unsynced = [];
  }

  rename(source: string, target: string): void {
    assert(dirname(source) === dirname(target), 'the simulated file system renames within one directory');
    const inode = this.lookup(source);
    this.#change({ kind: 'rename', directory: dirname(source), source: basename(source), target: basename(target), inode });
  }

  unlink(path: string): void {
    this.lookup(path);
    this.#change({ kind: 'unlink', directory: dirname(path), name: basename(path) });
  }

  syncDirectory(path: string): void {
    const directory = this.directory(path);
    directory.durable = new Map(directory.live);
    this.changes = this.changes.filter((change) => change.directory !== path);
  }

  mkdirRecursive(path: string): void {
    for (let at = path; !this.directories.has(at); at = dirname(at)) {
      this.directories.set(at, { live: new Map(), durable: new Map() });
      if (dirname(at) === at) break;
    }
  }

  readdir(path: string): string[] {
    const names = [...this.directory(path).live.keys()];
    for (const child of this.directories.keys()) if (child !== path && dirname(child) === path) names.push(basename(child));
    return names.sort();
  }

  #change(change: DirectoryChange): void {
    applyChange(this.directory(change.directory).live, change);
    this.changes.push(change);
  }
}

/** What a mounted Fs may use: the contents, and the gate every operation passes. */
interface DiskAccess {
  state: DiskState;
  generation: number;
  enter(generation: number, kind: SimulatedOperationKind | undefined, path: string): Promise<void>;
}

export class SimulatedDisk {
  readonly #options: SimulatedDiskOptions;
  readonly #state: DiskState;
  #generation = 0;
  #operations = 0;
  #frozen = false;
  #crashedAt: SimulatedOperationKind | undefined;
  #crashedPath: string | undefined;
  #ioErrors = 0;
  /** Probability that a write, sync or syncDirectory fails with EIO (0: never); may be changed. */
  ioErrorRate: number;
  /** Operation number (1-based) at which the disk crashes; undefined: disarmed. */
  crashAtOperation: number | undefined;

  constructor(options: SimulatedDiskOptions) {
    assert((options.ioErrorRate ?? 0) >= 0 && (options.ioErrorRate ?? 0) < 1, 'an I/O error rate is a probability below 1');
    this.#options = options;
    this.ioErrorRate = options.ioErrorRate ?? 0;
    this.#state = new DiskState(options.unsyncedWrites === 'torn');
  }

  /** Counted operations so far (create, write, sync, rename, unlink, syncDirectory). */
  get operations(): number { return this.#operations; }
  /** True from the crash point until crash(). */
  get frozen(): boolean { return this.#frozen; }
  /** The operation the last crash point hit. */
  get crashedAt(): SimulatedOperationKind | undefined { return this.#crashedAt; }
  /** The path the last crash point's operation named. */
  get crashedPath(): string | undefined { return this.#crashedPath; }
  /** EIO errors injected so far. */
  get ioErrors(): number { return this.#ioErrors; }

  /** An Fs for the current process; it dies (throws SimulatedCrash) at the next crash(). */
  mount(): Fs {
    return new SimulatedFs({ state: this.#state, generation: this.#generation, enter: (generation, kind, path) => this.#enter(generation, kind, path) });
  }

  /** Names in a directory as a restarted process would see them now (sorted; for test checks). */
  listDurable(path: string): string[] {
    return [...this.#state.directory(path).durable.keys()].sort();
  }

  /**
   * Power loss: keeps only what was durable (plus the seeded torn or prefix leftovers), then lets
   * a new process mount the disk. Callable with or without a crash point having been hit.
   */
  crash(): void {
    this.#generation++;
    this.#frozen = false;
    this.crashAtOperation = undefined;
    const state = this.#state;
    const replayed = this.#options.unsyncedDirectoryChanges === 'prefix' ? Math.floor(this.#options.random() * (state.changes.length + 1)) : 0;
    for (const change of state.changes.slice(0, replayed)) applyChange(state.directory(change.directory).durable, change);
    state.changes = [];
    const inodes = new Map<number, Inode>();
    for (const directory of state.directories.values()) {
      directory.live = new Map(directory.durable);
      for (const inode of directory.durable.values()) inodes.set(inode.id, inode);
    }
    for (const inode of [...inodes.values()].sort((left, right) => left.id - right.id)) this.#restoreInode(inode);
  }

  /** A file's bytes after a crash: durable, plus a torn prefix of its unsynced writes. */
  #restoreInode(inode: Inode): void {
    let bytes: Buffer<ArrayBufferLike> = Buffer.from(inode.durable);
    if (this.#options.unsyncedWrites === 'torn' && inode.unsynced.length > 0) {
      const kept = Math.floor(this.#options.random() * (inode.unsynced.length + 1));
      let size = bytes.length;
      for (let index = 0; index < inode.unsynced.length && index <= kept; index++) {
        const write = inode.unsynced[index]!;
        const length = index < kept ? write.bytes.length : Math.floor(this.#options.random() * write.bytes.length);
        const written = writeInto(bytes, size, write.position, write.bytes.subarray(0, length));
        bytes = written.buffer;
        size = written.size;
      }
      bytes = bytes.subarray(0, size);
    }
    inode.live = Buffer.from(bytes);
    inode.liveBytes = inode.live.length;
    inode.durable = Buffer.from(bytes);
    inode.unsynced = [];
    inode.syncFailed = false;
  }

  /**
   * Every operation of a mounted Fs starts here: a dead generation or a frozen disk throws; a
   * counted operation may be the crash point or get an injected EIO.
   */
  async #enter(generation: number, kind: SimulatedOperationKind | undefined, path: string): Promise<void> {
    if (this.#options.latency === true) {
      for (let hops = Math.floor(this.#options.random() * 4); hops > 0; hops--) await Promise.resolve();
    }
    if (generation !== this.#generation) throw new SimulatedCrash(`the process that mounted this disk has crashed (${kind ?? 'read'} ${path})`, undefined);
    if (this.#frozen) throw new SimulatedCrash(`the disk is frozen after a crash point (${kind ?? 'read'} ${path})`, undefined);
    if (kind === undefined) return;
    this.#operations++;
    if (this.#operations === this.crashAtOperation) {
      this.#frozen = true;
      this.#crashedAt = kind;
      this.#crashedPath = path;
      throw new SimulatedCrash(`crash point: operation ${this.#operations} (${kind} ${path})`, kind);
    }
    const rate = this.ioErrorRate;
    if (rate > 0 && IO_ERROR_KINDS.has(kind) && this.#options.random() < rate) {
      this.#ioErrors++;
      throw errnoError('EIO', `injected I/O error on ${kind} ${path}`);
    }
  }
}

function applyChange(entries: Map<string, Inode>, change: DirectoryChange): void {
  switch (change.kind) {
    case 'link': entries.set(change.name, change.inode); return;
    case 'unlink': entries.delete(change.name); return;
    case 'rename':
      entries.delete(change.source);
      entries.set(change.target, change.inode);
      return;
  }
}

/** Writes `bytes` at `position` of a buffer holding `size` bytes, growing it; returns both. */
function writeInto(buffer: Buffer<ArrayBufferLike>, size: number, position: number, bytes: Uint8Array): { buffer: Buffer<ArrayBufferLike>; size: number } {
  const end = position + bytes.length;
  let target = buffer;
  if (end > buffer.length) {
    target = Buffer.alloc(Math.max(end, buffer.length * 2));
    buffer.copy(target, 0, 0, size);
  }
  target.set(bytes, position);
  return { buffer: target, size: Math.max(size, end) };
}

/** The Fs one process sees; every call passes SimulatedDisk's gate first. */
class SimulatedFs implements Fs {
  readonly #access: DiskAccess;

  constructor(access: DiskAccess) {
    this.#access = access;
  }

  async open(path: string, mode: FsOpenMode): Promise<FsFileHandle> {
    const access = this.#access;
    await access.enter(access.generation, mode === 'createExclusive' ? 'create' : undefined, path);
    const inode = mode === 'createExclusive' ? access.state.create(path) : access.state.lookup(path);
    return new SimulatedFileHandle({ access, path, inode, writable: mode === 'createExclusive' });
  }

  async rename(source: string, target: string): Promise<void> {
    await this.#access.enter(this.#access.generation, 'rename', source);
    this.#access.state.rename(source, target);
  }

  async unlink(path: string): Promise<void> {
    await this.#access.enter(this.#access.generation, 'unlink', path);
    this.#access.state.unlink(path);
  }

  async readdir(path: string): Promise<string[]> {
    await this.#access.enter(this.#access.generation, undefined, path);
    return this.#access.state.readdir(path);
  }

  async mkdirRecursive(path: string): Promise<void> {
    await this.#access.enter(this.#access.generation, undefined, path);
    this.#access.state.mkdirRecursive(path);
  }

  async syncDirectory(path: string): Promise<void> {
    await this.#access.enter(this.#access.generation, 'syncDirectory', path);
    this.#access.state.syncDirectory(path);
  }
}

class SimulatedFileHandle implements FsFileHandle {
  readonly #access: DiskAccess;
  readonly #path: string;
  readonly #inode: Inode;
  readonly #writable: boolean;
  #closed = false;

  constructor(options: { access: DiskAccess; path: string; inode: Inode; writable: boolean }) {
    this.#access = options.access;
    this.#path = options.path;
    this.#inode = options.inode;
    this.#writable = options.writable;
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    assert(offset + length <= buffer.length, 'read past the end of the buffer');
    await this.#enter(undefined);
    const inode = this.#inode;
    const count = Math.max(0, Math.min(length, inode.liveBytes - position));
    buffer.set(inode.live.subarray(position, position + count), offset);
    return count;
  }

  async write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    assert(offset + length <= buffer.length, 'write past the end of the buffer');
    await this.#enter('write');
    if (!this.#writable) throw errnoError('EBADF', `'${this.#path}' is open for reading`);
    this.#access.state.write(this.#inode, buffer.subarray(offset, offset + length), position);
    return length;
  }

  async sync(): Promise<void> {
    try {
      await this.#enter('sync');
    } catch (error) {
      if ((error as { code?: unknown }).code === 'EIO') this.#inode.syncFailed = true;
      throw error;
    }
    this.#access.state.sync(this.#inode, this.#path);
  }

  async size(): Promise<number> {
    await this.#enter(undefined);
    return this.#inode.liveBytes;
  }

  async close(): Promise<void> {
    await this.#enter(undefined);
    this.#closed = true;
  }

  async #enter(kind: SimulatedOperationKind | undefined): Promise<void> {
    if (this.#closed) throw errnoError('EBADF', `'${this.#path}' is closed`);
    await this.#access.enter(this.#access.generation, kind, this.#path);
  }
}
