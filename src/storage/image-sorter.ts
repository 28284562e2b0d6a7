/**
 * A bounded external sort of (key, image) pairs: the part of a bulk import that arrives in no
 * particular key order (small relation files, SLRU segments, pg_control, relmapper and two-phase
 * files, relation sizes and directories) goes through here on its way to image layer files,
 * which need ascending keys.
 *
 * WHY external: how much of a base backup is "small" depends on the database (a million small
 * tables, or gigabytes of multixact members), so memory must not follow it. The sorter holds at
 * most `bufferBytes` of images (each charged its length plus ENTRY_OVERHEAD_BYTES, for the key
 * string and the objects around it); past that it sorts them and writes them as a run file. A
 * database whose small part fits the buffer (the usual case) never touches a run file.
 *
 *   add(key, image) ──► buffer ──full: sort, write a run, clear──► runs (temp files)
 *                                                                  │ more than RUN_FAN_IN_MAX:
 *                                                                  │ merge the oldest RUN_FAN_IN_MAX
 *                                                                  │ into one run, until at most
 *                                                                  ▼ RUN_FAN_IN_MAX are left
 *   sorted() ◄── k-way merge of the runs and the sorted buffer, each run read through a window of
 *                RUN_READ_WINDOW_BYTES (no recursion: passes run in a loop)
 *
 * Memory: bufferBytes + RUN_FAN_IN_MAX × RUN_READ_WINDOW_BYTES (plus one image larger than the
 * window, while it is read), whatever the input size.
 *
 * Run file format (little-endian), entries back to back in ascending key order:
 *
 *   key (18 bytes) | u32 value length | u32 CRC-32C of the key bytes then the value | value
 *
 * Every entry is checked on read (CRC, length within the file): a bad run is PS_ERR_IO naming it.
 * Run files are scratch, not data: named like crash-safe temp files (`import-run.<random>
 * .strata-temp`) and never fsynced, because a crash abandons the import anyway and reopening the
 * directory deletes temp files (crashsafe.ts `removeTempFiles`). `close()` deletes them.
 *
 * A key given twice is PS_ERR_BAD_REQUEST when `sorted()` meets it: an image import holds one
 * image per key.
 */
import { join } from 'node:path';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { KEY_BYTES, KEY_HEX_LENGTH, type Key } from '../keys.js';
import { crc32c } from './checksum.js';
import { tempPathFor, writeFully } from './crashsafe.js';
import type { Fs, FsFileHandle } from './fs.js';

/** What one buffered entry costs besides its bytes: key string, entry object, array slot. */
export const ENTRY_OVERHEAD_BYTES = 128;
/** Runs merged at once; more are first merged in groups of this many. */
export const RUN_FAN_IN_MAX = 16;
/** Bytes of a run read at a time during a merge. */
export const RUN_READ_WINDOW_BYTES = 256 * 1024;
/** Bytes a run writer buffers before it writes. */
const RUN_WRITE_BUFFER_BYTES = 1024 * 1024;
const ENTRY_HEADER_BYTES = KEY_BYTES + 8;

export interface ImageSorterOptions {
  fs: Fs;
  /** Where run files are written (the timeline directory: same file system as the layers). */
  directory: string;
  /** Bytes of images held in memory before a sorted run is written. */
  bufferBytes: number;
}

export type SortedImage = readonly [Key, Uint8Array];

interface EntrySource {
  /** The next entry, or undefined at the end; its bytes are valid until the next call. */
  next(): Promise<SortedImage | undefined>;
  close(): Promise<void>;
}

export class ImageSorter {
  readonly #options: ImageSorterOptions;
  #buffer: Array<{ key: Key; bytes: Uint8Array }> = [];
  #bufferedBytes = 0;
  /** Paths of the runs written and not yet merged away, oldest first. */
  #runs: string[] = [];
  #runsWritten = 0;
  #state: 'adding' | 'sorting' | 'closed' = 'adding';

  constructor(options: ImageSorterOptions) {
    assert(options.bufferBytes >= ENTRY_OVERHEAD_BYTES, 'the sort buffer holds at least one entry');
    this.#options = options;
  }

