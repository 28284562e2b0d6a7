/**
 * Image layer files: page images (or metadata blobs) of a key range at one LSN. They hold the base
 * backup import, streamed straight to disk so a large import never sits in memory.
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
import { assert } from '../assert.js';
import type { Key } from '../keys.js';
import type { Lsn } from '../lsn.js';
import type { FileHandleCache } from './file-handle-cache.js';
import { failpointOrThrow } from '../failpoints.js';
import type { CommitFailpoints } from './crashsafe.js';
import type { Fs } from './fs.js';
import { LayerFileKind } from './layer-file-format.js';
import { LayerFileReader } from './layer-file-reader.js';
import type { LayerIndexCache } from './layer-index-cache.js';
import { LayerFileWriter, type FinishedLayerFile } from './layer-file-writer.js';
import type { LayerName } from './layer-name.js';

const IMAGE_COMMIT_FAILPOINTS: CommitFailpoints = {
  beforeRename: 'image-layer-before-rename', beforeDirectoryFsync: 'image-layer-before-directory-fsync',
};

export type ImageEntries = AsyncIterable<readonly [Key, Uint8Array]> | Iterable<readonly [Key, Uint8Array]>;

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
  assert(options.targetFileBytes > 0, 'target file size must be positive');
  assert(Number.isSafeInteger(options.lsn) && options.lsn >= 0, 'image LSN must be a valid LSN');
  const finished: FinishedLayerFile[] = [];
  let writer: LayerFileWriter | undefined;
  let previousKey: Key | undefined;
  try {
    for await (const [key, bytes] of options.entries) {
      assert(previousKey === undefined || key > previousKey, 'image entries must arrive in strictly ascending key order');
      previousKey = key;
      writer ??= await LayerFileWriter.create(options.fs, options.directory, LayerFileKind.Image, IMAGE_COMMIT_FAILPOINTS);
      await writer.addImage(key, options.lsn, bytes);
      if (writer.bytesEstimate >= options.targetFileBytes) {
        const full = writer;
        writer = undefined;
        finished.push(await full.finish({ lsnStart: options.lsn, lsnEnd: options.lsn + 1 }));
        await failpointOrThrow('image-layer-after-file');
      }
    }
    if (writer !== undefined) {
      const last = writer;
      writer = undefined;
      finished.push(await last.finish({ lsnStart: options.lsn, lsnEnd: options.lsn + 1 }));
      await failpointOrThrow('image-layer-after-file');
    }
  } catch (error) {
    await writer?.abort();
    throw error;
  }
  return finished;
}

/** Opens and verifies an image layer file whose name parsed as `name`. */
export async function openImageLayer(path: string, name: LayerName, handles: FileHandleCache, indexCache?: LayerIndexCache): Promise<LayerFileReader> {
  assert(name.kind === 'image', 'openImageLayer needs an image layer name');
  const reader = await LayerFileReader.open(path, name, handles, indexCache);
  assert(reader.isImage, 'a verified image file has the image kind');
  return reader;
}
