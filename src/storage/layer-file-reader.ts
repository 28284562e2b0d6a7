/**
 * Reads a layer file (format: layer-file-format.ts) without loading its values into memory.
 *
 * `open` reads and checks the header (magic, version, checksum), the footer and the index (its
 * checksum), and that the header agrees with the file name and size. The index stays in memory
 * (48 bytes per version) and is binary-searched in place: a lookup costs O(log entries) byte
 * comparisons and no allocation besides the returned refs. Values are fetched with positioned
 * reads through the bounded FileHandleCache and checked against their per-blob CRC-32C.
 * Every failed check is a PS_ERR_IO naming the file.
 */
import { basename } from 'node:path';
import { KEY_BYTES, type Key } from '../keys.js';
import type { Lsn } from '../lsn.js';
import { StrataError } from '../errors.js';
import { assert } from '../assert.js';
import { crc32c } from './checksum.js';
import { readFully } from './crashsafe.js';
import type { FileHandleCache } from './file-handle-cache.js';
import {
  compareEntryKey, decodeFooter, decodeHeader, FLAG_WILL_INIT, FOOTER_BYTES, HEADER_BYTES, INDEX_ENTRY_BYTES,
  LayerFileKind, readU64, type LayerFileHeader,
} from './layer-file-format.js';
import type { LayerName } from './layer-name.js';
import type { SearchableLayer, VersionRef } from './searchable-layer.js';
import { decodeValue } from './value-codec.js';
import { LayerIndexCache, type IndexHolder } from './layer-index-cache.js';
import type { Value } from '../value.js';

/** One-entry memo: a search converts the same key for every layer it visits. */
let memoKey: Key = '';
let memoBytes: Buffer = Buffer.alloc(KEY_BYTES);
function keyBytes(key: Key): Buffer {
  if (key !== memoKey) {
    memoBytes = Buffer.from(key, 'hex');
    memoKey = key;
  }
  return memoBytes;
}

/** One version as compaction reads it: encoded bytes, checked. */
export interface ScannedEntry {
  key: Key;
  lsn: Lsn;
  willInit: boolean;
  encoded: Uint8Array;
}

function corruptFile(path: string, reason: string): StrataError {
  return new StrataError('PS_ERR_IO', `layer file ${basename(path)} is corrupt: ${reason}`, { path });
}

export class LayerFileReader implements SearchableLayer, IndexHolder {
  readonly path: string;
  readonly header: LayerFileHeader;
  readonly fileBytes: number;
  /** The index while resident (layer-index-cache.ts decides); read back and re-checked when needed. */
  #index: Buffer | undefined;
  readonly #indexChecksum: number;
  readonly #indexCache: LayerIndexCache;
  #pins = 0;
  #loading: Promise<void> | undefined;
  readonly #handles: FileHandleCache;

  private constructor(path: string, header: LayerFileHeader, index: Buffer, indexChecksum: number, fileBytes: number, handles: FileHandleCache, indexCache: LayerIndexCache) {
    this.path = path;
    this.header = header;
    this.#index = index;
    this.#indexChecksum = indexChecksum;
    this.fileBytes = fileBytes;
    this.#handles = handles;
    this.#indexCache = indexCache;
  }

