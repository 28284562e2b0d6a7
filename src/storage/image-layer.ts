/**
 * Image layer files: page images (or metadata blobs) of a key range at one LSN. They hold the base
 * backup import, streamed straight to disk so a large import never sits in memory
 * (image-import.ts drives the import; `ImageLayerRunWriter` below writes the files).
 *
 * Format: layer-file-format.ts with kind 2, LSN range [lsn, lsn + 1); values are encoded images.
 * Name: layer-name.ts, e.g.
 * `000000000000000000000000000000000000-000000067f00000005000004eb0100000000__00000000014E8A10`.
 *
 * A key inside the range but absent from the file has no value at this LSN: the layer map ends
 * the search there (layer-map.ts), so an image layer must hold every key of its range that has a
 * value at its LSN.
 *
 * Failpoints (failpoint-names.ts): `image-layer-before-rename` and
 * `image-layer-before-directory-fsync` at the crash points of each file's commit, and
 * `image-layer-after-file` once each file is published (before the next one, or the end).
 */
import { join } from 'node:path';
import { assert } from '../assert.js';
import { failpoint, failpointError } from '../failpoints.js';
import type { Key } from '../keys.js';
import type { Lsn } from '../lsn.js';
import { tempPathFor } from './crashsafe.js';
import type { FileHandleCache } from './file-handle-cache.js';
import { failpointOrThrow } from '../failpoints.js';
import type { CommitFailpoints } from './crashsafe.js';
import type { Fs } from './fs.js';
import { INDEX_ENTRY_BYTES, LayerFileKind } from './layer-file-format.js';
import { LayerFileReader } from './layer-file-reader.js';
import type { LayerIndexCache } from './layer-index-cache.js';
import { LayerFileWriter, type FinishedLayerFile } from './layer-file-writer.js';
import type { LayerName } from './layer-name.js';

const IMAGE_COMMIT_FAILPOINTS: CommitFailpoints = {
  beforeRename: 'image-layer-before-rename', beforeDirectoryFsync: 'image-layer-before-directory-fsync',
};

export type ImageEntries = AsyncIterable<readonly [Key, Uint8Array]> | Iterable<readonly [Key, Uint8Array]>;

/** Runs after every image layer file a run writer completes (a crash between two files). */
export const IMPORT_BETWEEN_IMAGE_LAYERS_FAILPOINT = 'import-between-image-layers' as const;

export interface ImageLayerRunOptions {
  fs: Fs;
  directory: string;
  lsn: Lsn;
  /** A file is closed and a new one started once it reaches this size. */
  targetFileBytes: number;
  /**
   * Commit each file under a temp name (crashsafe.ts `tempPathFor` of its layer name) rather than
   * its layer name: the caller publishes the files together later (renames them), and a crash
   * before that leaves only temp files, which reopening the directory removes.
   */
  staged?: boolean;
}

/**
 * Writes images of strictly ascending keys as consecutive image layer files at one LSN, each
 * closed once it reaches `targetFileBytes` (or at `cut()`) and covering [its first key, successor
 * of its last key), so the files of one run never overlap. Push-style: the producer hands over
 * one image at a time as it arrives (a relation file streamed from a base backup); an image is
 * copied into the file's write buffer before `add` resolves (or `tryAdd` returns true), so the
 * caller may reuse its bytes.
 *
 * A closed file is completed (index, header, fsync, rename: layer-file-writer.ts) while the next
 * one is being written, so the producer does not stall on the fsync; the writer waits for that
 * commit when the next file closes, or at `finish`. Then `import-between-image-layers` fires.
 *
 *   add… ──► file N (writing) ──full──► file N (committing) ┐
 *            file N+1 (writing) ──full──► wait for N ◄──────┘, failpoint, file N+1 (committing) …
 *
 * Memory: two files' write buffers and indexes (48 bytes per image), whatever the run's length.
 */
export class ImageLayerRunWriter {
  readonly #options: ImageLayerRunOptions;
  readonly #finished: FinishedLayerFile[] = [];
  #writer: LayerFileWriter | undefined;
  /** The previous file's completion, while it runs. */
  #committing: Promise<FinishedLayerFile> | undefined;
  #previousKey: Key | undefined;
  #closed = false;

  constructor(options: ImageLayerRunOptions) {
    assert(options.targetFileBytes > 0, 'target file size must be positive');
    assert(Number.isSafeInteger(options.lsn) && options.lsn >= 0, 'image LSN must be a valid LSN');
    this.#options = options;
  }

