/**
 * L0 delta layer files: every version a frozen in-memory layer holds, for its key range
 * [keyStart, keyEnd) and LSN range [lsnStart, lsnEnd), written once and never modified.
 *
 * Format: layer-file-format.ts (header | value blobs | index | footer, CRC-32C on each part and
 * each blob). Name: layer-name.ts, e.g.
 * `000000067f00000005000004eb0000000000-000000067f00000005000004eb0100000000__00000000014E8A10-00000000014F0B28`.
 * Reading: layer-file-reader.ts (index in memory, values by positioned reads).
 *
 * Writing goes through a DeltaLayerSnapshot (delta-layer-snapshot.ts): plain typed arrays plus the
 * chunk memory, so the same code runs on the flush worker thread (workers/layer-flush-thread.ts,
 * the normal path) and in the calling thread (`writeDeltaLayer`, for tests and injected Fs).
 *
 * The write is one pass over the entries, already in (key, LSN) order: each blob is checksummed in
 * place, gathered into a 4 MiB staging buffer that is appended to the temp file when full, and its
 * 48-byte index entry is filled in a preallocated index buffer (key bytes decoded once per key,
 * integers through one DataView). No per-entry object, no per-entry await.
 *
 * Failpoints (failpoint-names.ts), on whichever thread writes: `delta-layer-mid-write` once the
 * values are appended (the temp file is partial), then `delta-layer-before-rename` and
 * `delta-layer-before-directory-fsync` at the two crash points of the commit (crashsafe.ts).
 */
import { join } from 'node:path';
import { assert } from '../assert.js';
import { KEY_BYTES } from '../keys.js';
import { crc32c, crc32cOfRange } from './checksum.js';
import { CrashSafeFileWriter } from './crashsafe.js';
import { failpointOrThrow } from '../failpoints.js';
import { snapshotFrozenLayer, snapshotProblem, type DeltaLayerSnapshot } from './delta-layer-snapshot.js';
import type { Lsn } from '../lsn.js';
import type { FileHandleCache } from './file-handle-cache.js';
import type { Fs } from './fs.js';
import type { InMemoryLayer } from './in-memory-layer.js';
import {
  encodeFooter, encodeHeader, FLAG_WILL_INIT, HEADER_BYTES, INDEX_ENTRY_BYTES, LayerFileKind, setU64,
} from './layer-file-format.js';
import { LayerFileReader } from './layer-file-reader.js';
import type { LayerIndexCache } from './layer-index-cache.js';
import type { FinishedLayerFile } from './layer-file-writer.js';
import { formatLayerName, type LayerName } from './layer-name.js';
import { encodedWillInit, SHAPE_ENCODED, shapedEncodedLength, writeShaped } from './value-codec.js';

/** Bytes gathered before one write; at least crashsafe's buffer, so appends skip its copy. */
const STAGING_BYTES = 4 * 1024 * 1024;
/** Blobs up to this size are copied by a byte loop (cheaper than a subarray and a set). */
const SMALL_COPY_BYTES = 64;

export interface WriteDeltaSnapshotOptions {
  fs: Fs;
  directory: string;
  snapshot: DeltaLayerSnapshot;
  /** Temp file path (crashsafe.ts tempPathFor), when the caller must know it; default: a fresh one. */
  tempPath?: string;
}

/** Writes a frozen, non-empty in-memory layer as a delta layer file in `directory` (crash-safe). */
export async function writeDeltaLayer(options: { fs: Fs; directory: string; layer: InMemoryLayer; sliceMs?: number }): Promise<FinishedLayerFile> {
  const { layer } = options;
  const snapshot = await snapshotFrozenLayer(layer, { shareMemory: false, sliceMs: options.sliceMs ?? Infinity });
  const finished = await writeDeltaLayerSnapshot({ fs: options.fs, directory: options.directory, snapshot });
  assert(finished.entryCount === layer.versionCount, 'the file holds every version of the layer');
  return finished;
}