  get indexBytes(): number { return this.header.indexLength; }
  get indexPinned(): boolean { return this.#pins > 0; }
  get indexResident(): boolean { return this.#index !== undefined; }

  dropIndex(): void {
    assert(this.#pins === 0, 'a pinned index is never dropped');
    this.#index = undefined;
  }

  /**
   * Makes the index resident (reading and checking it again if the cache dropped it) and pins it
   * until `releaseIndex`: for searches that await the load, and for long scans.
   */
  async acquireIndex(): Promise<void> {
    this.#pins++;
    try {
      while (this.#index === undefined) {
        this.#loading ??= this.#readIndex().finally(() => { this.#loading = undefined; });
        await this.#loading;
      }
      this.#indexCache.touch(this);
    } catch (error) {
      this.#pins--;
      throw error;
    }
  }

  releaseIndex(): void {
    assert(this.#pins > 0, 'release of an index that was not acquired');
    this.#pins--;
  }

  async #readIndex(): Promise<void> {
    const index = await this.#handles.withHandle(this.path, (handle) => readFully(handle, this.path, this.header.indexOffset, this.header.indexLength));
    if (crc32c(index) !== this.#indexChecksum) throw corruptFile(this.path, 'index checksum mismatch on re-read');
    this.#index = index;
    this.#indexCache.admit(this);
  }

  /** The resident index, for the synchronous searches (the layer map acquires it first when needed). */
  #resident(): Buffer {
    const index = this.#index;
    assert(index !== undefined, `index of ${this.description} is resident when searched`);
    this.#indexCache.touch(this);
    return index;
  }

  /** Forgets this reader in the index cache (the layer left the map). */
  forgetIndex(): void {
    this.#indexCache.remove(this);
  }

  /**
   * Opens and verifies a layer file; `expected` is the layer its file name announces. Its index
   * joins `indexCache` (default: a cache of its own, unbounded, for tools and tests).
   */
  static async open(path: string, expected: LayerName, handles: FileHandleCache, indexCache: LayerIndexCache = new LayerIndexCache(Number.MAX_SAFE_INTEGER)): Promise<LayerFileReader> {
    return handles.withHandle(path, async (handle) => {
      const fileBytes = await handle.size();
      if (fileBytes < HEADER_BYTES + FOOTER_BYTES) throw corruptFile(path, `only ${fileBytes} bytes`);
      const header = decodeHeader(await readFully(handle, path, 0, HEADER_BYTES));
      if (typeof header === 'string') throw corruptFile(path, header);
      const footer = decodeFooter(await readFully(handle, path, fileBytes - FOOTER_BYTES, FOOTER_BYTES));
      if (typeof footer === 'string') throw corruptFile(path, footer);
      checkHeader(path, header, expected, fileBytes);
      const index = await readFully(handle, path, header.indexOffset, header.indexLength);
      if (crc32c(index) !== footer.indexChecksum) throw corruptFile(path, 'index checksum mismatch');
      const reader = new LayerFileReader(path, header, index, footer.indexChecksum, fileBytes, handles, indexCache);
      reader.#checkIndexBounds(index);
      indexCache.admit(reader);
      return reader;
    });
  }

  get description(): string { return basename(this.path); }
  get kind(): 'delta' | 'image' { return this.header.kind === LayerFileKind.Image ? 'image' : 'delta'; }
  get keyStart(): Key { return this.header.keyStart; }
  get keyEnd(): Key { return this.header.keyEnd; }
  get lsnStart(): Lsn { return this.header.lsnStart; }
  get lsnEnd(): Lsn { return this.header.lsnEnd; }
  get entryCount(): number { return this.header.entryCount; }
  get isImage(): boolean { return this.header.kind === LayerFileKind.Image; }

  #checkIndexBounds(index: Buffer): void {
    const valuesEnd = this.header.valuesOffset + this.header.valuesLength;
    for (let entry = 0; entry < this.header.entryCount; entry++) {
      const offset = entry * INDEX_ENTRY_BYTES;
      const blobOffset = readU64(index, offset + 28);
      const blobLength = index.readUInt32LE(offset + 36);
      const lsn = readU64(index, offset + 20);
      if (blobOffset < this.header.valuesOffset || blobOffset + blobLength > valuesEnd || blobLength === 0) {
        throw corruptFile(this.path, `index entry ${entry} points outside the values`);
      }
      if (lsn < this.header.lsnStart || lsn >= this.header.lsnEnd) throw corruptFile(this.path, `index entry ${entry} LSN outside the layer`);
    }
  }

  /** First entry whose key is ≥ `key` (entryCount when none). */
  #lowerBound(index: Buffer, key: Buffer): number {
    let low = 0;
    let high = this.header.entryCount;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compareEntryKey(index, middle * INDEX_ENTRY_BYTES, key) < 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }

  collectVersions(key: Key, lsnMax: Lsn, into: VersionRef[]): void {
    if (key < this.header.keyStart || key >= this.header.keyEnd || lsnMax < this.header.lsnStart) return;
    const bytes = keyBytes(key);
    const index = this.#resident();
    for (let entry = this.#lowerBound(index, bytes); entry < this.header.entryCount; entry++) {
      const offset = entry * INDEX_ENTRY_BYTES;
      if (compareEntryKey(index, offset, bytes) !== 0) break;
      const lsn = readU64(index, offset + 20);
      if (lsn > lsnMax) break;
      into.push({
        lsn,
        willInit: (index[offset + 18]! & FLAG_WILL_INIT) !== 0,
        layer: this,
        position: readU64(index, offset + 28),
        length: index.readUInt32LE(offset + 36),
        checksum: index.readUInt32LE(offset + 40),
      });
    }
  }

  /** True when the file holds a version of some key in [start, end) (index only, no I/O). */
  hasKeysIn(start: Key, end: Key): boolean {
    if (end <= this.header.keyStart || start >= this.header.keyEnd) return false;
    const index = this.#resident();
    const first = this.#lowerBound(index, keyBytes(start));
    if (first >= this.header.entryCount) return false;
    const offset = first * INDEX_ENTRY_BYTES;
    return index.toString('hex', offset, offset + KEY_BYTES) < end;
  }

  async readValue(ref: VersionRef): Promise<Value> {
    const [value] = await this.readValues([ref]);
    assert(value !== undefined, 'one ref reads one value');
    return value;
  }

  /**
   * Versions of one key are adjacent in the file (index order is value order), so a span of
   * back-to-back blobs is fetched with one positioned read, then split and checked blob by blob.
   */
  async readValues(refs: readonly VersionRef[]): Promise<Value[]> {
    const order = refs.map((_, index) => index).sort((left, right) => refs[left]!.position - refs[right]!.position);
    const values = new Array<Value>(refs.length);
    let spanStart = 0;
    while (spanStart < order.length) {
      let spanEnd = spanStart + 1;
      while (spanEnd < order.length && refs[order[spanEnd]!]!.position === refs[order[spanEnd - 1]!]!.position + refs[order[spanEnd - 1]!]!.length) spanEnd++;
      const first = refs[order[spanStart]!]!;
      const last = refs[order[spanEnd - 1]!]!;
      const bytes = await this.#handles.withHandle(this.path, (handle) => readFully(handle, this.path, first.position, last.position + last.length - first.position));
      for (let index = spanStart; index < spanEnd; index++) {
        const ref = refs[order[index]!]!;
        values[order[index]!] = this.#decodeChecked(ref, bytes.subarray(ref.position - first.position, ref.position - first.position + ref.length));
      }
      spanStart = spanEnd;
    }
    return values;
  }

  #decodeChecked(ref: VersionRef, bytes: Uint8Array): Value {
    assert(ref.layer === this, 'version belongs to another layer');
    if (crc32c(bytes) !== ref.checksum) throw corruptFile(this.path, `value checksum mismatch at offset ${ref.position}`);
    try {
      return decodeValue(bytes);
    } catch (error) {
      throw corruptFile(this.path, (error as Error).message);
    }
  }

