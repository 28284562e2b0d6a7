/**
 * Test helper: builds WAL byte for byte as PostgreSQL 15 lays it out, so decoder tests can make
 * records that span pages and segments, switch segments, or carry corrupted fields.
 *
 * WHY hand-built WAL: real WAL proves compatibility (see the waldump comparison test) but cannot
 * be steered into every edge; these bytes can. The layout is the one documented in
 * src/wal/wal-decoder.ts (page headers) and src/wal/xlog-record.ts (records).
 */
import { crc32cFinish, crc32cUpdate, CRC32C_INIT } from '../../../src/wal/crc32c.js';
import type { Lsn } from '../../../src/lsn.js';
import { BLCKSZ, pageInit, pageSetLsn } from '../../../src/walredo/page.js';

export const PAGE = 8192;

export interface BlockSpec {
  id: number;
  fork?: number;
  rel?: { spcNode: number; dbNode: number; relNode: number };
  /** When set, BKPBLOCK_SAME_REL is used (rel omitted). */
  sameRel?: boolean;
  block: number;
  willInit?: boolean;
  data?: Uint8Array;
  image?: { bytes: Uint8Array; holeOffset: number; holeLength: number; info: number };
}

export interface RecordSpec {
  xid?: number;
  rmgr: number;
  info: number;
  blocks?: BlockSpec[];
  mainData?: Uint8Array;
  origin?: number;
  toplevelXid?: number;
}

class ByteList {
  private readonly parts: number[] = [];
  u8(value: number): this { this.parts.push(value & 0xff); return this; }
  u16(value: number): this { return this.u8(value).u8(value >>> 8); }
  u32(value: number): this { return this.u16(value & 0xffff).u16(value >>> 16); }
  u64(value: number): this { return this.u32(value % 0x1_0000_0000).u32(Math.floor(value / 0x1_0000_0000)); }
  bytes(values: Uint8Array): this { for (const value of values) this.parts.push(value); return this; }
  get length(): number { return this.parts.length; }
  toBytes(): Uint8Array { return Uint8Array.from(this.parts); }
}

/** Serializes a record with a correct CRC; `prevLsn` goes into xl_prev. */
export function buildRecord(spec: RecordSpec, prevLsn: Lsn): Uint8Array {
  const headers = new ByteList();
  const payload = new ByteList();
  for (const block of spec.blocks ?? []) {
    let forkFlags = block.fork ?? 0;
    if (block.image) forkFlags |= 0x10;
    if (block.data && block.data.length > 0) forkFlags |= 0x20;
    if (block.willInit) forkFlags |= 0x40;
    if (block.sameRel) forkFlags |= 0x80;
    headers.u8(block.id).u8(forkFlags).u16(block.data?.length ?? 0);
    if (block.image) {
      const { bytes, holeOffset, holeLength, info } = block.image;
      headers.u16(bytes.length).u16(holeOffset).u8(info);
      if ((info & 0x1c) !== 0 && (info & 0x01) !== 0) headers.u16(holeLength);
      payload.bytes(bytes);
    }
    if (!block.sameRel) {
      const rel = block.rel ?? { spcNode: 1663, dbNode: 5, relNode: 16384 };
      headers.u32(rel.spcNode).u32(rel.dbNode).u32(rel.relNode);
    }
    headers.u32(block.block);
    if (block.data) payload.bytes(block.data);
  }
  if (spec.origin !== undefined) headers.u8(253).u16(spec.origin);
  if (spec.toplevelXid !== undefined) headers.u8(252).u32(spec.toplevelXid);
  const mainData = spec.mainData ?? new Uint8Array(0);
  if (mainData.length > 0) {
    if (mainData.length < 256) headers.u8(255).u8(mainData.length);
    else headers.u8(254).u32(mainData.length);
    payload.bytes(mainData);
  }
  const totalLength = 24 + headers.length + payload.length;
  const record = new ByteList()
    .u32(totalLength).u32(spec.xid ?? 0).u64(prevLsn).u8(spec.info).u8(spec.rmgr).u16(0).u32(0)
    .bytes(headers.toBytes()).bytes(payload.toBytes()).toBytes();
  let crc = crc32cUpdate(CRC32C_INIT, record, 24, totalLength);
  crc = crc32cUpdate(crc, record, 0, 20);
  new DataView(record.buffer).setUint32(20, crc32cFinish(crc), true);
  return record;
}

/**
 * Lays records into pages from `startLsn` (a page boundary), writing short and long page
 * headers, continuation flags and remaining lengths, and the padding after a switch record.
 */
