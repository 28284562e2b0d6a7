/**
 * Streams a layer file (format: layer-file-format.ts) to disk crash-safely.
 *
 * Entries must arrive in (key, LSN) order. Value blobs are appended through the crash-safe
 * writer's bounded buffer while the index (48 bytes per entry) grows in memory; `finish` appends
 * the index and footer, patches the header (counts are known only then), fsyncs and renames the
 * temp file to its layer name. Memory use is therefore the index, never the values.
 * The creator names the failpoints of the commit (crashsafe.ts CommitFailpoints) for its kind of
 * file: the image import names the image-layer ones.
 */
import { join } from 'node:path';
import { assert } from '../assert.js';
import { KEY_BYTES, type Key } from '../keys.js';
import type { Lsn } from '../lsn.js';
import { crc32c } from './checksum.js';
import { CrashSafeFileWriter, type CommitFailpoints } from './crashsafe.js';
import type { Fs } from './fs.js';
import {
  encodeFooter, encodeHeader, FLAG_WILL_INIT, HEADER_BYTES, INDEX_ENTRY_BYTES, LayerFileKind, writeU64,
} from './layer-file-format.js';
import { formatLayerName, keySuccessor } from './layer-name.js';
import { encodedWillInit, ValueTag } from './value-codec.js';

const IMAGE_TAG = Uint8Array.of(ValueTag.Image);
const IMAGE_TAG_CRC = crc32c(IMAGE_TAG);
const INITIAL_INDEX_BYTES = 64 * INDEX_ENTRY_BYTES;

export interface FinishedLayerFile {
  /** The layer file name (layer-name.ts). */
  fileName: string;
  /** Where the file is: `<directory>/<fileName>`, or its staged path (see `finish`). */
  path: string;
  entryCount: number;
  fileBytes: number;
}

export class LayerFileWriter {
  readonly #kind: LayerFileKind;
  readonly #directory: string;
  readonly #file: CrashSafeFileWriter;
  readonly #failpoints: CommitFailpoints;
  #index = Buffer.alloc(INITIAL_INDEX_BYTES);
  #entryCount = 0;
  #keyCount = 0;
  #lastKey: Key | undefined;
  #firstKey: Key | undefined;
  #lastLsn = -1;
  #lsnMin = Number.MAX_SAFE_INTEGER;
  #lsnMax = -1;

  private constructor(kind: LayerFileKind, directory: string, file: CrashSafeFileWriter, failpoints: CommitFailpoints) {
    this.#kind = kind;
    this.#directory = directory;
    this.#file = file;
    this.#failpoints = failpoints;
  }

  static async create(fs: Fs, directory: string, kind: LayerFileKind, failpoints: CommitFailpoints = {}): Promise<LayerFileWriter> {
    const file = await CrashSafeFileWriter.create(fs, join(directory, kind === LayerFileKind.Delta ? 'delta' : 'image'));
    const writer = new LayerFileWriter(kind, directory, file, failpoints);
    try {
      await file.append(Buffer.alloc(HEADER_BYTES));
    } catch (error) {
      await file.abort();
      throw error;
    }
    return writer;
  }