/** Writes a snapshot as a delta layer file (crash-safe: temp, fsync, rename, fsync directory). */
export async function writeDeltaLayerSnapshot(options: WriteDeltaSnapshotOptions): Promise<FinishedLayerFile> {
  const { snapshot } = options;
  const problem = snapshotProblem(snapshot);
  assert(problem === undefined, `malformed delta layer snapshot: ${problem}`);
  const fileName = formatLayerName({
    kind: 'delta', keyStart: snapshot.keyStart, keyEnd: snapshot.keyEnd, lsnStart: snapshot.lsnStart, lsnEnd: snapshot.lsnEnd,
  });
  const path = join(options.directory, fileName);
  const file = await CrashSafeFileWriter.create(options.fs, path, options.tempPath);
  try {
    await file.append(Buffer.alloc(HEADER_BYTES));
    const index = await appendValues(file, snapshot);
    await failpointOrThrow('delta-layer-mid-write');
    await appendIndexAndHeader(file, snapshot, index);
  } catch (error) {
    await file.abort();
    throw error;
  }
  const fileBytes = file.length;
  await file.commit(path, { beforeRename: 'delta-layer-before-rename', beforeDirectoryFsync: 'delta-layer-before-directory-fsync' });
  return { fileName, path, entryCount: snapshot.entryLsn.length, fileBytes };
}

/** Gathers blobs into large appends. */
class StagingBuffer {
  readonly #file: CrashSafeFileWriter;
  readonly #bytes = Buffer.allocUnsafe(STAGING_BYTES);
  #used = 0;

  constructor(file: CrashSafeFileWriter) {
    this.#file = file;
  }

  fits(length: number): boolean {
    return this.#used + length <= STAGING_BYTES;
  }

  copy(source: Uint8Array, offset: number, length: number): void {
    assert(this.fits(length), 'staging copy fits');
    const bytes = this.#bytes;
    const at = this.#used;
    if (length <= SMALL_COPY_BYTES) {
      for (let byte = 0; byte < length; byte++) bytes[at + byte] = source[offset + byte]!;
    } else {
      bytes.set(source.subarray(offset, offset + length), at);
    }
    this.#used = at + length;
  }