  collectKeys(start: Key, end: Key, lsnMax: Lsn, into: Set<Key>): void {
    if (end <= this.header.keyStart || start >= this.header.keyEnd || lsnMax < this.header.lsnStart) return;
    const index = this.#resident();
    for (let entry = this.#lowerBound(index, keyBytes(start)); entry < this.header.entryCount; entry++) {
      const offset = entry * INDEX_ENTRY_BYTES;
      const key = index.toString('hex', offset, offset + KEY_BYTES);
      if (key >= end) break;
      if (readU64(index, offset + 20) <= lsnMax) into.add(key);
    }
  }

  /**
   * Every version in file (key, LSN) order with its encoded bytes (value-codec.ts), each checked
   * against its CRC-32C, for compaction. Values are read in spans of about `spanBytes`, so memory
   * is one span whatever the file size. The yielded bytes are the caller's until the next step.
   */
  async *scanEncoded(spanBytes = 1024 * 1024): AsyncGenerator<ScannedEntry> {
    await this.acquireIndex();
    try {
      yield* this.#scan(this.#index!, spanBytes);
    } finally {
      this.releaseIndex();
    }
  }

  async *#scan(index: Buffer, spanBytes: number): AsyncGenerator<ScannedEntry> {
    const count = this.header.entryCount;
    let entry = 0;
    while (entry < count) {
      const first = entry;
      const start = readU64(index, first * INDEX_ENTRY_BYTES + 28);
      let end = start;
      // Blobs are laid out in index order, back to back.
      while (entry < count) {
        const offset = entry * INDEX_ENTRY_BYTES;
        const position = readU64(index, offset + 28);
        const length = index.readUInt32LE(offset + 36);
        if (position !== end || (entry > first && position + length - start > spanBytes)) break;
        end = position + length;
        entry++;
      }
      if (entry === first) throw corruptFile(this.path, `index entry ${first} is not laid out in index order`);
      const span = await this.#handles.withHandle(this.path, (handle) => readFully(handle, this.path, start, end - start));
      for (let at = first; at < entry; at++) {
        const offset = at * INDEX_ENTRY_BYTES;
        const position = readU64(index, offset + 28) - start;
        const length = index.readUInt32LE(offset + 36);
        const encoded = span.subarray(position, position + length);
        if (crc32c(encoded) !== index.readUInt32LE(offset + 40)) throw corruptFile(this.path, `value checksum mismatch at offset ${position + start}`);
        yield {
          key: index.toString('hex', offset, offset + KEY_BYTES),
          lsn: readU64(index, offset + 20),
          willInit: (index[offset + 18]! & FLAG_WILL_INIT) !== 0,
          encoded,
        };
      }
    }
  }

  /** Every version in file order (tests, verification). Reads all values. */
  async *entries(): AsyncGenerator<{ key: Key; lsn: Lsn; value: Value }> {
    await this.acquireIndex();
    try {
      const index = this.#index!;
      for (let entry = 0; entry < this.header.entryCount; entry++) {
        const offset = entry * INDEX_ENTRY_BYTES;
        const key = index.toString('hex', offset, offset + KEY_BYTES);
        const refs: VersionRef[] = [];
        this.collectVersions(key, Number.MAX_SAFE_INTEGER, refs);
        const lsn = readU64(index, offset + 20);
        const ref = refs.find((candidate) => candidate.lsn === lsn);
        assert(ref !== undefined, 'an index entry is found by its own key');
        yield { key, lsn, value: await this.readValue(ref) };
      }
    } finally {
      this.releaseIndex();
    }
  }
}

