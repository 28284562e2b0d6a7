/**
 * Crash-safe file creation: a reader never sees a partial file, whatever moment the process dies.
 *
 * Protocol (the classic one, as Neon's `crashsafe.rs`):
 *
 *   1. create `<dir>/<name>.<random>.strata-temp` exclusively, in the SAME directory (rename is
 *      only atomic within one file system);
 *   2. write all bytes (streamed through a bounded buffer for large layer files);
 *   3. fsync the file (its data is durable);
 *   4. rename it over `<dir>/<name>` (atomic: the old file or the new one, never a mix);
 *   5. fsync the directory (the rename itself is durable).
 *
 * A crash before 4 leaves only a temp file, which `removeTempFiles` deletes when the directory is
 * opened again; a failure during 1-3 also deletes the temp file at once (best effort). The old
 * content of `<name>`, if any, stays intact until step 4 succeeds.
 *
 * Failpoints: a caller names the failpoints of its file kind (`CommitFailpoints`), evaluated just
 * before step 4 and just before step 5, the two crash points between which what is on disk
 * changes; `return` there fails the commit with PS_ERR_FAILPOINT as an I/O error would.
 */
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { assert } from '../assert.js';
import { isStrataError, StrataError } from '../errors.js';
import { failpointOrThrow, type FailpointName } from '../failpoints.js';
import type { Fs, FsFileHandle } from './fs.js';

export const TEMP_FILE_SUFFIX = '.strata-temp';
const WRITE_BUFFER_BYTES = 1024 * 1024;

export function isTempFileName(name: string): boolean {
  return name.endsWith(TEMP_FILE_SUFFIX);
}

/** A fresh temp path next to `path` (the name `removeTempFiles` recognises). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `${basename(path)}.${randomBytes(6).toString('hex')}${TEMP_FILE_SUFFIX}`);
}

function ioError(action: string, path: string, cause: unknown): StrataError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new StrataError('PS_ERR_IO', `${action} ${path}: ${reason}`, { path }, { cause });
}

/** Failpoints of one kind of file, at the crash points of `commit` (see the header). */
export interface CommitFailpoints {
  /** The temp file is complete and fsynced; the rename has not happened. */
  beforeRename?: FailpointName;
  /** The rename happened; the directory is not fsynced yet. */
  beforeDirectoryFsync?: FailpointName;
}

/** Writes all of `bytes[offset..offset+length]` at `position`, looping over short writes. */
export async function writeFully(handle: FsFileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const count = await handle.write(bytes, written, bytes.length - written, position + written);
    assert(count > 0, 'a file write made no progress');
    written += count;
  }
  assert(written === bytes.length, 'wrote exactly the requested bytes');
}

/** Reads exactly `length` bytes at `position`; a short file is a PS_ERR_IO naming `path`. */
export async function readFully(handle: FsFileHandle, path: string, position: number, length: number): Promise<Buffer> {
  assert(length >= 0 && position >= 0, 'read range must be non-negative');
  const buffer = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const count = await handle.read(buffer, done, length - done, position + done);
    if (count === 0) throw new StrataError('PS_ERR_IO', `read ${path}: file ends at ${position + done}, expected ${length} bytes at ${position}`, { path });
    done += count;
  }
  return buffer;
}

/**
 * A file being created crash-safely, streamed: `append` buffers, `writeAt` patches an already
 * written range (a header whose counts are known only at the end), `commit` publishes it under
 * its final name, `abort` removes the temp file.
 *
 * Small appends are double-buffered: when one buffer is full its write starts and appends go on
 * into the other, so a producer that receives its bytes while they are written (a base backup
 * streamed into image layers) overlaps the two. At most one write is in flight; its failure
 * surfaces at the next append that needs a buffer, or at writeAt/commit, and aborts the file.
 * An append of WRITE_BUFFER_BYTES or more is written directly and awaited, so `append` never
 * keeps a reference to the caller's bytes after it resolves.
 *
 *   append ──► buffer A (filling) ──full──► write A (in flight) … buffer B (filling) ──full──►
 *              wait for A, write B, fill A again …
 */
