/**
 * A bounded cache of open layer-file handles, least recently used evicted first.
 *
 * Reads of layer files are positioned reads on a handle; reopening a file per GetPage would cost a
 * syscall pair each, and keeping every file open would exhaust descriptors with many layers. A
 * handle in use (reference count > 0) is never closed: if all cached handles are busy, the cache
 * briefly holds more than its bound and trims when they are released.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { Fs, FsFileHandle } from './fs.js';

interface CachedHandle {
  handle: Promise<FsFileHandle>;
  users: number;
}

export class FileHandleCache {
  readonly #fs: Fs;
  readonly #capacity: number;
  /** Map order is recency order: the first entry is the least recently used. */
  readonly #entries = new Map<string, CachedHandle>();
  #closed = false;

  constructor(fs: Fs, capacity: number) {
    assert(capacity >= 1, 'handle cache needs room for one handle');
    this.#fs = fs;
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Runs `use` with an open handle of `path`; PS_ERR_IO when the file cannot be opened. */
  async withHandle<T>(path: string, use: (handle: FsFileHandle) => Promise<T>): Promise<T> {
    assert(!this.#closed, 'handle cache used after close');
    let entry = this.#entries.get(path);
    if (entry === undefined) {
      entry = { handle: this.#fs.open(path, 'read'), users: 0 };
      entry.handle.catch(() => undefined);
    } else {
      this.#entries.delete(path);
    }
    this.#entries.set(path, entry);
    entry.users++;
    try {
      let handle: FsFileHandle;
      try {
        handle = await entry.handle;
      } catch (error) {
        if (this.#entries.get(path) === entry) this.#entries.delete(path);
        throw new StrataError('PS_ERR_IO', `open ${path}: ${(error as Error).message}`, { path }, { cause: error });
      }
      return await use(handle);
    } finally {
      entry.users--;
      this.#trim();
    }
  }

  /** Closes the cached handle of a file (before it is deleted). */
  async forget(path: string): Promise<void> {
    const entry = this.#entries.get(path);
    if (entry === undefined) return;
    assert(entry.users === 0, 'forget of a handle in use');
    this.#entries.delete(path);
    await closeQuietly(entry.handle);
  }

  #trim(): void {
    for (const [path, entry] of this.#entries) {
      if (this.#entries.size <= this.#capacity) return;
      if (entry.users > 0) continue;
      this.#entries.delete(path);
      void closeQuietly(entry.handle);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    await Promise.all(entries.map((entry) => closeQuietly(entry.handle)));
  }
}

async function closeQuietly(handle: Promise<FsFileHandle>): Promise<void> {
  try {
    await (await handle).close();
  } catch {
    // The handle failed to open or is already closed: nothing to release.
  }
}