  /** Run files written so far (merge passes included). */
  get runsWritten(): number { return this.#runsWritten; }
  /** Bytes charged to the in-memory buffer. */
  get bufferedBytes(): number { return this.#bufferedBytes; }

  /** Adds an image (copied: the caller may reuse `bytes`). Writes a run when the buffer is full. */
  async add(key: Key, bytes: Uint8Array): Promise<void> {
    assert(this.#state === 'adding', 'add after sorted() or close()');
    assert(key.length === KEY_HEX_LENGTH, 'a key is 36 hex digits');
    const cost = bytes.length + ENTRY_OVERHEAD_BYTES;
    if (this.#buffer.length > 0 && this.#bufferedBytes + cost > this.#options.bufferBytes) await this.#spill();
    this.#buffer.push({ key, bytes: bytes.slice() });
    this.#bufferedBytes += cost;
  }

  /**
   * Every image added, in ascending key order; once only. An image's bytes are valid until the
   * next step of the iteration. PS_ERR_BAD_REQUEST when a key was added twice.
   */
  async *sorted(): AsyncGenerator<SortedImage> {
    assert(this.#state === 'adding', 'sorted() runs once');
    this.#state = 'sorting';
    while (this.#runs.length > RUN_FAN_IN_MAX) await this.#mergeOldestRuns();
    const sources: EntrySource[] = [];
    try {
      for (const path of this.#runs) sources.push(await RunReader.open(this.#options.fs, path));
      sources.push(bufferSource(this.#sortedBuffer()));
      let previous: Key | undefined;
      for await (const entry of mergeSources(sources)) {
        if (entry[0] === previous) throw new StrataError('PS_ERR_BAD_REQUEST', `image import: key ${previous} was given twice`, { key: previous });
        previous = entry[0];
        yield entry;
      }
    } finally {
      for (const source of sources) await source.close();
    }
  }

  /** Releases the buffer and deletes the run files (also after a failure). */
  async close(): Promise<void> {
    this.#state = 'closed';
    this.#buffer = [];
    this.#bufferedBytes = 0;
    const runs = this.#runs;
    this.#runs = [];
    for (const path of runs) await this.#options.fs.unlink(path).catch(() => undefined);
  }

  #sortedBuffer(): Array<{ key: Key; bytes: Uint8Array }> {
    const buffer = this.#buffer;
    this.#buffer = [];
    this.#bufferedBytes = 0;
    return buffer.sort((left, right) => (left.key < right.key ? -1 : left.key > right.key ? 1 : 0));
  }

  async #spill(): Promise<void> {
    this.#runs.push(await this.#writeRun(iterate(bufferSource(this.#sortedBuffer()))));
  }

  async #mergeOldestRuns(): Promise<void> {
    const group = this.#runs.splice(0, RUN_FAN_IN_MAX);
    const sources: EntrySource[] = [];
    try {
      for (const path of group) sources.push(await RunReader.open(this.#options.fs, path));
      this.#runs.push(await this.#writeRun(mergeSources(sources)));
    } finally {
      for (const source of sources) await source.close();
    }
    for (const path of group) await this.#options.fs.unlink(path);
  }

  /** Writes ascending entries as a run file; returns its path. */
  async #writeRun(entries: AsyncIterable<SortedImage>): Promise<string> {
    const path = tempPathFor(join(this.#options.directory, 'import-run'));
    const writer = await RunWriter.create(this.#options.fs, path);
    this.#runsWritten += 1;
    try {
      for await (const [key, bytes] of entries) await writer.append(key, bytes);
      await writer.close();
    } catch (error) {
      await writer.close().catch(() => undefined);
      await this.#options.fs.unlink(path).catch(() => undefined);
      throw error;
    }
    return path;
  }
}

async function* iterate(source: EntrySource): AsyncGenerator<SortedImage> {
  for (let entry = await source.next(); entry !== undefined; entry = await source.next()) yield entry;
}

function bufferSource(entries: Array<{ key: Key; bytes: Uint8Array }>): EntrySource {
  let index = 0;
  return {
    next: () => {
      const entry = entries[index];
      if (entry === undefined) return Promise.resolve(undefined);
      index += 1;
      return Promise.resolve([entry.key, entry.bytes] as const);
    },
    close: () => Promise.resolve(),
  };
}

/**
 * Merges ascending sources into one ascending stream. The smallest head is found by a linear scan
 * (at most RUN_FAN_IN_MAX + 1 sources); a source advances only after its head was consumed, so a
 * yielded image's bytes stay valid until the consumer asks for the next one.
 */
async function* mergeSources(sources: readonly EntrySource[]): AsyncGenerator<SortedImage> {
  assert(sources.length <= RUN_FAN_IN_MAX + 1, 'a merge reads a bounded number of sources');
  const heads: Array<SortedImage | undefined> = [];
  for (const source of sources) heads.push(await source.next());
  for (;;) {
    let smallest = -1;
    for (let index = 0; index < heads.length; index++) {
      const head = heads[index];
      if (head !== undefined && (smallest < 0 || head[0] < heads[smallest]![0])) smallest = index;
    }
    if (smallest < 0) return;
    yield heads[smallest]!;
    heads[smallest] = await sources[smallest]!.next();
  }
}

/** Appends run entries through a bounded buffer (no fsync: see the header). */
class RunWriter {
  readonly #handle: FsFileHandle;
  readonly #buffer = Buffer.allocUnsafe(RUN_WRITE_BUFFER_BYTES);
  readonly #header = Buffer.alloc(ENTRY_HEADER_BYTES);
  #buffered = 0;
  #written = 0;

  private constructor(handle: FsFileHandle) {
    this.#handle = handle;
  }

  static async create(fs: Fs, path: string): Promise<RunWriter> {
    try {
      return new RunWriter(await fs.open(path, 'createExclusive'));
    } catch (error) {
      throw new StrataError('PS_ERR_IO', `create import run ${path}: ${(error as Error).message}`, { path }, { cause: error });
    }
  }

  async append(key: Key, bytes: Uint8Array): Promise<void> {
    const header = this.#header;
    header.write(key, 0, KEY_BYTES, 'hex');
    header.writeUInt32LE(bytes.length, KEY_BYTES);
    header.writeUInt32LE(crc32c(bytes, crc32c(header.subarray(0, KEY_BYTES))), KEY_BYTES + 4);
    await this.#put(header);
    await this.#put(bytes);
  }

  async #put(bytes: Uint8Array): Promise<void> {
    if (this.#buffered + bytes.length > this.#buffer.length) await this.#flush();
    if (bytes.length >= this.#buffer.length) {
      await writeFully(this.#handle, bytes, this.#written);
      this.#written += bytes.length;
      return;
    }
    this.#buffer.set(bytes, this.#buffered);
    this.#buffered += bytes.length;
  }

  async #flush(): Promise<void> {
    if (this.#buffered === 0) return;
    await writeFully(this.#handle, this.#buffer.subarray(0, this.#buffered), this.#written);
    this.#written += this.#buffered;
    this.#buffered = 0;
  }

  async close(): Promise<void> {
    try {
      await this.#flush();
    } finally {
      await this.#handle.close();
    }
  }
}

/** Reads a run's entries in order through a window, checking each. */
class RunReader implements EntrySource {
  readonly #path: string;
  readonly #handle: FsFileHandle;
  readonly #fileBytes: number;
  #window = Buffer.allocUnsafe(RUN_READ_WINDOW_BYTES);
  /** File offset of window[0]. */
  #windowOffset = 0;
  #start = 0;
  #end = 0;

  private constructor(path: string, handle: FsFileHandle, fileBytes: number) {
    this.#path = path;
    this.#handle = handle;
    this.#fileBytes = fileBytes;
  }

  static async open(fs: Fs, path: string): Promise<RunReader> {
    const handle = await fs.open(path, 'read');
    try {
      return new RunReader(path, handle, await handle.size());
    } catch (error) {
      await handle.close();
      throw error;
    }
  }

  async next(): Promise<SortedImage | undefined> {
    if (this.#windowOffset + this.#start === this.#fileBytes) return undefined;
    await this.#ensure(ENTRY_HEADER_BYTES);
    const window = this.#window;
    const headerAt = this.#start;
    const length = window.readUInt32LE(headerAt + KEY_BYTES);
    await this.#ensure(ENTRY_HEADER_BYTES + length);
    const at = this.#start;
    const key = this.#window.toString('hex', at, at + KEY_BYTES);
    const bytes = this.#window.subarray(at + ENTRY_HEADER_BYTES, at + ENTRY_HEADER_BYTES + length);
    const checksum = crc32c(bytes, crc32c(this.#window.subarray(at, at + KEY_BYTES)));
    if (checksum !== this.#window.readUInt32LE(at + KEY_BYTES + 4)) this.#corrupt(`entry checksum mismatch at ${this.#windowOffset + at}`);
    this.#start = at + ENTRY_HEADER_BYTES + length;
    return [key, bytes];
  }

  /** Makes `count` bytes from #start available in the window (moving or growing it). */
  async #ensure(count: number): Promise<void> {
    if (this.#end - this.#start >= count) return;
    const fileRemaining = this.#fileBytes - (this.#windowOffset + this.#start);
    if (count > fileRemaining) this.#corrupt(`entry needs ${count} bytes, ${fileRemaining} left`);
    const kept = this.#end - this.#start;
    const size = Math.max(RUN_READ_WINDOW_BYTES, count);
    const target = size === this.#window.length ? this.#window : Buffer.allocUnsafe(size);
    this.#window.copy(target, 0, this.#start, this.#end);
    this.#window = target;
    this.#windowOffset += this.#start;
    this.#start = 0;
    this.#end = kept;
    const length = Math.min(target.length - kept, this.#fileBytes - (this.#windowOffset + kept));
    for (let done = 0; done < length;) {
      const count = await this.#handle.read(target, kept + done, length - done, this.#windowOffset + kept + done);
      if (count === 0) this.#corrupt(`file ends at ${this.#windowOffset + kept + done}, ${this.#fileBytes} expected`);
      done += count;
    }
    this.#end = kept + length;
    assert(this.#end - this.#start >= count, 'the window holds the requested bytes');
  }

  #corrupt(reason: string): never {
    throw new StrataError('PS_ERR_IO', `import run ${this.#path} is corrupt: ${reason}`, { path: this.#path });
  }

  close(): Promise<void> {
    return this.#handle.close();
  }
}