  /** The files completed so far, in key order. */
  get files(): readonly FinishedLayerFile[] { return this.#finished; }
  /** The last key of the file being written; undefined between files. */
  get openFileLastKey(): Key | undefined { return this.#writer?.lastKey; }

  /**
   * The synchronous path of `add`: takes the image when the open file's write buffer has room
   * and the file stays below its target size; false (nothing done) when `add` must run instead.
   * WHY: a base backup is ~100k pages per GiB; most need no I/O, and a promise chain per page
   * was a visible share of the import's CPU and garbage.
   */
  tryAdd(key: Key, image: Uint8Array): boolean {
    const writer = this.#writer;
    if (writer === undefined || this.#closed) return false;
    if (writer.bytesEstimate + image.length + 1 + INDEX_ENTRY_BYTES >= this.#options.targetFileBytes) return false;
    assert(this.#previousKey === undefined || key > this.#previousKey, 'image entries must arrive in strictly ascending key order');
    if (!writer.tryAddImage(key, this.#options.lsn, image)) return false;
    this.#previousKey = key;
    return true;
  }

  async add(key: Key, image: Uint8Array): Promise<void> {
    assert(!this.#closed, 'add to a finished image run');
    assert(this.#previousKey === undefined || key > this.#previousKey, 'image entries must arrive in strictly ascending key order');
    this.#previousKey = key;
    this.#writer ??= await LayerFileWriter.create(this.#options.fs, this.#options.directory, LayerFileKind.Image, IMAGE_COMMIT_FAILPOINTS);
    await this.#writer.addImage(key, this.#options.lsn, image);
    if (this.#writer.bytesEstimate >= this.#options.targetFileBytes) await this.cut();
  }

  /** Closes the file being written, if any (the next key starts a new file), and starts its commit. */
  async cut(): Promise<void> {
    const writer = this.#writer;
    if (writer === undefined) return;
    // While the previous commit settles the writer stays attached, so a failure there (or a
    // failpoint) leaves it for abort() to remove.
    await this.#settleCommit();
    this.#writer = undefined;
    const { lsn, directory, staged } = this.#options;
    const committing = writer.finish({ lsnStart: lsn, lsnEnd: lsn + 1, ...(staged === true ? { stagedPath: (name: string) => tempPathFor(join(directory, name)) } : {}) });
    committing.catch(() => undefined); // observed by #settleCommit
    this.#committing = committing;
  }

  /** Completes the last file and waits for every commit; returns every file of the run in key order. */
  async finish(): Promise<FinishedLayerFile[]> {
    await this.cut();
    await this.#settleCommit();
    this.#closed = true;
    return [...this.#finished];
  }

  /**
   * Removes the file being written (its temp file) and waits for a commit in flight; the files
   * completed (in `files`, that one included when it succeeded) are the caller's.
   */
  async abort(): Promise<void> {
    this.#closed = true;
    const writer = this.#writer;
    this.#writer = undefined;
    await writer?.abort();
    const committing = this.#committing;
    this.#committing = undefined;
    const file = await committing?.catch(() => undefined);
    if (file !== undefined) this.#finished.push(file);
  }

  /** Waits for the previous file's commit; then the failpoint between files. */
  async #settleCommit(): Promise<void> {
    const committing = this.#committing;
    if (committing === undefined) return;
    this.#committing = undefined;
    const file = await committing;
    assert(file.entryCount > 0, 'an image layer file holds at least one image');
    this.#finished.push(file);
    await failpointOrThrow('image-layer-after-file');
    const fired = await failpoint(IMPORT_BETWEEN_IMAGE_LAYERS_FAILPOINT);
    if (fired !== undefined) throw failpointError(IMPORT_BETWEEN_IMAGE_LAYERS_FAILPOINT, fired);
  }
}

export interface WriteImageLayerOptions {
  fs: Fs;
  directory: string;
  lsn: Lsn;
  /** Strictly ascending keys (asserted). */
  entries: ImageEntries;
  /** A file is closed and a new one started once it reaches this size. */
  targetFileBytes: number;
}

/**
 * Writes the entries as one or more image layer files (split at `targetFileBytes`), each covering
 * [its first key, successor of its last key). Returns the files in key order; none for no entries.
 */
export async function writeImageLayer(options: WriteImageLayerOptions): Promise<FinishedLayerFile[]> {
  const run = new ImageLayerRunWriter({ fs: options.fs, directory: options.directory, lsn: options.lsn, targetFileBytes: options.targetFileBytes });
  try {
    for await (const [key, bytes] of options.entries) await run.add(key, bytes);
    return await run.finish();
  } catch (error) {
    await run.abort();
    throw error;
  }
}

/** Opens and verifies an image layer file whose name parsed as `name`. */
export async function openImageLayer(path: string, name: LayerName, handles: FileHandleCache, indexCache?: LayerIndexCache): Promise<LayerFileReader> {
  assert(name.kind === 'image', 'openImageLayer needs an image layer name');
  const reader = await LayerFileReader.open(path, name, handles, indexCache);
  assert(reader.isImage, 'a verified image file has the image kind');
  return reader;
}