export class WalBuilder {
  readonly startLsn: Lsn;
  readonly segmentSize: number;
  private output: Uint8Array;
  private position: Lsn;
  private lastRecordLsn: Lsn;
  readonly recordLsns: Lsn[] = [];
  /** Where each record's last byte ends (page headers counted, before alignment). */
  readonly rawEnds: Lsn[] = [];
  /** Each record's EndRecPtr as PostgreSQL's xlogreader gives it (aligned; a switch: segment end). */
  readonly recordEnds: Lsn[] = [];

  constructor(startLsn: Lsn, options: { segmentSize?: number; prevLsn?: Lsn; systemIdentifier?: number } = {}) {
    this.startLsn = startLsn;
    this.segmentSize = options.segmentSize ?? 16 * 1024 * 1024;
    this.output = new Uint8Array(PAGE * 4);
    this.position = startLsn;
    this.lastRecordLsn = options.prevLsn ?? 0;
  }

  private ensure(lsn: Lsn): void {
    const needed = lsn - this.startLsn;
    if (needed <= this.output.length) return;
    let size = this.output.length;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.output);
    this.output = grown;
  }

  private writePageHeader(pageLsn: Lsn, remaining: number): void {
    const long = pageLsn % this.segmentSize === 0;
    const size = long ? 40 : 24;
    this.ensure(pageLsn + size);
    const view = new DataView(this.output.buffer, pageLsn - this.startLsn, size);
    view.setUint16(0, 0xd110, true);
    view.setUint16(2, (remaining > 0 ? 1 : 0) | (long ? 2 : 0), true);
    view.setUint32(4, 1, true);
    view.setUint32(8, pageLsn % 0x1_0000_0000, true);
    view.setUint32(12, Math.floor(pageLsn / 0x1_0000_0000), true);
    view.setUint32(16, remaining, true);
    if (long) {
      view.setUint32(24, 0x12345678, true);
      view.setUint32(28, 0x7654321, true);
      view.setUint32(32, this.segmentSize, true);
      view.setUint32(36, PAGE, true);
    }
    this.position = pageLsn + size;
  }

  /** Writes raw record bytes at the current position; returns the record's LSN. */
  writeRaw(record: Uint8Array): Lsn {
    if (this.position % PAGE === 0) this.writePageHeader(this.position, 0);
    const lsn = this.position;
    let written = 0;
    while (written < record.length) {
      if (this.position % PAGE === 0) this.writePageHeader(this.position, record.length - written);
      const room = PAGE - (this.position % PAGE);
      const piece = Math.min(room, record.length - written);
      this.ensure(this.position + piece);
      this.output.set(record.subarray(written, written + piece), this.position - this.startLsn);
      written += piece;
      this.position += piece;
    }
    this.recordLsns.push(lsn);
    this.rawEnds.push(this.position);
    this.lastRecordLsn = lsn;
    this.position = Math.ceil(this.position / 8) * 8;
    this.recordEnds.push(this.position);
    return lsn;
  }

  /** Builds (with the right xl_prev) and writes a record; returns its LSN. */
  add(spec: RecordSpec): Lsn {
    const record = buildRecord(spec, this.lastRecordLsn);
    return this.writeRaw(record);
  }

  /** Writes an XLOG SWITCH record; the next record goes to the next segment (zeros between). */
  addSwitch(): Lsn {
    const lsn = this.add({ rmgr: 0, info: 0x40 });
    const next = Math.ceil(this.position / this.segmentSize) * this.segmentSize;
    this.ensure(next);
    this.position = next;
    this.recordEnds[this.recordEnds.length - 1] = next;
    return lsn;
  }

  get endLsn(): Lsn {
    return this.position;
  }

  get previousRecordLsn(): Lsn {
    return this.lastRecordLsn;
  }

  /** The bytes from startLsn to the end of the last written page. */
  bytes(): Uint8Array {
    const end = Math.ceil(this.position / PAGE) * PAGE;
    this.ensure(end);
    return this.output.slice(0, end - this.startLsn);
  }
}

/** Deterministic filler bytes. */
export function filler(length: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed;
  for (let index = 0; index < length; index++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    bytes[index] = state >>> 24;
  }
  return bytes;
}

/**
 * A full-page image to restore (BKPIMAGE_APPLY, no hole): an initialized empty page with LSN 1
 * whose bytes 100..199 are `fill`, so images of different fills tell apart.
 */
export function appliedPageImage(fill: number): NonNullable<BlockSpec['image']> {
  const page = new Uint8Array(BLCKSZ);
  pageInit(page, 0);
  pageSetLsn(page, 1);
  page.fill(fill, 100, 200);
  return { bytes: page, holeOffset: 0, holeLength: 0, info: 0x02 };
}