function checkHeader(path: string, header: LayerFileHeader, expected: LayerName, fileBytes: number): void {
  const expectedKind = expected.kind === 'delta' ? LayerFileKind.Delta : LayerFileKind.Image;
  const lsnStart = expected.kind === 'delta' ? expected.lsnStart : expected.lsn;
  const lsnEnd = expected.kind === 'delta' ? expected.lsnEnd : expected.lsn + 1;
  if (header.kind !== expectedKind) throw corruptFile(path, 'layer kind differs from the file name');
  if (header.keyStart !== expected.keyStart || header.keyEnd !== expected.keyEnd) throw corruptFile(path, 'key range differs from the file name');
  if (header.lsnStart !== lsnStart || header.lsnEnd !== lsnEnd) throw corruptFile(path, 'LSN range differs from the file name');
  if (header.indexOffset + header.indexLength + FOOTER_BYTES !== fileBytes) throw corruptFile(path, 'size disagrees with the header (truncated?)');
  if (header.indexLength !== header.entryCount * INDEX_ENTRY_BYTES) throw corruptFile(path, 'index length disagrees with the entry count');
  if (header.valuesOffset !== HEADER_BYTES || header.valuesOffset + header.valuesLength !== header.indexOffset) {
    throw corruptFile(path, 'values region disagrees with the header');
  }
}