export class CrashSafeFileWriter {
  readonly path: string;
  readonly #fs: Fs;
  readonly #tempPath: string;
  readonly #handle: FsFileHandle;
  readonly #buffers = [Buffer.allocUnsafe(WRITE_BUFFER_BYTES), Buffer.allocUnsafe(WRITE_BUFFER_BYTES)] as const;
  /** Index of the buffer being filled. */
  #filling: 0 | 1 = 0;
  #buffered = 0;
  /** Bytes handed to the file: written, or in the write in flight. */
  #flushedBytes = 0;
  /** The write of the other buffer, while it runs. */
  #inFlight: Promise<void> | undefined;
  #state: 'writing' | 'committed' | 'aborted' = 'writing';

  private constructor(fs: Fs, path: string, tempPath: string, handle: FsFileHandle) {
    this.#fs = fs;
    this.path = path;
    this.#tempPath = tempPath;
    this.#handle = handle;
  }

  /**
   * Creates the temp file. `tempPath` (from `tempPathFor`, same directory) lets a caller that hands
   * the write to another thread know the temp file's name, so it can remove it if that thread dies.
   */
  static async create(fs: Fs, path: string, tempPath: string = tempPathFor(path)): Promise<CrashSafeFileWriter> {
    assert(dirname(tempPath) === dirname(path) && isTempFileName(tempPath), 'a temp file sits next to its target');
    try {
      return new CrashSafeFileWriter(fs, path, tempPath, await fs.open(tempPath, 'createExclusive'));
    } catch (error) {
      throw ioError('create temp file for', path, error);
    }
  }

  /** Bytes appended so far (the next append's file position). */
  get length(): number {
    return this.#flushedBytes + this.#buffered;
  }

  /** Bytes `appendSync` takes now: the room left in the buffer being filled. */
  get bufferSpace(): number {
    return this.#state === 'writing' ? WRITE_BUFFER_BYTES - this.#buffered : 0;
  }

  /** `append` without I/O: copies `bytes` when they fit `bufferSpace`; false (nothing done) otherwise. */
  appendSync(bytes: Uint8Array): boolean {
    if (bytes.length > this.bufferSpace) return false;
    this.#buffers[this.#filling].set(bytes, this.#buffered);
    this.#buffered += bytes.length;
    return true;
  }

