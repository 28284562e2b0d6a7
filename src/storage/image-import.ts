/**
 * A bulk import of images at one LSN (a base backup) into image layer files whose key ranges do
 * not overlap, in bounded memory, whatever order the images arrive in.
 *
 * WHY two ways in: a base backup arrives in directory order, not key order, but each relation
 * segment file is one contiguous run of keys that no other file has (keys.ts relBlockKey). Large
 * files therefore stream straight into image layer files of their own (`openRange`), written
 * once, at the speed they arrive. Everything else (small files, SLRU pages, pg_control,
 * relmapper and two-phase files, relation sizes and directories) is sorted with a bounded
 * external sort (image-sorter.ts) and written at `commit`, cut so that no file spans a range
 * written by `openRange`. Every file of the import then covers a key range no other file of the
 * import overlaps: one image per key, found in exactly one layer at this LSN.
 *
 *   openRange() ──► ImageLayerRunWriter (staged) ──► image files of that range
 *   addSmall()  ──► ImageSorter (bufferBytes, sorted runs spilled to temp files)
 *   commit():
 *     1. merge the small images in key order into staged image files, cut at every range of
 *        step 1's files that lies between two of them (a small key inside such a range means the
 *        backup held a file twice: PS_ERR_BAD_REQUEST)
 *     2. check that no two files' key ranges overlap
 *     3. failpoint `import-before-publish`
 *     4. rename every staged file to its layer name, fsync the directory
 *     5. `publish(files)`: the store adds them to its layer map together (layered-timeline-store.ts)
 *   abort(): removes every file of the import, staged or renamed, and the sorter's runs
 *
 * Staging (crash safety of the import as a whole): every file is written crash-safely (temp,
 * fsync, rename, fsync directory: crashsafe.ts) but under a temp name until step 4, so a crash or
 * a failure before it leaves nothing a reopened store would load: temp names are removed when the
 * directory is opened again. A crash during the renames of step 4 can leave part of the files
 * published; the timeline being created is still uninitialized then (no marker), and startup
 * removes such a directory (uninitialized-timeline.ts). The failpoint
 * `import-between-image-layers` (image-layer.ts) fires after every file, for crash tests.
 *
 *   Open ──commit()──► Committed
 *     └───abort(), or a failed commit──► Aborted
 *
 * A failed `add` of a range writer or a failed `addSmall` leaves the import open: the caller
 * aborts it (import-target.ts does, through the importer's failure path).
 *
 * Memory: the sorter's buffer and merge windows, one write buffer and index per open file, and
 * one FinishedLayerFile per file written.
 */
import { join } from 'node:path';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { failpoint, failpointError } from '../failpoints.js';
import type { Key } from '../keys.js';
import { formatLsn, type Lsn } from '../lsn.js';
import type { Logger } from '../observability/log.js';
import type { Fs } from './fs.js';
import { ImageLayerRunWriter } from './image-layer.js';
import { ImageSorter } from './image-sorter.js';
import type { FinishedLayerFile } from './layer-file-writer.js';
import { parseLayerName } from './layer-name.js';

/** Runs after every file is written and before any is published. */
export const IMPORT_BEFORE_PUBLISH_FAILPOINT = 'import-before-publish';

export interface ImageImportOptions {
  fs: Fs;
  directory: string;
  lsn: Lsn;
  logger: Logger;
  /** An image layer file is closed once it reaches this size. */
  targetFileBytes: number;
  /** Bytes of small images sorted in memory before a sorted run spills to a temp file. */
  sortBufferBytes: number;
  /** Makes the files (renamed to their layer names, in key order) visible; see the header. */
  publish: (files: readonly FinishedLayerFile[]) => Promise<void>;
}

export interface ImageImportResult {
  files: number;
  images: number;
  bytes: number;
  /** Sorted runs the small images spilled to (0 when they fitted the sort buffer). */
  spilledRuns: number;
}

interface KeyRange { keyStart: Key; keyEnd: Key; fileName: string }

export class ImageImport {
  readonly lsn: Lsn;
  readonly #options: ImageImportOptions;
  readonly #sorter: ImageSorter;
  readonly #ranges: ImageLayerRunWriter[] = [];
  /** Files renamed to their layer names so far (abort removes them too). */
  readonly #published: string[] = [];
  #smallRun: ImageLayerRunWriter | undefined;
  #state: 'open' | 'committing' | 'committed' | 'aborted' = 'open';

  constructor(options: ImageImportOptions) {
    assert(options.targetFileBytes > 0 && options.sortBufferBytes > 0, 'import sizes must be positive');
    this.lsn = options.lsn;
    this.#options = options;
    this.#sorter = new ImageSorter({ fs: options.fs, directory: options.directory, bufferBytes: options.sortBufferBytes });
  }