  get entryCount(): number { return this.#entryCount; }
  /** Bytes written so far plus the index still to come. */
  get bytesEstimate(): number { return this.#file.length + this.#entryCount * INDEX_ENTRY_BYTES; }
  get lastKey(): Key | undefined { return this.#lastKey; }

  /** Adds one encoded value (value-codec.ts) of `key` at `lsn`. */
  async add(key: Key, lsn: Lsn, encoded: Uint8Array): Promise<void> {
    this.#addIndexEntry(key, lsn, encodedWillInit(encoded, 0), encoded.length, crc32c(encoded));
    await this.#file.append(encoded);
  }

  /** Adds a page image without first copying it into an encoded value. */
  async addImage(key: Key, lsn: Lsn, page: Uint8Array): Promise<void> {
    this.#addIndexEntry(key, lsn, true, 1 + page.length, crc32c(page, IMAGE_TAG_CRC));
    await this.#file.append(IMAGE_TAG);
    await this.#file.append(page);
  }

  /**
   * `addImage` without I/O: adds the image when the file's write buffer has room for it now, and
   * returns false (nothing added) when it has not.
   */
  tryAddImage(key: Key, lsn: Lsn, page: Uint8Array): boolean {
    if (this.#file.bufferSpace < 1 + page.length) return false;
    this.#addIndexEntry(key, lsn, true, 1 + page.length, crc32c(page, IMAGE_TAG_CRC));
    const copied = this.#file.appendSync(IMAGE_TAG) && this.#file.appendSync(page);
    assert(copied, 'the write buffer had room for the image');
    return true;
  }

  #addIndexEntry(key: Key, lsn: Lsn, willInit: boolean, length: number, checksum: number): void {
    assert(this.#lastKey === undefined || key > this.#lastKey || (key === this.#lastKey && lsn > this.#lastLsn),
      'layer entries must arrive in strictly ascending (key, LSN) order');
    if (key !== this.#lastKey) this.#keyCount++;
    this.#growIndex();
    const offset = this.#entryCount * INDEX_ENTRY_BYTES;
    const index = this.#index;
    index.write(key, offset, KEY_BYTES, 'hex');
    index[offset + 18] = willInit ? FLAG_WILL_INIT : 0;
    index[offset + 19] = 0;
    writeU64(index, offset + 20, lsn);
    writeU64(index, offset + 28, this.#file.length);
    index.writeUInt32LE(length, offset + 36);
    index.writeUInt32LE(checksum, offset + 40);
    index.writeUInt32LE(0, offset + 44);
    this.#entryCount++;
    this.#firstKey ??= key;
    this.#lastKey = key;
    this.#lastLsn = lsn;
    if (lsn < this.#lsnMin) this.#lsnMin = lsn;
    if (lsn > this.#lsnMax) this.#lsnMax = lsn;
  }

  #growIndex(): void {
    const needed = (this.#entryCount + 1) * INDEX_ENTRY_BYTES;
    if (needed <= this.#index.length) return;
    const grown = Buffer.alloc(this.#index.length * 2);
    this.#index.copy(grown, 0, 0, this.#entryCount * INDEX_ENTRY_BYTES);
    this.#index = grown;
  }

  /**
   * Completes and publishes the file. The key range defaults to [first key, successor(last key));
   * the LSN range must contain every LSN added. `stagedPath` (same directory) maps the layer file
   * name to the path the file is committed under instead, for writers that publish several files
   * together later (a bulk import: a temp name keeps a crash from leaving part of them visible).
   */
  async finish(range: { lsnStart: Lsn; lsnEnd: Lsn; keyStart?: Key; keyEnd?: Key; stagedPath?: (fileName: string) => string }): Promise<FinishedLayerFile> {
    assert(this.#entryCount > 0 && this.#firstKey !== undefined && this.#lastKey !== undefined, 'a layer file holds at least one entry');
    assert(range.lsnStart <= this.#lsnMin && this.#lsnMax < range.lsnEnd, 'LSN range covers every entry');
    const keyStart = range.keyStart ?? this.#firstKey;
    const keyEnd = range.keyEnd ?? keySuccessor(this.#lastKey);
    assert(keyStart <= this.#firstKey && this.#lastKey < keyEnd, 'key range covers every entry');
    try {
      const valuesLength = this.#file.length - HEADER_BYTES;
      const index = this.#index.subarray(0, this.#entryCount * INDEX_ENTRY_BYTES);
      const indexOffset = this.#file.length;
      await this.#file.append(index);
      const header = encodeHeader({
        kind: this.#kind, keyStart, keyEnd, lsnStart: range.lsnStart, lsnEnd: range.lsnEnd,
        entryCount: this.#entryCount, keyCount: this.#keyCount, valuesOffset: HEADER_BYTES, valuesLength,
        indexOffset, indexLength: index.length, lsnMax: this.#lsnMax,
      });
      await this.#file.append(encodeFooter(crc32c(index), header.readUInt32LE(124)));
      await this.#file.writeAt(0, header);
    } catch (error) {
      await this.#file.abort();
      throw error;
    }
    const fileName = this.#kind === LayerFileKind.Delta
      ? formatLayerName({ kind: 'delta', keyStart, keyEnd, lsnStart: range.lsnStart, lsnEnd: range.lsnEnd })
      : formatLayerName({ kind: 'image', keyStart, keyEnd, lsn: range.lsnStart });
    const path = range.stagedPath === undefined ? join(this.#directory, fileName) : range.stagedPath(fileName);
    const fileBytes = this.#file.length;
    await this.#file.commit(path, this.#failpoints);
    return { fileName, path, entryCount: this.#entryCount, fileBytes };
  }

  async abort(): Promise<void> {
    await this.#file.abort();
  }
}
