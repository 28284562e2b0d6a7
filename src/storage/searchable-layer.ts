/**
 * The read contract every layer kind implements (open/frozen in-memory layers, delta and image
 * layer files), so the layer map can search them uniformly.
 *
 * A search is two-phase: `collectVersions` answers from the layer's index alone (in memory, no
 * I/O) which versions of a key exist and whether each stops the search (image or will-init);
 * `readValue` then fetches only the versions the reconstruction needs.
 */
import type { Key } from '../keys.js';
import type { Lsn } from '../lsn.js';
import type { Value } from '../value.js';

/** One version of a key in one layer: where to read it, and whether it stops the search. */
export interface VersionRef {
  lsn: Lsn;
  willInit: boolean;
  layer: SearchableLayer;
  /** Layer-specific location (file offset, or chunk position of an in-memory layer). */
  position: number;
  length: number;
  /** CRC-32C of the stored bytes for file layers; 0 for in-memory layers. */
  checksum: number;
}

export interface SearchableLayer {
  /** For logs and error messages: the file name, or "in-memory open"/"in-memory frozen". */
  readonly description: string;
  /** 'memory': the open or a frozen in-memory layer; 'delta' / 'image': a layer file. */
  readonly kind: 'memory' | 'delta' | 'image';
  /** Key range [keyStart, keyEnd). */
  readonly keyStart: Key;
  readonly keyEnd: Key;
  /** LSN range [lsnStart, lsnEnd): no version of this layer lies outside it. */
  readonly lsnStart: Lsn;
  readonly lsnEnd: Lsn;
  /**
   * File layers only: whether the index is in memory. When false, `acquireIndex` (then
   * `releaseIndex`) must surround the synchronous searches below (layer-index-cache.ts).
   */
  readonly indexResident?: boolean;
  acquireIndex?(): Promise<void>;
  releaseIndex?(): void;
  /** Appends the versions of `key` with lsn ≤ `lsnMax`, in ascending LSN order. */
  collectVersions(key: Key, lsnMax: Lsn, into: VersionRef[]): void;
  /** Reads one version this layer returned from collectVersions; the bytes are the caller's own. */
  readValue(ref: VersionRef): Promise<Value>;
  /** Reads several versions of this layer (file layers merge adjacent blobs into one read). */
  readValues(refs: readonly VersionRef[]): Promise<Value[]>;
  /** Adds every key in [start, end) that has a version with lsn ≤ `lsnMax`. */
  collectKeys(start: Key, end: Key, lsnMax: Lsn, into: Set<Key>): void;
}