  /**
   * A writer for one run of ascending keys that no other run and no small image falls between
   * (a relation segment file). The caller `finish()`es it when the run ends; commit finishes any
   * the caller did not.
   */
  openRange(): ImageLayerRunWriter {
    assert(this.#state === 'open', 'openRange on an import that is not open');
    const { fs, directory, lsn, targetFileBytes } = this.#options;
    const run = new ImageLayerRunWriter({ fs, directory, lsn, targetFileBytes, staged: true });
    this.#ranges.push(run);
    return run;
  }

  /** An image in any key order (copied: the caller may reuse `bytes`). */
  addSmall(key: Key, bytes: Uint8Array): Promise<void> {
    assert(this.#state === 'open', 'addSmall on an import that is not open');
    return this.#sorter.add(key, bytes);
  }

  /** Steps 1-5 of the header; on failure the import is aborted and the error rethrown. */
  async commit(): Promise<ImageImportResult> {
    assert(this.#state === 'open', 'commit of an import that is not open');
    this.#state = 'committing';
    const startedMs = Date.now();
    try {
      const rangeFiles: FinishedLayerFile[] = [];
      for (const run of this.#ranges) rangeFiles.push(...(await run.finish()));
      const smallFiles = await this.#writeSmallImages(rangeFiles);
      const files = [...rangeFiles, ...smallFiles].sort((left, right) => (left.fileName < right.fileName ? -1 : 1));
      checkDisjoint(files.map(rangeOf));
      const fired = await failpoint(IMPORT_BEFORE_PUBLISH_FAILPOINT);
      if (fired !== undefined) throw failpointError(IMPORT_BEFORE_PUBLISH_FAILPOINT, fired);
      const published = await this.#rename(files);
      await this.#options.publish(published);
      this.#state = 'committed';
      const result = {
        files: published.length,
        images: published.reduce((sum, file) => sum + file.entryCount, 0),
        bytes: published.reduce((sum, file) => sum + file.fileBytes, 0),
        spilledRuns: this.#sorter.runsWritten,
      };
      this.#options.logger.info({ ...result, lsn: formatLsn(this.lsn), ms: Date.now() - startedMs }, 'published imported image layers');
      return result;
    } catch (error) {
      await this.abort();
      throw error;
    } finally {
      await this.#sorter.close();
    }
  }

  /** Removes every file of the import (best effort: leftovers have temp names or die with the directory). */
  async abort(): Promise<void> {
    if (this.#state === 'committed' || this.#state === 'aborted') return;
    this.#state = 'aborted';
    const { fs, directory } = this.#options;
    const runs = this.#smallRun === undefined ? this.#ranges : [...this.#ranges, this.#smallRun];
    for (const run of runs) {
      await run.abort();
      for (const file of run.files) await fs.unlink(file.path).catch(() => undefined);
    }
    for (const fileName of this.#published) await fs.unlink(join(directory, fileName)).catch(() => undefined);
    await this.#sorter.close();
    await fs.syncDirectory(directory).catch(() => undefined);
  }

  /** Step 1: the sorted small images as staged files that span none of `rangeFiles`. */
  async #writeSmallImages(rangeFiles: readonly FinishedLayerFile[]): Promise<FinishedLayerFile[]> {
    const ranges = rangeFiles.map(rangeOf).sort((left, right) => (left.keyStart < right.keyStart ? -1 : 1));
    const { fs, directory, lsn, targetFileBytes } = this.#options;
    const run = new ImageLayerRunWriter({ fs, directory, lsn, targetFileBytes, staged: true });
    this.#smallRun = run;
    let next = 0;
    for await (const [key, bytes] of this.#sorter.sorted()) {
      for (; next < ranges.length && ranges[next]!.keyEnd <= key; next++) {
        // A range lies between the open file's last key and this key: the file must end before it.
        const last = run.openFileLastKey;
        if (last !== undefined && last < ranges[next]!.keyStart) await run.cut();
      }
      const range = ranges[next];
      if (range !== undefined && range.keyStart <= key) {
        throw new StrataError('PS_ERR_BAD_REQUEST', `image import: key ${key} lies inside ${range.fileName}, written from another file`, { key });
      }
      await run.add(key, bytes);
    }
    return run.finish();
  }

  /** Step 4: staged files renamed to their layer names, then one directory fsync. */
  async #rename(files: readonly FinishedLayerFile[]): Promise<FinishedLayerFile[]> {
    const { fs, directory } = this.#options;
    const published: FinishedLayerFile[] = [];
    try {
      for (const file of files) {
        const path = join(directory, file.fileName);
        assert(file.path !== path, 'an import file is staged under a temp name');
        await fs.rename(file.path, path);
        this.#published.push(file.fileName);
        published.push({ ...file, path });
      }
      await fs.syncDirectory(directory);
    } catch (error) {
      throw new StrataError('PS_ERR_IO', `publish imported image layers in ${directory}: ${(error as Error).message}`, { directory }, { cause: error });
    }
    return published;
  }
}

function rangeOf(file: FinishedLayerFile): KeyRange {
  const name = parseLayerName(file.fileName);
  assert(name !== undefined && name.kind === 'image', 'an import writes image layer files');
  return { keyStart: name.keyStart, keyEnd: name.keyEnd, fileName: file.fileName };
}

/** Step 2: sorted by keyStart, each range ends at or before the next one starts. */
function checkDisjoint(ranges: readonly KeyRange[]): void {
  for (let index = 1; index < ranges.length; index++) {
    const previous = ranges[index - 1]!;
    const current = ranges[index]!;
    assert(previous.keyStart <= current.keyStart, 'ranges are sorted by their start');
    if (previous.keyEnd > current.keyStart) {
      throw new StrataError('PS_ERR_BAD_REQUEST', `image import: ${previous.fileName} and ${current.fileName} overlap (the backup holds a file twice?)`);
    }
  }
}
