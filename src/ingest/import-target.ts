/**
 * Where the base backup importer (import-basebackup.ts) sends what it reads, for the two kinds of
 * store it imports into:
 *
 *   - a store that takes a streamed image import (LayeredTimelineStore.beginImageImport): relation
 *     files stream into image layer files of their own, everything else goes through the import's
 *     bounded sorter, and the files become visible together at commit (storage/image-import.ts);
 *     nothing passes through the open in-memory layer, so memory does not follow the database;
 *   - any other TimelineStore (the in-memory stores of tests and tools): every image is a put at
 *     the import LSN, as all imports were before image layers.
 *
 * Relation metadata (sizes, relation and database directories, SLRU directories and sizes, the
 * two-phase directory) is written by the importer through one MetadataCache in both cases; only
 * the store behind the cache differs (`metadataStore`). For the image import that is a collector
 * whose reads see the store as it was before the import and whose puts become sorted images, so
 * both targets write the same keys with the same values (the unit tests compare them).
 */
import { assert, unreachable } from '../assert.js';
import type { Key } from '../keys.js';
import type { Lsn } from '../lsn.js';
import type { ImageImport } from '../storage/image-import.js';
import type { TimelineStore } from '../storage/types.js';
import type { ReconstructData, Value } from '../value.js';

/** One relation file's pages, in ascending key order, a key range no other file has. */
export interface RangeTarget {
  /** `page` is borrowed: the target copies it before the promise resolves. */
  add(key: Key, page: Uint8Array): Promise<void>;
  /** `add` when it needs no I/O (the usual case); false, nothing done, when `add` must run. */
  tryAdd(key: Key, page: Uint8Array): boolean;
  finish(): Promise<void>;
}

export interface ImportTarget {
  openRange(): RangeTarget;
  /** Any other image, in any key order; `bytes` is borrowed as in RangeTarget.add. */
  addSmall(key: Key, bytes: Uint8Array): Promise<void>;
  /** The store the importer's MetadataCache reads misses from and writes to. */
  readonly metadataStore: TimelineStore;
  /** After the metadata cache flushed: takes what it wrote, then makes the import visible. */
  commit(): Promise<{ imageLayerFiles: number; spilledRuns: number }>;
  /** After a failure: removes what the import wrote, where it can. */
  abort(): Promise<void>;
}

/** A store that takes a streamed image import. */
export interface ImageImportStore extends TimelineStore {
  beginImageImport(lsn: Lsn, options?: { sortBufferBytes?: number }): Promise<ImageImport>;
}

export function takesImageImport(store: TimelineStore): store is ImageImportStore {
  return typeof (store as Partial<ImageImportStore>).beginImageImport === 'function';
}

export async function openImportTarget(store: TimelineStore, lsn: Lsn, options: { sortBufferBytes?: number }): Promise<ImportTarget> {
  if (!takesImageImport(store)) return putTarget(store, lsn);
  const imageImport = await store.beginImageImport(lsn, options.sortBufferBytes === undefined ? {} : { sortBufferBytes: options.sortBufferBytes });
  assert(imageImport.lsn === lsn, 'the image import runs at the import LSN');
  return imageLayerTarget(store, imageImport);
}

function putTarget(store: TimelineStore, lsn: Lsn): ImportTarget {
  const put = (key: Key, bytes: Uint8Array) => {
    store.put(key, lsn, { kind: 'image', bytes: bytes.slice() });
    return Promise.resolve();
  };
  return {
    openRange: () => ({
      add: put,
      tryAdd: (key, page) => {
        void put(key, page);
        return true;
      },
      finish: () => Promise.resolve(),
    }),
    addSmall: put,
    metadataStore: store,
    commit: () => Promise.resolve({ imageLayerFiles: 0, spilledRuns: 0 }),
    abort: () => Promise.resolve(),
  };
}

function imageLayerTarget(store: TimelineStore, imageImport: ImageImport): ImportTarget {
  const metadataStore = new MetadataCollector(store, imageImport.lsn);
  return {
    openRange: () => {
      const run = imageImport.openRange();
      return { add: (key, page) => run.add(key, page), tryAdd: (key, page) => run.tryAdd(key, page), finish: async () => { await run.finish(); } };
    },
    addSmall: (key, bytes) => imageImport.addSmall(key, bytes),
    metadataStore,
    async commit() {
      for (const [key, bytes] of metadataStore.takeWritten()) await imageImport.addSmall(key, bytes);
      const result = await imageImport.commit();
      return { imageLayerFiles: result.files, spilledRuns: result.spilledRuns };
    },
    abort: () => imageImport.abort(),
  };
}

/**
 * The store face of an image import for MetadataCache: reads go to the real store (which holds
 * nothing of the import yet), puts of images at the import LSN are collected until commit.
 */
class MetadataCollector implements TimelineStore {
  readonly #store: TimelineStore;
  readonly #lsn: Lsn;
  #written: Array<readonly [Key, Uint8Array]> = [];

  constructor(store: TimelineStore, lsn: Lsn) {
    this.#store = store;
    this.#lsn = lsn;
  }

  get lastPutLsn(): Lsn { return this.#lsn; }
  get diskConsistentLsn(): Lsn { return this.#store.diskConsistentLsn; }
  get openLayerBytes(): number { return 0; }

  put(key: Key, lsn: Lsn, value: Value): void {
    assert(lsn === this.#lsn, 'import metadata is written at the import LSN');
    assert(value.kind === 'image', 'import metadata values are images');
    this.#written.push([key, value.bytes]);
  }

  getReconstructData(key: Key, lsn: Lsn): Promise<ReconstructData | undefined> {
    return this.#store.getReconstructData(key, lsn);
  }

  /** The values put so far; the collector forgets them. */
  takeWritten(): Array<readonly [Key, Uint8Array]> {
    const written = this.#written;
    this.#written = [];
    return written;
  }

  flush(): Promise<Lsn> {
    return unreachable('an import metadata collector is never flushed');
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
