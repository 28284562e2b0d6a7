/**
 * The contract between a timeline's storage engine (src/storage/) and its users (ingest, the
 * timeline actor, GetPage@LSN).
 *
 * Writes arrive in LSN order, one record's values at a time, into the open in-memory layer. The
 * timeline freezes it (at checkpoint_distance or on demand) and flushes it to an L0 delta layer
 * file; when the file is durable, disk_consistent_lsn advances. Reads search the open layer, the
 * frozen ones, then layer files newest first, until an image or a will-init record.
 */
import type { Key } from '../keys.js';
import type { Lsn } from '../lsn.js';
import type { ReconstructData, Value } from '../value.js';
import type { ValueWriter } from './value-codec.js';

export interface ReadOptions {
  /**
   * A client's page read (GetPage, an SLRU segment): counted in the read amplification statistics.
   * Internal reads (ingest's metadata, image creation, relation sizes) are not.
   */
  clientRead?: boolean;
}

export interface TimelineStore {
  /** Highest LSN at which anything was put (0 when empty). */
  readonly lastPutLsn: Lsn;
  /** Everything at or below this LSN is in durable local layer files. */
  readonly diskConsistentLsn: Lsn;

  /** Stores a value. LSNs never go backwards; several values may share an LSN (distinct keys). */
  put(key: Key, lsn: Lsn, value: Value): void;

  /**
   * Optional fast path for ingest: stores the value `writer` encodes (value-codec.ts) at the key
   * `keyHigh + hex8(keyLow)` (`keyHigh` = the key's first 28 hex digits, `keyLow` = its last 32
   * bits, e.g. a block number), with no Value object and no key string built. Same rules as put.
   */
  putEncoded?(keyHigh: string, keyLow: number, lsn: Lsn, writer: ValueWriter): void;

  /**
   * Optional fast path for ingest: stores by reference the value that `shape` and `hole` make of
   * `source[start, start + length)` (value-codec.ts, "Referenced values"), at the key as for
   * putEncoded. The caller promises that nobody writes those bytes again (the WAL decoder's
   * buffers); the store may keep the whole buffer behind `source` until the value is flushed.
   */
  putReferenced?(keyHigh: string, keyLow: number, lsn: Lsn, shape: number, hole: number, source: Uint8Array, start: number, length: number): void;

  /** The newest image at or below `lsn` and the records after it; undefined when the key has no value. */
  getReconstructData(key: Key, lsn: Lsn, options?: ReadOptions): Promise<ReconstructData | undefined>;
  /** Several keys at one LSN with fewer reads (values of neighbouring keys are read together). Absent: one by one. */
  getReconstructDataMany?(keys: readonly Key[], lsn: Lsn, options?: ReadOptions): Promise<(ReconstructData | undefined)[]>;

  /**
   * Freezes the open in-memory layer and writes it as a durable L0 delta layer (crash-safe), then
   * advances disk_consistent_lsn to `upToLsn` (the last complete record's end LSN). Resolves with it.
   */
  flush(upToLsn: Lsn): Promise<Lsn>;

  /** Optional split of flush: freeze now (synchronous), write later (`flushFrozen`, e.g. by a flush actor). */
  freeze?(upToLsn: Lsn): void;
  flushFrozen?(): Promise<Lsn>;

  /** Nothing happens between the last value put and `lsn` (layered-timeline-store.ts). Absent: nothing to record. */
  skipEmptyTo?(lsn: Lsn): Promise<void>;

  /** Bytes held by the open in-memory layer (the timeline flushes past checkpoint_distance). */
  readonly openLayerBytes: number;

  /**
   * Bytes held by frozen in-memory layers not yet replaced by their file (being flushed, or waiting
   * to be retried after a failed write). Absent: the store keeps nothing frozen (counts as 0).
   * The timeline bounds open + frozen by max_inmemory_bytes.
   */
  readonly frozenLayerBytes?: number;

  /** Releases file handles. */
  close(): Promise<void>;
}
