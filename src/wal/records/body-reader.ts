/**
 * A little-endian cursor over a record body (main data or block data), shared by the typed record
 * decoders in this directory.
 *
 * WHY: every decoder reads C structs laid out by the primary (x86-64 / aarch64, little-endian,
 * natural alignment). Plain offsets keep decoding allocation-light: integers up to 32 bits are
 * read from the bytes directly, and the DataView (64-bit and float reads, or a caller's own use)
 * is only made when first needed; a read past the end is corrupt WAL, so it throws
 * PS_ERR_WAL_CORRUPT instead of returning garbage.
 */
import { StrataError } from '../../errors.js';
import { lsnFromParts, type Lsn } from '../../lsn.js';

export class BodyReader {
  readonly bytes: Uint8Array;
  offset: number;
  private readonly what: string;
  #view: DataView | undefined;

  constructor(bytes: Uint8Array, what: string, offset = 0) {
    this.bytes = bytes;
    this.offset = offset;
    this.what = what;
  }

  /** A DataView over the body (made on first use). */
  get view(): DataView {
    this.#view ??= new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    return this.#view;
  }

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  need(length: number): void {
    if (length < 0 || this.offset + length > this.bytes.length) {
      throw new StrataError('PS_ERR_WAL_CORRUPT', `${this.what}: body too short (need ${length} bytes at ${this.offset}, have ${this.bytes.length})`);
    }
  }

  /** Moves to an absolute offset (struct fields after padding). */
  seek(offset: number): this {
    this.need(offset - this.offset);
    this.offset = offset;
    return this;
  }

  skip(length: number): this {
    this.need(length);
    this.offset += length;
    return this;
  }

  /** Aligns the cursor to a multiple of `alignment` bytes, relative to the body start. */
  align(alignment: number): this {
    const misaligned = this.offset % alignment;
    if (misaligned !== 0) this.offset = Math.min(this.bytes.length, this.offset + alignment - misaligned);
    return this;
  }

  u8(): number {
    this.need(1);
    return this.bytes[this.offset++]!;
  }

  bool(): boolean {
    return this.u8() !== 0;
  }

  i8(): number {
    this.need(1);
    return (this.bytes[this.offset++]! << 24) >> 24;
  }

  u16(): number {
    this.need(2);
    const bytes = this.bytes;
    const at = this.offset;
    this.offset = at + 2;
    return bytes[at]! | (bytes[at + 1]! << 8);
  }

  u32(): number {
    return this.i32() >>> 0;
  }

  i32(): number {
    this.need(4);
    const bytes = this.bytes;
    const at = this.offset;
    this.offset = at + 4;
    return bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
  }

  /** A non-negative count stored as int32; a negative or absurd count is corrupt WAL. */
  count(elementBytes: number): number {
    const value = this.i32();
    if (value < 0 || value * elementBytes > this.remaining) {
      throw new StrataError('PS_ERR_WAL_CORRUPT', `${this.what}: bad element count ${value}`);
    }
    return value;
  }

  /** An XLogRecPtr or other u64 that fits a JS number (LSNs are bounded to 2^53 in Strata). */
  u64(): Lsn {
    const low = this.u32();
    const high = this.u32();
    return lsnFromParts(high, low);
  }

  /** A signed 64-bit value (TimestampTz, int64 counters) as bigint: exact, never truncated. */
  i64(): bigint {
    this.need(8);
    const value = this.view.getBigInt64(this.offset, true);
    this.offset += 8;
    return value;
  }

  f64(): number {
    this.need(8);
    const value = this.view.getFloat64(this.offset, true);
    this.offset += 8;
    return value;
  }

  /** A RelFileNode: spcNode, dbNode, relNode. */
  relFileNode(): { spcNode: number; dbNode: number; relNode: number } {
    return { spcNode: this.u32(), dbNode: this.u32(), relNode: this.u32() };
  }

  u16Array(count: number): number[] {
    this.need(count * 2);
    const values = new Array<number>(count);
    for (let index = 0; index < count; index++) values[index] = this.u16();
    return values;
  }

  u32Array(count: number): number[] {
    this.need(count * 4);
    const values = new Array<number>(count);
    for (let index = 0; index < count; index++) values[index] = this.u32();
    return values;
  }

  /** A view (no copy) of the next `length` bytes. */
  slice(length: number): Uint8Array {
    this.need(length);
    const part = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return part;
  }

  rest(): Uint8Array {
    return this.slice(this.remaining);
  }

  /** A NUL-terminated string (the terminator is consumed). */
  cstring(): string {
    const end = this.bytes.indexOf(0, this.offset);
    if (end < 0) throw new StrataError('PS_ERR_WAL_CORRUPT', `${this.what}: unterminated string`);
    const text = Buffer.from(this.bytes.buffer, this.bytes.byteOffset + this.offset, end - this.offset).toString('utf8');
    this.offset = end + 1;
    return text;
  }

  /** A fixed-size char[length] field holding a NUL-terminated string. */
  fixedString(length: number): string {
    const field = this.slice(length);
    const end = field.indexOf(0);
    return Buffer.from(field.buffer, field.byteOffset, end < 0 ? length : end).toString('utf8');
  }
}

/** The rmgr-owned bits of xl_info (the record type). */
export function recordType(info: number): number {
  return info & 0xf0;
}

export function unsupportedRecord(rmgr: string, info: number): StrataError {
  return new StrataError('PS_ERR_WAL_UNSUPPORTED', `${rmgr}: unknown record type 0x${(info & 0xf0).toString(16).padStart(2, '0')}`, { rmgr, info });
}

/** Finds a block reference by id (decoders name the role of each block). */
export function blockData(blocks: readonly { blockId: number; data: Uint8Array }[], blockId: number): Uint8Array | undefined {
  for (const block of blocks) if (block.blockId === blockId) return block.data;
  return undefined;
}