  async append(bytes: Uint8Array): Promise<void> {
    assert(this.#state === 'writing', 'append to a finished writer');
    if (bytes.length >= WRITE_BUFFER_BYTES) {
      await this.#drain();
      await this.#writeNow(bytes, this.#flushedBytes);
      this.#flushedBytes += bytes.length;
      return;
    }
    if (this.#buffered + bytes.length > WRITE_BUFFER_BYTES) await this.#startBufferWrite();
    this.#buffers[this.#filling].set(bytes, this.#buffered);
    this.#buffered += bytes.length;
  }

  /** Overwrites bytes already appended (e.g. a header placeholder) at `position`. */
  async writeAt(position: number, bytes: Uint8Array): Promise<void> {
    assert(this.#state === 'writing', 'writeAt on a finished writer');
    assert(position + bytes.length <= this.length, 'writeAt may only patch appended bytes');
    await this.#drain();
    await this.#writeNow(bytes, position);
  }

  /**
   * fsync, rename over the final name, fsync the directory. `targetPath` (same directory) replaces
   * the name given at create, for files whose name depends on their content (layer key ranges).
   */
  async commit(targetPath: string = this.path, failpoints: CommitFailpoints = {}): Promise<void> {
    assert(this.#state === 'writing', 'commit of a finished writer');
    assert(dirname(targetPath) === dirname(this.path), 'a crash-safe rename stays in its directory');
    try {
      await this.#drain();
      await this.#handle.sync();
      await this.#handle.close();
    } catch (error) {
      await this.abort();
      throw isStrataError(error) ? error : ioError('write', this.path, error);
    }
    this.#state = 'committed';
    try {
      if (failpoints.beforeRename !== undefined) await failpointOrThrow(failpoints.beforeRename);
      await this.#fs.rename(this.#tempPath, targetPath);
      if (failpoints.beforeDirectoryFsync !== undefined) await failpointOrThrow(failpoints.beforeDirectoryFsync);
      await this.#fs.syncDirectory(dirname(targetPath));
    } catch (error) {
      await this.#fs.unlink(this.#tempPath).catch(() => undefined);
      throw isStrataError(error, 'PS_ERR_FAILPOINT') ? error : ioError('publish', targetPath, error);
    }
  }

  /** Closes and deletes the temp file; errors are ignored (removeTempFiles catches leftovers). */
  async abort(): Promise<void> {
    if (this.#state !== 'writing') return;
    this.#state = 'aborted';
    const inFlight = this.#inFlight;
    this.#inFlight = undefined;
    await inFlight?.catch(() => undefined);
    await this.#handle.close().catch(() => undefined);
    await this.#fs.unlink(this.#tempPath).catch(() => undefined);
  }

  /** Starts writing the buffer being filled (once the write in flight is done) and switches buffers. */
  async #startBufferWrite(): Promise<void> {
    if (this.#buffered === 0) return;
    await this.#settle();
    const write = this.#write(this.#buffers[this.#filling].subarray(0, this.#buffered), this.#flushedBytes);
    write.catch(() => undefined); // observed by #settle
    this.#inFlight = write;
    this.#flushedBytes += this.#buffered;
    this.#buffered = 0;
    this.#filling = this.#filling === 0 ? 1 : 0;
  }

  /** Writes everything buffered and waits until no write is in flight. */
  async #drain(): Promise<void> {
    await this.#startBufferWrite();
    await this.#settle();
    assert(this.#buffered === 0 && this.#inFlight === undefined, 'a drained writer holds nothing back');
  }

  /** Waits for the write in flight; its failure aborts the file. */
  async #settle(): Promise<void> {
    const inFlight = this.#inFlight;
    if (inFlight === undefined) return;
    this.#inFlight = undefined;
    try {
      await inFlight;
    } catch (error) {
      await this.abort();
      throw error;
    }
  }

  /** A write awaited here; its failure aborts the file. */
  async #writeNow(bytes: Uint8Array, position: number): Promise<void> {
    try {
      await this.#write(bytes, position);
    } catch (error) {
      await this.abort();
      throw error;
    }
  }

  async #write(bytes: Uint8Array, position: number): Promise<void> {
    try {
      await writeFully(this.#handle, bytes, position);
    } catch (error) {
      throw ioError('write', this.path, error);
    }
  }
}

/** Creates or replaces `path` with `bytes` crash-safely (steps 1-5 above). */
export async function writeFileCrashSafe(fs: Fs, path: string, bytes: Uint8Array, failpoints: CommitFailpoints = {}): Promise<void> {
  const writer = await CrashSafeFileWriter.create(fs, path);
  await writer.append(bytes);
  await writer.commit(path, failpoints);
}

/** Reads a whole (small) file; PS_ERR_IO naming the file on failure. */
export async function readSmallFile(fs: Fs, path: string): Promise<Buffer> {
  let handle: FsFileHandle;
  try {
    handle = await fs.open(path, 'read');
  } catch (error) {
    throw ioError('open', path, error);
  }
  try {
    return await readFully(handle, path, 0, await handle.size());
  } finally {
    await handle.close();
  }
}

/** Deletes leftover temp files of interrupted writes in `directory`; returns their names. */
export async function removeTempFiles(fs: Fs, directory: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await fs.readdir(directory)) {
    if (!isTempFileName(name)) continue;
    await fs.unlink(join(directory, name));
    removed.push(name);
  }
  if (removed.length > 0) await fs.syncDirectory(directory);
  return removed;
}
