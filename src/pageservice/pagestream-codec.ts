/**
 * Neon's pagestream protocol, versions 2 and 3: the messages a compute and a page server exchange
 * inside libpq CopyData after `pagestream_v2 <tenant> <timeline>` or `pagestream_v3 …`. A pure
 * codec: bytes in, messages out, and back; no sockets (the page service frames CopyData around it).
 *
 * WHY Neon's layouts byte for byte: computes built for Neon's pageserver speak them (pgxn/neon
 * pagestore_client.h), so a page server that wants those computes must too. All integers are
 * big-endian.
 *
 * Requests (compute → page server): | tag u8 | header | body |
 *
 *   header v2   request_lsn u64 | not_modified_since u64                        (16 bytes)
 *   header v3   reqid u64 | request_lsn u64 | not_modified_since u64            (24 bytes)
 *
 *   tag  request          body
 *   0    Exists           spcnode u32 | dbnode u32 | relnode u32 | forknum u8
 *   1    Nblocks          spcnode u32 | dbnode u32 | relnode u32 | forknum u8
 *   2    GetPage          spcnode u32 | dbnode u32 | relnode u32 | forknum u8 | blkno u32
 *   3    DbSize           dbnode u32
 *   4    GetSlruSegment   kind u8 | segno u32
 *
 * Responses (page server → compute): | tag u8 | echo (v3 only) | body |
 *
 *   tag  response         v3 echo                              body
 *   100  Exists           header + rel                         exists u8
 *   101  Nblocks          header + rel                         n_blocks u32
 *   102  GetPage          header + rel + blkno                 page (8192 bytes)
 *   103  Error            header                               message, NUL-terminated
 *   104  DbSize           header + dbnode                      db_size i64
 *   105  GetSlruSegment   header + kind + segno                n_blocks u32 | n_blocks × 8192 bytes
 *
 *   In v2 nothing is echoed; the v3 echo repeats the request's header (reqid and both LSNs) and
 *   its fields, so a compute can check a response answers the request it thinks it does.
 *
 * LSNs: request_lsn may be Lsn::MAX (all ones: "the latest version", sent by a primary), which
 * parses to LATEST_LSN and is echoed back as all ones; any other LSN above 2^53 is refused
 * (src/lsn.ts). reqid is opaque and echoed as it came (a bigint).
 *
 * Errors: a message that is truncated, has an unknown tag, or has bytes left over is
 * PS_ERR_PROTOCOL with the tag in its context; the page service answers it with an Error message
 * or closes the stream.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { RelTag } from '../keys.js';
import type { Lsn } from '../lsn.js';

export type PagestreamVersion = 2 | 3;

export const BLCKSZ = 8192;
/** Lsn::MAX on the wire (u64 all ones): the latest version, whatever its LSN. */
export const LATEST_LSN = Number.POSITIVE_INFINITY;

export const enum RequestTag {
  Exists = 0,
  Nblocks = 1,
  GetPage = 2,
  DbSize = 3,
  GetSlruSegment = 4,
}

export const enum ResponseTag {
  Exists = 100,
  Nblocks = 101,
  GetPage = 102,
  Error = 103,
  DbSize = 104,
  GetSlruSegment = 105,
}

/** The fields every request carries. In v2 `reqid` is 0 (it is not on the wire). */
export interface RequestHeader {
  readonly reqid: bigint;
  /** LATEST_LSN for Lsn::MAX. */
  readonly requestLsn: Lsn;
  readonly notModifiedSince: Lsn;
}

export type PagestreamRequest =
  | { readonly kind: 'exists'; readonly header: RequestHeader; readonly rel: RelTag }
  | { readonly kind: 'nblocks'; readonly header: RequestHeader; readonly rel: RelTag }
  | { readonly kind: 'getPage'; readonly header: RequestHeader; readonly rel: RelTag; readonly blockNumber: number }
  | { readonly kind: 'dbSize'; readonly header: RequestHeader; readonly dbNode: number }
  | { readonly kind: 'getSlruSegment'; readonly header: RequestHeader; readonly slruKind: number; readonly segment: number };

