/**
 * SLRU bookkeeping for ingest: which CLOG / multixact page an xid or multixact lives on, the Strata
 * records that set those entries, zeroed pages, and segment truncation with PostgreSQL's
 * wraparound-aware page comparisons (clog.c ClogPagePrecedes, multixact.c *PagePrecedes,
 * slru.c SlruMayDeleteSegment).
 *
 * WHY a module of its own: the page arithmetic is easy to get subtly wrong, so it is kept pure and
 * tested apart from the record dispatch in wal-ingest.ts.
 */
import { assert } from '../assert.js';
import { SLRU_PAGES_PER_SEGMENT, SlruKind, slruBlockKey, type Key } from '../keys.js';
import type { Lsn } from '../lsn.js';
import type { TimelineStore } from '../storage/types.js';
import type { StrataRecord } from '../value.js';
import { SingleClogStatusWriter } from '../storage/value-codec.js';
import { BLCKSZ } from '../wal/types.js';
import { CLOG_XACTS_PER_PAGE } from '../wal/records/clog.js';
import { MULTIXACT_MEMBERS_PER_PAGE, MULTIXACT_OFFSETS_PER_PAGE, type MultiXactMember } from '../wal/records/multixact.js';
import type { MetadataCache } from './metadata-cache.js';

const FIRST_NORMAL_TRANSACTION_ID = 3;
const FIRST_MULTIXACT_ID = 1;
const ZERO_PAGE = new Uint8Array(BLCKSZ);

/** TransactionIdPrecedes / MultiXactIdPrecedes: modulo-2^32 comparison. */
export function precedes32(left: number, right: number): boolean {
  return ((left - right) | 0) < 0;
}

export function slruPageKey(kind: SlruKind, pageNumber: number): Key {
  return slruBlockKey(kind, Math.floor(pageNumber / SLRU_PAGES_PER_SEGMENT), pageNumber % SLRU_PAGES_PER_SEGMENT);
}

/** The key of the CLOG page last asked for: consecutive commits almost always share a page. */
let lastClogPage = -1;
let lastClogPageKey: Key = '';
/** The key's first 28 hex digits (its last 8 are the block in the segment): putEncoded's split. */
let lastClogPageKeyHigh = '';

/** slruPageKey for the CLOG, memoized for the last page (keys are pure functions of the page). */
function clogPageKey(pageNumber: number): Key {
  if (pageNumber !== lastClogPage) {
    lastClogPageKey = slruPageKey(SlruKind.Clog, pageNumber);
    // Flattened once, so layer lookups hash a sequential string.
    lastClogPageKeyHigh = Buffer.from(lastClogPageKey.slice(0, KEY_HIGH_DIGITS), 'latin1').toString('latin1');
    lastClogPage = pageNumber;
  }
  return lastClogPageKey;
}

const KEY_HIGH_DIGITS = 28;
/** Reused by putClogStatus (synchronous, never re-entered). */
const SINGLE_CLOG_WRITER = new SingleClogStatusWriter();

export function clogPageOf(xid: number): number {
  return Math.floor((xid >>> 0) / CLOG_XACTS_PER_PAGE);
}

/** Groups xids by CLOG page, keeping their order. */
export function groupXidsByClogPage(xids: readonly number[]): Map<number, number[]> {
  const pages = new Map<number, number[]>();
  for (const xid of xids) {
    const page = clogPageOf(xid);
    const list = pages.get(page);
    if (list === undefined) pages.set(page, [xid]);
    else list.push(xid);
  }
  return pages;
}

/** putClogStatus of one xid: without the xid list when the store has the encoded fast path. */
export function putSingleClogStatus(store: TimelineStore, lsn: Lsn, xid: number, committed: boolean, timestamp: number): void {
  if (store.putEncoded === undefined) {
    putClogStatus(store, lsn, [xid], committed, timestamp);
    return;
  }
  const page = clogPageOf(xid);
  clogPageKey(page);
  store.putEncoded(lastClogPageKeyHigh, page % SLRU_PAGES_PER_SEGMENT, lsn, SINGLE_CLOG_WRITER.reset(xid, committed, timestamp));
}

