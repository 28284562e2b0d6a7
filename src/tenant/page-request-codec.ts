/**
 * The byte form of page reads sent to a tenant actor with `askBytes`, so they travel over the
 * actor thread's SharedArrayBuffer ring instead of structured-clone messages (the hot path the
 * page service will use too). Pure: no I/O; byte-exact tests in test/unit/tenant/.
 *
 * Request (big-endian, 43 bytes):
 *   0      u8   kind: 0x47 'G' GetPage, 0x53 'S' RelSize
 *   1..16       timeline id (16 bytes, the 32 hex characters decoded)
 *   17     u32  spcNode
 *   21     u32  dbNode
 *   25     u32  relNode
 *   29     u8   fork number
 *   30     u32  block number (0 for RelSize)
 *   34     u8   1 = at the LSN that follows, 0 = latest (LSN bytes zero)
 *   35     u32  LSN, high half
 *   39     u32  LSN, low half
 *
 * Response: GetPage → the 8192-byte page; RelSize → u32 block count. Errors travel as the
 * ring's error frames (StrataError code and message), not in these bytes.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { RelTag } from '../keys.js';
import type { Lsn } from '../lsn.js';

export const enum PageRequestKind {
  GetPage = 0x47, // 'G'
  RelSize = 0x53, // 'S'
}

export interface PageRequest {
  kind: PageRequestKind;
  timelineId: string;
  rel: RelTag;
  blockNumber: number;
  lsn: Lsn | undefined;
}

/** Field offsets; the LSN is a u64 split in two u32 halves. */
const OFFSET = { kind: 0, timeline: 1, spc: 17, db: 21, rel: 25, fork: 29, block: 30, hasLsn: 34, lsnHigh: 35, lsnLow: 39 } as const;
export const PAGE_REQUEST_BYTES = 43;
const TWO_TO_32 = 0x1_0000_0000;

export function encodePageRequest(request: PageRequest): Uint8Array {
  assert(/^[0-9a-f]{32}$/.test(request.timelineId), 'timeline id is 32 lower-case hex characters');
  assert(request.rel.forkNumber >= 0 && request.rel.forkNumber <= 3, 'fork number 0..3');
  const bytes = new Uint8Array(PAGE_REQUEST_BYTES);
  const view = new DataView(bytes.buffer);
  bytes[OFFSET.kind] = request.kind;
  bytes.set(Buffer.from(request.timelineId, 'hex'), OFFSET.timeline);
  view.setUint32(OFFSET.spc, request.rel.spcNode);
  view.setUint32(OFFSET.db, request.rel.dbNode);
  view.setUint32(OFFSET.rel, request.rel.relNode);
  bytes[OFFSET.fork] = request.rel.forkNumber;
  view.setUint32(OFFSET.block, request.blockNumber);
  if (request.lsn !== undefined) {
    assert(Number.isSafeInteger(request.lsn) && request.lsn >= 0, 'LSN is a safe integer');
    bytes[OFFSET.hasLsn] = 1;
    view.setUint32(OFFSET.lsnHigh, Math.floor(request.lsn / TWO_TO_32));
    view.setUint32(OFFSET.lsnLow, request.lsn % TWO_TO_32);
  }
  return bytes;
}

export function decodePageRequest(bytes: Uint8Array): PageRequest {
  if (bytes.length !== PAGE_REQUEST_BYTES) {
    throw new StrataError('PS_ERR_PROTOCOL', `page request is ${bytes.length} bytes, expected ${PAGE_REQUEST_BYTES}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const kind = bytes[OFFSET.kind]!;
  if (kind !== PageRequestKind.GetPage && kind !== PageRequestKind.RelSize) {
    throw new StrataError('PS_ERR_PROTOCOL', `unknown page request kind 0x${kind.toString(16)}`);
  }
  const forkNumber = bytes[OFFSET.fork]!;
  if (forkNumber > 3) throw new StrataError('PS_ERR_PROTOCOL', `fork number ${forkNumber} out of range`);
  const hasLsn = bytes[OFFSET.hasLsn]!;
  if (hasLsn > 1) throw new StrataError('PS_ERR_PROTOCOL', `bad LSN flag ${hasLsn}`);
  return {
    kind,
    timelineId: Buffer.from(bytes.subarray(OFFSET.timeline, OFFSET.timeline + 16)).toString('hex'),
    rel: { spcNode: view.getUint32(OFFSET.spc), dbNode: view.getUint32(OFFSET.db), relNode: view.getUint32(OFFSET.rel), forkNumber },
    blockNumber: view.getUint32(OFFSET.block),
    lsn: hasLsn === 1 ? view.getUint32(OFFSET.lsnHigh) * TWO_TO_32 + view.getUint32(OFFSET.lsnLow) : undefined,
  };
}

export function encodeRelSizeResponse(blocks: number): Uint8Array {
  assert(Number.isInteger(blocks) && blocks >= 0 && blocks <= 0xffffffff, 'relation size is a u32');
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, blocks);
  return bytes;
}

export function decodeRelSizeResponse(bytes: Uint8Array): number {
  if (bytes.length !== 4) throw new StrataError('PS_ERR_PROTOCOL', `relsize response is ${bytes.length} bytes, expected 4`);
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0);
}