  /**
   * Writes the encoded value of a stored entry (value-codec.ts writeShaped) into the buffer;
   * returns its bytes, valid until the next flush.
   */
  stage(shape: number, hole: number, source: Uint8Array, offset: number, length: number, encodedLength: number, lsn: Lsn): Uint8Array {
    assert(this.fits(encodedLength), 'staged value fits');
    const at = this.#used;
    if (shape === SHAPE_ENCODED) this.copy(source, offset, length);
    else this.#used = writeShaped(shape, hole, source, offset, length, this.#bytes, at, lsn);
    assert(this.#used === at + encodedLength, 'a staged value has its encoded length');
    return this.#bytes.subarray(at, at + encodedLength);
  }

  async flush(): Promise<void> {
    if (this.#used === 0) return;
    await this.#file.append(this.#bytes.subarray(0, this.#used));
    this.#used = 0;
  }
}

/** Appends every blob in snapshot order; returns the filled index. */
async function appendValues(file: CrashSafeFileWriter, snapshot: DeltaLayerSnapshot): Promise<Buffer> {
  const { entryLsn, entrySource, entryOffset, entryLength, entryShape, entryHole, keyEntriesEnd, lsnStart, lsnEnd } = snapshot;
  assert(Number.isSafeInteger(lsnEnd) && lsnStart >= 0, 'the LSN range is made of safe integers');
  const keyBytes = Buffer.from(snapshot.keysHex, 'hex');
  assert(keyBytes.length === keyEntriesEnd.length * KEY_BYTES, 'every key is 18 bytes of hex');
  const index = Buffer.alloc(entryLsn.length * INDEX_ENTRY_BYTES);
  const view = new DataView(index.buffer, index.byteOffset, index.length);
  const sources = snapshot.sources.map((buffer) => new Uint8Array(buffer));
  const staging = new StagingBuffer(file);
  let position = file.length;
  let entry = 0;
  for (let key = 0; key < keyEntriesEnd.length; key++) {
    const end = keyEntriesEnd[key]!;
    assert(end > entry, 'every key has at least one entry');
    const keyAt = key * KEY_BYTES;
    let previousLsn = -1;
    for (; entry < end; entry++) {
      const lsn = entryLsn[entry]!;
      assert(lsn > previousLsn && lsn >= lsnStart && lsn < lsnEnd, 'versions of a key ascend inside the layer range');
      previousLsn = lsn;
      const source = sources[entrySource[entry]!];
      const offset = entryOffset[entry]!;
      const length = entryLength[entry]!;
      const shape = entryShape[entry]!;
      const hole = entryHole[entry]!;
      assert(source !== undefined && length > 0 && offset + length <= source.length, 'an entry lies inside its source');
      const encodedLength = shapedEncodedLength(shape, hole, length);
      if (!staging.fits(encodedLength)) await staging.flush();
      let encoded: Uint8Array;
      if (staging.fits(encodedLength)) {
        encoded = staging.stage(shape, hole, source, offset, length, encodedLength, lsn);
      } else {
        encoded = shape === SHAPE_ENCODED ? source.subarray(offset, offset + length) : new Uint8Array(encodedLength);
        if (shape !== SHAPE_ENCODED) writeShaped(shape, hole, source, offset, length, encoded, 0, lsn);
        await file.append(encoded);
      }
      const at = entry * INDEX_ENTRY_BYTES;
      for (let byte = 0; byte < KEY_BYTES; byte++) index[at + byte] = keyBytes[keyAt + byte]!;
      index[at + 18] = encodedWillInit(encoded, 0) ? FLAG_WILL_INIT : 0;
      setU64(view, at + 20, lsn);
      setU64(view, at + 28, position);
      view.setUint32(at + 36, encodedLength, true);
      view.setUint32(at + 40, crc32cOfRange(encoded, 0, encodedLength), true);
      position += encodedLength;
    }
  }
  await staging.flush();
  assert(position === file.length, 'index positions match the bytes appended');
  return index;
}

async function appendIndexAndHeader(file: CrashSafeFileWriter, snapshot: DeltaLayerSnapshot, index: Buffer): Promise<void> {
  const entryCount = snapshot.entryLsn.length;
  let lsnMax = -1;
  for (let entry = 0; entry < entryCount; entry++) lsnMax = Math.max(lsnMax, snapshot.entryLsn[entry]!);
  const indexOffset = file.length;
  await file.append(index);
  const header = encodeHeader({
    kind: LayerFileKind.Delta, keyStart: snapshot.keyStart, keyEnd: snapshot.keyEnd,
    lsnStart: snapshot.lsnStart, lsnEnd: snapshot.lsnEnd, entryCount, keyCount: snapshot.keyEntriesEnd.length,
    valuesOffset: HEADER_BYTES, valuesLength: indexOffset - HEADER_BYTES, indexOffset, indexLength: index.length, lsnMax,
  });
  await file.append(encodeFooter(crc32c(index), header.readUInt32LE(124)));
  await file.writeAt(0, header);
}

/** Opens and verifies a delta layer file whose name parsed as `name`. */
export async function openDeltaLayer(path: string, name: LayerName, handles: FileHandleCache, indexCache?: LayerIndexCache): Promise<LayerFileReader> {
  assert(name.kind === 'delta', 'openDeltaLayer needs a delta layer name');
  const reader = await LayerFileReader.open(path, name, handles, indexCache);
  assert(!reader.isImage, 'a verified delta file has the delta kind');
  return reader;
}