/** One Strata record per CLOG page touched by a commit or abort. */
export function putClogStatus(store: TimelineStore, lsn: Lsn, xids: number[], committed: boolean, timestamp: number): void {
  assert(xids.length > 0, 'a commit or abort names at least one xid');
  if (xids.length === 1 && store.putEncoded !== undefined) {
    // The commonest case: one xid encoded straight into the layer (no record, no key parsing).
    putSingleClogStatus(store, lsn, xids[0]!, committed, timestamp);
    return;
  }
  if (xids.length === 1) {
    // The common case: no grouping, and the caller's one-element array becomes the record's.
    const record: StrataRecord = committed ? { kind: 'ClogSetCommitted', xids, timestamp } : { kind: 'ClogSetAborted', xids };
    store.put(clogPageKey(clogPageOf(xids[0]!)), lsn, { kind: 'strataRecord', willInit: false, record });
    return;
  }
  for (const [page, pageXids] of groupXidsByClogPage(xids)) {
    const record: StrataRecord = committed ? { kind: 'ClogSetCommitted', xids: pageXids, timestamp } : { kind: 'ClogSetAborted', xids: pageXids };
    store.put(clogPageKey(page), lsn, { kind: 'strataRecord', willInit: false, record });
  }
}

/** The offsets entry and member entries of a new multixact, one Strata record per page. */
export function putMultiXactCreate(store: TimelineStore, lsn: Lsn, multiXactId: number, offset: number, members: readonly MultiXactMember[]): void {
  // PostgreSQL 15 (RecordNewMultiXact, since the 2025 fix) also sets the next multixact's offset
  // to where its members will start, on its page (zeroed ahead by ExtendMultiXactOffset).
  const offsetsPage = Math.floor((multiXactId >>> 0) / MULTIXACT_OFFSETS_PER_PAGE);
  const next = ((multiXactId + 1) >>> 0) < FIRST_MULTIXACT_ID ? FIRST_MULTIXACT_ID : (multiXactId + 1) >>> 0;
  const nextOffset = (offset + members.length) >>> 0;
  const nextPage = Math.floor(next / MULTIXACT_OFFSETS_PER_PAGE);
  if (nextPage === offsetsPage) {
    store.put(slruPageKey(SlruKind.MultiXactOffsets, offsetsPage), lsn, {
      kind: 'strataRecord', willInit: false,
      record: { kind: 'MultixactOffsetsSet', entries: [{ multiXactId, offset }, { multiXactId: next, offset: nextOffset }] },
    });
  } else {
    store.put(slruPageKey(SlruKind.MultiXactOffsets, offsetsPage), lsn, {
      kind: 'strataRecord', willInit: false, record: { kind: 'MultixactOffsetCreate', multiXactId, offset },
    });
    store.put(slruPageKey(SlruKind.MultiXactOffsets, nextPage), lsn, {
      kind: 'strataRecord', willInit: false, record: { kind: 'MultixactOffsetCreate', multiXactId: next, offset: nextOffset },
    });
  }
  let index = 0;
  // Bounded by members.length: each iteration consumes at least one member.
  while (index < members.length) {
    const firstOffset = (offset + index) >>> 0;
    const page = Math.floor(firstOffset / MULTIXACT_MEMBERS_PER_PAGE);
    const onPage: MultiXactMember[] = [];
    while (index < members.length && Math.floor(((offset + index) >>> 0) / MULTIXACT_MEMBERS_PER_PAGE) === page) onPage.push(members[index++]!);
    assert(onPage.length > 0, 'each member page gets at least one member');
    store.put(slruPageKey(SlruKind.MultiXactMembers, page), lsn, {
      kind: 'strataRecord', willInit: false, record: { kind: 'MultixactMembersCreate', offset: firstOffset, members: onPage },
    });
  }
}

/** A zeroed SLRU page (ZEROPAGE records): an image, and the segment grows to cover it. */
export async function putZeroPage(store: TimelineStore, cache: MetadataCache, lsn: Lsn, kind: SlruKind, pageNumber: number): Promise<void> {
  assert(pageNumber >= 0, 'SLRU page numbers are non-negative');
  const segment = Math.floor(pageNumber / SLRU_PAGES_PER_SEGMENT);
  const block = pageNumber % SLRU_PAGES_PER_SEGMENT;
  store.put(slruBlockKey(kind, segment, block), lsn, { kind: 'image', bytes: ZERO_PAGE });
  const segments = await cache.slruDir(kind);
  if (!segments.has(segment)) {
    segments.add(segment);
    cache.touchSlruDir(kind);
  }
  const size = await cache.slruSegmentSize(kind, segment);
  if (size < block + 1) cache.setSlruSegmentSize(kind, segment, block + 1);
}