/** A response names the request it answers (v3 echoes its fields). */
export type PagestreamResponse =
  | { readonly kind: 'exists'; readonly request: Extract<PagestreamRequest, { kind: 'exists' }>; readonly exists: boolean }
  | { readonly kind: 'nblocks'; readonly request: Extract<PagestreamRequest, { kind: 'nblocks' }>; readonly blocks: number }
  | { readonly kind: 'getPage'; readonly request: Extract<PagestreamRequest, { kind: 'getPage' }>; readonly page: Uint8Array }
  | { readonly kind: 'dbSize'; readonly request: Extract<PagestreamRequest, { kind: 'dbSize' }>; readonly bytes: number }
  | { readonly kind: 'getSlruSegment'; readonly request: Extract<PagestreamRequest, { kind: 'getSlruSegment' }>; readonly segmentBytes: Uint8Array }
  | { readonly kind: 'error'; readonly header: RequestHeader; readonly message: string };

const U64_ALL_ONES = 0xffff_ffff_ffff_ffffn;
const REL_BYTES = 13;

function protocolError(message: string, context: Record<string, unknown> = {}): StrataError {
  return new StrataError('PS_ERR_PROTOCOL', `pagestream: ${message}`, context);
}

/** A bounds-checked big-endian reader over one message. */
class Reader {
  readonly #view: DataView;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  #need(count: number): number {
    const at = this.#offset;
    if (at + count > this.#view.byteLength) throw protocolError(`message truncated at byte ${at} (needs ${count} more)`);
    this.#offset = at + count;
    return at;
  }

