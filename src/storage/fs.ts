/**
 * The file-system seam of the storage engine.
 *
 * Storage never imports node:fs directly: it receives an `Fs`, so tests can inject failures (a
 * write that throws half-way, a rename that fails, an fsync error) and check that the crash-safety
 * protocol of crashsafe.ts holds. `nodeFs` is the real implementation over node:fs/promises.
 * The surface is the minimum storage needs: positioned reads and writes on handles, rename,
 * unlink, readdir, mkdir, and an fsync of a directory (which makes a rename durable).
 */
import { open as openFile, rename, unlink, readdir, mkdir } from 'node:fs/promises';
import { assert } from '../assert.js';

export interface FsFileHandle {
  /** Reads up to `length` bytes at file `position` into `buffer[offset..]`; resolves with bytes read. */
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** Writes `buffer[offset..offset+length]` at file `position`; resolves with bytes written. */
  write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** fsync: the data written so far is durable when this resolves. */
  sync(): Promise<void>;
  /** Current file size in bytes. */
  size(): Promise<number>;
  close(): Promise<void>;
}

/** 'read' opens an existing file; 'createExclusive' creates a new file and fails if it exists. */
export type FsOpenMode = 'read' | 'createExclusive';

export interface Fs {
  open(path: string, mode: FsOpenMode): Promise<FsFileHandle>;
  /** Atomically replaces `target` with `source` (POSIX rename). */
  rename(source: string, target: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Entry names (not paths) of a directory. */
  readdir(path: string): Promise<string[]>;
  mkdirRecursive(path: string): Promise<void>;
  /** fsync of a directory: the renames and unlinks done in it are durable when this resolves. */
  syncDirectory(path: string): Promise<void>;
}

class NodeFileHandle implements FsFileHandle {
  readonly #handle: import('node:fs/promises').FileHandle;

  constructor(handle: import('node:fs/promises').FileHandle) {
    this.#handle = handle;
  }

  async read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    assert(offset + length <= buffer.length, 'read past the end of the buffer');
    const { bytesRead } = await this.#handle.read(buffer, offset, length, position);
    return bytesRead;
  }

  async write(buffer: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    assert(offset + length <= buffer.length, 'write past the end of the buffer');
    const { bytesWritten } = await this.#handle.write(buffer, offset, length, position);
    return bytesWritten;
  }

  sync(): Promise<void> {
    return this.#handle.sync();
  }

  async size(): Promise<number> {
    return (await this.#handle.stat()).size;
  }

  close(): Promise<void> {
    return this.#handle.close();
  }
}

/** The real file system. */
export const nodeFs: Fs = {
  async open(path, mode) {
    const flags = mode === 'read' ? 'r' : 'wx';
    return new NodeFileHandle(await openFile(path, flags, 0o644));
  },
  rename: (source, target) => rename(source, target),
  unlink: (path) => unlink(path),
  readdir: (path) => readdir(path),
  async mkdirRecursive(path) {
    await mkdir(path, { recursive: true });
  },
  async syncDirectory(path) {
    const handle = await openFile(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};