/** Removes segments from an SLRU directory (their size keys become tombstones). */
async function removeSegments(cache: MetadataCache, kind: SlruKind, shouldRemove: (segment: number) => boolean): Promise<number> {
  const segments = await cache.slruDir(kind);
  let removed = 0;
  for (const segment of [...segments]) {
    if (!shouldRemove(segment)) continue;
    segments.delete(segment);
    cache.setSlruSegmentSize(kind, segment, -1);
    removed += 1;
  }
  if (removed > 0) cache.touchSlruDir(kind);
  return removed;
}

function clogPagePrecedes(left: number, right: number): boolean {
  const leftXid = (left * CLOG_XACTS_PER_PAGE + FIRST_NORMAL_TRANSACTION_ID + 1) >>> 0;
  const rightXid = (right * CLOG_XACTS_PER_PAGE + FIRST_NORMAL_TRANSACTION_ID + 1) >>> 0;
  return precedes32(leftXid, rightXid) && precedes32(leftXid, (rightXid + CLOG_XACTS_PER_PAGE - 1) >>> 0);
}

function offsetsPagePrecedes(left: number, right: number): boolean {
  const leftMulti = (left * MULTIXACT_OFFSETS_PER_PAGE + FIRST_MULTIXACT_ID) >>> 0;
  const rightMulti = (right * MULTIXACT_OFFSETS_PER_PAGE + FIRST_MULTIXACT_ID) >>> 0;
  return precedes32(leftMulti, rightMulti) && precedes32(leftMulti, (rightMulti + MULTIXACT_OFFSETS_PER_PAGE - 1) >>> 0);
}

/** SlruMayDeleteSegment: every page of the segment precedes the cutoff page. */
function mayDeleteSegment(segment: number, cutoffPage: number, pagePrecedes: (left: number, right: number) => boolean): boolean {
  const first = segment * SLRU_PAGES_PER_SEGMENT;
  return pagePrecedes(first, cutoffPage) && pagePrecedes(first + SLRU_PAGES_PER_SEGMENT - 1, cutoffPage);
}

/** CLOG TRUNCATE: SimpleLruTruncate(cutoffPage) rounded down to a segment boundary. */
export async function truncateClog(cache: MetadataCache, pageNumber: number): Promise<number> {
  const cutoff = pageNumber - (pageNumber % SLRU_PAGES_PER_SEGMENT);
  return removeSegments(cache, SlruKind.Clog, (segment) => mayDeleteSegment(segment, cutoff, clogPagePrecedes));
}

/** MULTIXACT TRUNCATE_ID: offsets before endTruncateOffset's page, members in [start, end) segments. */
export async function truncateMultiXact(cache: MetadataCache, truncate: { endTruncateOffset: number; startTruncateMember: number; endTruncateMember: number }): Promise<number> {
  const previousMulti = truncate.endTruncateOffset === FIRST_MULTIXACT_ID ? 0xffffffff : (truncate.endTruncateOffset - 1) >>> 0;
  const offsetsCutoff = Math.floor(previousMulti / MULTIXACT_OFFSETS_PER_PAGE);
  const cutoff = offsetsCutoff - (offsetsCutoff % SLRU_PAGES_PER_SEGMENT);
  let removed = await removeSegments(cache, SlruKind.MultiXactOffsets, (segment) => mayDeleteSegment(segment, cutoff, offsetsPagePrecedes));
  const memberSegment = (offset: number) => Math.floor(Math.floor((offset >>> 0) / MULTIXACT_MEMBERS_PER_PAGE) / SLRU_PAGES_PER_SEGMENT);
  const start = memberSegment(truncate.startTruncateMember);
  const end = memberSegment(truncate.endTruncateMember);
  const inRange = (segment: number) => (start <= end ? segment >= start && segment < end : segment >= start || segment < end);
  removed += await removeSegments(cache, SlruKind.MultiXactMembers, inRange);
  return removed;
}