  u8(): number { return this.#view.getUint8(this.#need(1)); }
  u32(): number { return this.#view.getUint32(this.#need(4), false); }
  u64(): bigint { return this.#view.getBigUint64(this.#need(8), false); }

  i64(): number {
    const value = this.#view.getBigInt64(this.#need(8), false);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) throw protocolError(`i64 ${value} is beyond 2^53`);
    return Number(value);
  }

  /** A copy of the next `count` bytes. */
  bytes(count: number): Uint8Array {
    const at = this.#need(count);
    return new Uint8Array(this.#view.buffer.slice(this.#view.byteOffset + at, this.#view.byteOffset + at + count));
  }

  /** The bytes up to the next NUL (consumed with it). */
  cString(): Uint8Array {
    const start = this.#offset;
    const bytes = new Uint8Array(this.#view.buffer, this.#view.byteOffset, this.#view.byteLength);
    const nul = bytes.indexOf(0, start);
    if (nul < 0) throw protocolError('string without its NUL terminator');
    this.#offset = nul + 1;
    return bytes.slice(start, nul);
  }

  lsn(field: string): Lsn {
    const value = this.u64();
    if (value === U64_ALL_ONES) return LATEST_LSN;
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw protocolError(`${field} ${value.toString(16)} is beyond 2^53`);
    return Number(value);
  }

  end(tag: number): void {
    const left = this.#view.byteLength - this.#offset;
    if (left !== 0) throw protocolError(`${left} bytes left over in a message with tag ${tag}`, { tag });
  }
}

function readHeader(reader: Reader, version: PagestreamVersion): RequestHeader {
  const reqid = version === 3 ? reader.u64() : 0n;
  const requestLsn = reader.lsn('request_lsn');
  const notModifiedSince = reader.lsn('not_modified_since');
  return { reqid, requestLsn, notModifiedSince };
}

function readRel(reader: Reader): RelTag {
  return { spcNode: reader.u32(), dbNode: reader.u32(), relNode: reader.u32(), forkNumber: reader.u8() };
}

/** Parses one request (the payload of one CopyData). */
export function parsePagestreamRequest(bytes: Uint8Array, version: PagestreamVersion): PagestreamRequest {
  const reader = new Reader(bytes);
  const tag = reader.u8();
  const header = readHeader(reader, version);
  let request: PagestreamRequest;
  switch (tag) {
    case RequestTag.Exists: request = { kind: 'exists', header, rel: readRel(reader) }; break;
    case RequestTag.Nblocks: request = { kind: 'nblocks', header, rel: readRel(reader) }; break;
    case RequestTag.GetPage: request = { kind: 'getPage', header, rel: readRel(reader), blockNumber: reader.u32() }; break;
    case RequestTag.DbSize: request = { kind: 'dbSize', header, dbNode: reader.u32() }; break;
    case RequestTag.GetSlruSegment: request = { kind: 'getSlruSegment', header, slruKind: reader.u8(), segment: reader.u32() }; break;
    default: throw protocolError(`unknown request tag ${tag}`, { tag });
  }
  reader.end(tag);
  return request;
}

/** A growable big-endian writer. */
class Writer {
  #bytes: Uint8Array;
  #view: DataView;
  #length = 0;

  constructor(capacity: number) {
    this.#bytes = new Uint8Array(capacity);
    this.#view = new DataView(this.#bytes.buffer);
  }

  #reserve(count: number): number {
    const at = this.#length;
    if (at + count > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(this.#bytes.length * 2, at + count));
      grown.set(this.#bytes.subarray(0, at));
      this.#bytes = grown;
      this.#view = new DataView(grown.buffer);
    }
    this.#length = at + count;
    return at;
  }

  u8(value: number): this { this.#view.setUint8(this.#reserve(1), value); return this; }
  u32(value: number): this { this.#view.setUint32(this.#reserve(4), value >>> 0, false); return this; }
  u64(value: bigint): this { this.#view.setBigUint64(this.#reserve(8), value, false); return this; }
  i64(value: number): this { this.#view.setBigInt64(this.#reserve(8), BigInt(value), false); return this; }

  lsn(value: Lsn): this {
    if (value === LATEST_LSN) return this.u64(U64_ALL_ONES);
    assert(Number.isSafeInteger(value) && value >= 0, 'an LSN on the wire is a safe integer or LATEST_LSN');
    return this.u64(BigInt(value));
  }

  bytes(value: Uint8Array): this { this.#bytes.set(value, this.#reserve(value.length)); return this; }

  finish(): Uint8Array { return this.#bytes.subarray(0, this.#length); }
}

function writeHeader(writer: Writer, header: RequestHeader, version: PagestreamVersion): void {
  if (version === 3) writer.u64(header.reqid);
  writer.lsn(header.requestLsn).lsn(header.notModifiedSince);
}

function writeRel(writer: Writer, rel: RelTag): void {
  assert(rel.forkNumber >= 0 && rel.forkNumber <= 0xff, 'a fork number is a u8');
  writer.u32(rel.spcNode).u32(rel.dbNode).u32(rel.relNode).u8(rel.forkNumber);
}

/** Serializes a request (what a compute sends; tests and client tools use it). */
export function serializePagestreamRequest(request: PagestreamRequest, version: PagestreamVersion): Uint8Array {
  const writer = new Writer(1 + 24 + REL_BYTES + 4);
  switch (request.kind) {
    case 'exists': writer.u8(RequestTag.Exists); writeHeader(writer, request.header, version); writeRel(writer, request.rel); break;
    case 'nblocks': writer.u8(RequestTag.Nblocks); writeHeader(writer, request.header, version); writeRel(writer, request.rel); break;
    case 'getPage':
      writer.u8(RequestTag.GetPage); writeHeader(writer, request.header, version); writeRel(writer, request.rel); writer.u32(request.blockNumber);
      break;
    case 'dbSize': writer.u8(RequestTag.DbSize); writeHeader(writer, request.header, version); writer.u32(request.dbNode); break;
    case 'getSlruSegment':
      writer.u8(RequestTag.GetSlruSegment); writeHeader(writer, request.header, version); writer.u8(request.slruKind).u32(request.segment);
      break;
  }
  return writer.finish();
}

/** Serializes a response; in v3 it echoes the request's header and fields. */
export function serializePagestreamResponse(response: PagestreamResponse, version: PagestreamVersion): Uint8Array {
  const echo = version === 3;
  switch (response.kind) {
    case 'exists': {
      const writer = new Writer(1 + 24 + REL_BYTES + 1).u8(ResponseTag.Exists);
      if (echo) { writeHeader(writer, response.request.header, 3); writeRel(writer, response.request.rel); }
      return writer.u8(response.exists ? 1 : 0).finish();
    }
    case 'nblocks': {
      const writer = new Writer(1 + 24 + REL_BYTES + 4).u8(ResponseTag.Nblocks);
      if (echo) { writeHeader(writer, response.request.header, 3); writeRel(writer, response.request.rel); }
      return writer.u32(response.blocks).finish();
    }
    case 'getPage': {
      assert(response.page.length === BLCKSZ, 'a GetPage response carries one page');
      const writer = new Writer(1 + 24 + REL_BYTES + 4 + BLCKSZ).u8(ResponseTag.GetPage);
      if (echo) { writeHeader(writer, response.request.header, 3); writeRel(writer, response.request.rel); writer.u32(response.request.blockNumber); }
      return writer.bytes(response.page).finish();
    }
    case 'dbSize': {
      const writer = new Writer(1 + 24 + 4 + 8).u8(ResponseTag.DbSize);
      if (echo) { writeHeader(writer, response.request.header, 3); writer.u32(response.request.dbNode); }
      return writer.i64(response.bytes).finish();
    }
    case 'getSlruSegment': {
      assert(response.segmentBytes.length % BLCKSZ === 0, 'an SLRU segment is whole pages');
      const writer = new Writer(1 + 24 + 5 + 4 + response.segmentBytes.length).u8(ResponseTag.GetSlruSegment);
      if (echo) { writeHeader(writer, response.request.header, 3); writer.u8(response.request.slruKind).u32(response.request.segment); }
      return writer.u32(response.segmentBytes.length / BLCKSZ).bytes(response.segmentBytes).finish();
    }
    case 'error': {
      const message = new TextEncoder().encode(response.message.replaceAll('\0', ' '));
      const writer = new Writer(1 + 24 + message.length + 1).u8(ResponseTag.Error);
      if (echo) writeHeader(writer, response.header, 3);
      return writer.bytes(message).u8(0).finish();
    }
  }
}

/**
 * Parses a response as a compute would (tests and client tools). A v2 response carries no echo:
 * its request fields are then taken from `sent`, the request it answers.
 */
export function parsePagestreamResponse(bytes: Uint8Array, version: PagestreamVersion, sent: PagestreamRequest): PagestreamResponse {
  const reader = new Reader(bytes);
  const tag = reader.u8();
  const echo = version === 3;
  const header = echo ? readHeader(reader, 3) : sent.header;
  let response: PagestreamResponse;
  switch (tag) {
    case ResponseTag.Exists: {
      const rel = echo ? readRel(reader) : relOf(sent);
      response = { kind: 'exists', request: { kind: 'exists', header, rel }, exists: reader.u8() !== 0 };
      break;
    }
    case ResponseTag.Nblocks: {
      const rel = echo ? readRel(reader) : relOf(sent);
      response = { kind: 'nblocks', request: { kind: 'nblocks', header, rel }, blocks: reader.u32() };
      break;
    }
    case ResponseTag.GetPage: {
      const rel = echo ? readRel(reader) : relOf(sent);
      const blockNumber = echo ? reader.u32() : (sent.kind === 'getPage' ? sent.blockNumber : 0);
      response = { kind: 'getPage', request: { kind: 'getPage', header, rel, blockNumber }, page: reader.bytes(BLCKSZ) };
      break;
    }
    case ResponseTag.DbSize: {
      const dbNode = echo ? reader.u32() : (sent.kind === 'dbSize' ? sent.dbNode : 0);
      response = { kind: 'dbSize', request: { kind: 'dbSize', header, dbNode }, bytes: reader.i64() };
      break;
    }
    case ResponseTag.GetSlruSegment: {
      const slruKind = echo ? reader.u8() : (sent.kind === 'getSlruSegment' ? sent.slruKind : 0);
      const segment = echo ? reader.u32() : (sent.kind === 'getSlruSegment' ? sent.segment : 0);
      const blocks = reader.u32();
      const segmentBytes = reader.bytes(blocks * BLCKSZ);
      response = { kind: 'getSlruSegment', request: { kind: 'getSlruSegment', header, slruKind, segment }, segmentBytes };
      break;
    }
    case ResponseTag.Error:
      response = { kind: 'error', header, message: new TextDecoder().decode(reader.cString()) };
      break;
    default: throw protocolError(`unknown response tag ${tag}`, { tag });
  }
  reader.end(tag);
  return response;
}

function relOf(sent: PagestreamRequest): RelTag {
  return 'rel' in sent ? sent.rel : { spcNode: 0, dbNode: 0, relNode: 0, forkNumber: 0 };
}
