/**
 * The set of layers of a timeline and the search for a key at an LSN.
 *
 * WHY this shape: a read must not slow down as a timeline ages. Layers fall in three groups, each
 * kept in the order the search needs, so a lookup touches only layers that can hold the key:
 *
 *   in-memory   the open layer and frozen ones waiting for flush (a handful); whole key space
 *   L0 deltas   flushed in-memory layers; each covers the whole key space ([KEY_SPACE_START,
 *               KEY_SPACE_END) in its name: that is how a file is recognised as L0 after a restart).
 *               Compaction keeps their number near compaction_threshold.
 *   historic    L1 deltas (compaction output, partitioned by key range) and image layers. Indexed
 *               by key: the distinct range bounds of all of them cut the key space into segments,
 *               and each segment lists the layers covering it, newest (highest lsnEnd) first. A
 *               lookup finds its segment by binary search. Rebuilt lazily after a change (flush,
 *               compaction, GC: seconds apart), so a lookup never sorts.
 *
 * A search for (key, lsn) merges the three lists by lsnEnd, newest first:
 *   1. skips layers whose key range does not hold the key or that start above lsn;
 *   2. collects, from each layer's in-memory index (no I/O), the versions with LSN ≤ lsn, and
 *      tracks `stop`, the highest LSN of an image or will-init record;
 *   3. ends as soon as a layer's lsnEnd ≤ stop (no version above the stop point can be older);
 *   4. keeps one version per LSN at or above `stop`, oldest first. Where two layers hold the same
 *      LSN (an image created at the LSN of a record, or the inputs and outputs of an interrupted
 *      compaction) an image or will-init version wins: it already includes the record.
 *
 * `layersVisited` of the result counts the layers whose index was searched (step 2): the read
 * amplification the issue bounds, reported by the store as a histogram.
 *
 * An image layer is authoritative for its key range: it holds every key that has a value at its
 * LSN (the keyspace: keyspace.ts), so a key inside its range that it does not hold has no value
 * there, and the search ends (only versions above the image are kept). WHY: a dropped relation's
 * keys are left out of new images on purpose; were older layers still consulted, GC removing some
 * of them (a newer tombstone, say) but not others could bring a dropped relation back.
 */
import { assert } from '../assert.js';
import type { Key } from '../keys.js';
import type { Lsn } from '../lsn.js';
import { KEY_SPACE_END, KEY_SPACE_START } from './layer-name.js';
import type { SearchableLayer, VersionRef } from './searchable-layer.js';
import type { ReconstructData, Value } from '../value.js';

/** Which group a layer belongs to (see the header). */
export type LayerGroup = 'in-memory' | 'l0' | 'historic';

export function layerGroup(layer: SearchableLayer): LayerGroup {
  if (layer.kind === 'memory') return 'in-memory';
  if (layer.kind === 'delta' && layer.keyStart === KEY_SPACE_START && layer.keyEnd === KEY_SPACE_END) return 'l0';
  return 'historic';
}

export interface CollectedVersions {
  /** Versions needed, oldest first. */
  versions: VersionRef[];
  /**
   * True when the search ended at an image or will-init record, or at an image layer that does
   * not hold the key: no older layer or ancestor is needed.
   */
  complete: boolean;
  layersVisited: number;
}

interface Coverage {
  /** Sorted distinct bounds; segment i is [bounds[i], bounds[i + 1]). */
  bounds: Key[];
  /** Layers covering each segment, highest lsnEnd first. */
  segments: SearchableLayer[][];
}

const byLsnEndDescending = (left: SearchableLayer, right: SearchableLayer): number => right.lsnEnd - left.lsnEnd;
const EMPTY: readonly SearchableLayer[] = [];

export class LayerMap {
  #inMemory: SearchableLayer[] = [];
  #l0: SearchableLayer[] = [];
  #historic: SearchableLayer[] = [];
  #inMemorySorted = true;
  #l0Sorted = true;
  #coverage: Coverage | undefined = { bounds: [], segments: [] };

  /** Every layer, newest first (in-memory, then files by lsnEnd). */
  get layers(): readonly SearchableLayer[] {
    return [...this.#sortedInMemory(), ...[...this.#l0, ...this.#historic].sort(byLsnEndDescending)];
  }

  get l0Layers(): readonly SearchableLayer[] { return this.#sortedL0(); }
  get historicLayers(): readonly SearchableLayer[] { return this.#historic; }
  get inMemoryLayers(): readonly SearchableLayer[] { return this.#sortedInMemory(); }

  add(layer: SearchableLayer): void {
    const list = this.#listOf(layer);
    assert(!list.includes(layer), 'layer added twice');
    list.push(layer);
    this.#changed(layer);
  }

  remove(layer: SearchableLayer): void {
    const list = this.#listOf(layer);
    const index = list.indexOf(layer);
    assert(index >= 0, 'removed layer is in the map');
    list.splice(index, 1);
    this.#changed(layer);
  }

  /** Swaps a frozen in-memory layer for the file that now holds the same versions. */
  replace(previous: SearchableLayer, next: SearchableLayer): void {
    this.remove(previous);
    this.add(next);
  }

  /** Call after a layer's LSN range changed (freeze). */
  invalidateOrder(): void {
    this.#inMemorySorted = false;
  }

  #listOf(layer: SearchableLayer): SearchableLayer[] {
    const group = layerGroup(layer);
    return group === 'in-memory' ? this.#inMemory : group === 'l0' ? this.#l0 : this.#historic;
  }

  #changed(layer: SearchableLayer): void {
    const group = layerGroup(layer);
    if (group === 'in-memory') this.#inMemorySorted = false;
    else if (group === 'l0') this.#l0Sorted = false;
    else this.#coverage = undefined;
  }

  #sortedInMemory(): SearchableLayer[] {
    if (!this.#inMemorySorted) {
      this.#inMemory.sort(byLsnEndDescending);
      this.#inMemorySorted = true;
    }
    return this.#inMemory;
  }

  #sortedL0(): SearchableLayer[] {
    if (!this.#l0Sorted) {
      this.#l0.sort(byLsnEndDescending);
      this.#l0Sorted = true;
    }
    return this.#l0;
  }

  #coverageIndex(): Coverage {
    if (this.#coverage !== undefined) return this.#coverage;
    const boundSet = new Set<Key>();
    for (const layer of this.#historic) {
      boundSet.add(layer.keyStart);
      boundSet.add(layer.keyEnd);
    }
    const bounds = [...boundSet].sort();
    const segments: SearchableLayer[][] = bounds.map(() => []);
    const newestFirst = [...this.#historic].sort(byLsnEndDescending);
    for (const layer of newestFirst) {
      let index = lowerBound(bounds, layer.keyStart);
      for (; index < bounds.length && bounds[index]! < layer.keyEnd; index++) segments[index]!.push(layer);
    }
    this.#coverage = { bounds, segments };
    return this.#coverage;
  }

  /** Historic layers whose key range holds `key`, newest first. */
  historicCovering(key: Key): readonly SearchableLayer[] {
    const { bounds, segments } = this.#coverageIndex();
    const index = upperBound(bounds, key) - 1;
    return index < 0 ? EMPTY : segments[index]!;
  }

  /** Versions needed to reconstruct (key, lsn), oldest first, and whether they are complete. */
  async collect(key: Key, lsn: Lsn): Promise<CollectedVersions> {
    const inMemory = this.#sortedInMemory();
    const l0 = this.#sortedL0();
    const historic = this.historicCovering(key);
    const found: VersionRef[] = [];
    let stop = -1;
    /** True when `stop` is an image layer that does not hold the key (the key has no value there). */
    let absent = false;
    let visited = 0;
    let a = 0;
    let b = 0;
    let c = 0;
    for (;;) {
      // The next layer is the one with the highest lsnEnd among the three lists' heads.
      const first = inMemory[a];
      const second = l0[b];
      const third = historic[c];
      let layer: SearchableLayer | undefined = first;
      if (second !== undefined && (layer === undefined || second.lsnEnd > layer.lsnEnd)) layer = second;
      if (third !== undefined && (layer === undefined || third.lsnEnd > layer.lsnEnd)) layer = third;
      if (layer === undefined) break;
      if (layer === first) a++;
      else if (layer === second) b++;
      else c++;
      if (stop >= 0 && layer.lsnEnd <= stop) break;
      if (key < layer.keyStart || key >= layer.keyEnd || layer.lsnStart > lsn) continue;
      visited++;
      const before = found.length;
      if (layer.indexResident === false) {
        // The index cache dropped this file's index: read it back, pinned while searched.
        await layer.acquireIndex!();
        try {
          layer.collectVersions(key, lsn, found);
        } finally {
          layer.releaseIndex!();
        }
      } else {
        layer.collectVersions(key, lsn, found);
      }
      for (let index = before; index < found.length; index++) {
        const version = found[index]!;
        if (version.willInit && version.lsn > stop) {
          stop = version.lsn;
          absent = false;
        }
      }
      if (layer.kind === 'image' && found.length === before && layer.lsnStart > stop) {
        stop = layer.lsnStart;
        absent = true;
      }
    }
    return { versions: selectVersions(found, stop, absent), complete: stop >= 0, layersVisited: visited };
  }

  /** Versions needed to reconstruct (key, lsn), oldest first; empty when the key has none. */
  async collectReconstructVersions(key: Key, lsn: Lsn): Promise<VersionRef[]> {
    return (await this.collect(key, lsn)).versions;
  }

  async getReconstructData(key: Key, lsn: Lsn): Promise<ReconstructData | undefined> {
    return reconstructDataOf((await this.collect(key, lsn)).versions);
  }

  /**
   * Keys in [start, end) with any version at or below `lsn`, sorted: a superset of the keyspace
   * (keys an image layer dropped, a dropped relation's, are still listed while older layers hold them).
   */
  async keysInRange(start: Key, end: Key, lsn: Lsn): Promise<Key[]> {
    const keys = new Set<Key>();
    for (const layer of [...this.#inMemory, ...this.#l0, ...this.#historic]) {
      if (end <= layer.keyStart || start >= layer.keyEnd || layer.lsnStart > lsn) continue;
      if (layer.acquireIndex === undefined) {
        layer.collectKeys(start, end, lsn, keys);
        continue;
      }
      await layer.acquireIndex();
      try {
        layer.collectKeys(start, end, lsn, keys);
      } finally {
        layer.releaseIndex!();
      }
    }
    return [...keys].sort();
  }
}

/** Index of the first bound ≥ key. */
function lowerBound(bounds: readonly Key[], key: Key): number {
  let low = 0;
  let high = bounds.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (bounds[middle]! < key) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Index of the first bound > key. */
function upperBound(bounds: readonly Key[], key: Key): number {
  let low = 0;
  let high = bounds.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (bounds[middle]! <= key) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * Keeps versions at or above `stop` (all when no stop point), ascending, one per LSN: an image or
 * will-init version wins over a record at the same LSN; otherwise the first found (the layer with
 * the higher lsnEnd) wins.
 */
function selectVersions(found: VersionRef[], stop: Lsn, absent: boolean): VersionRef[] {
  const kept = stop < 0 ? found : found.filter((version) => (absent ? version.lsn > stop : version.lsn >= stop));
  // Stable sort: among equal LSNs and equal will-init, discovery order is kept.
  kept.sort((left, right) => left.lsn - right.lsn || tieRank(right) - tieRank(left));
  const unique: VersionRef[] = [];
  for (const version of kept) {
    const last = unique[unique.length - 1];
    if (last !== undefined && last.lsn === version.lsn) continue;
    unique.push(version);
  }
  if (unique.length > 0 && stop >= 0 && !absent) assert(unique[0]!.lsn === stop && unique[0]!.willInit, 'the oldest kept version is the stop point');
  return unique;
}

/** At one LSN: a version from an image layer (the page after everything at that LSN), then will-init. */
function tieRank(version: VersionRef): number {
  return version.layer.kind === 'image' ? 2 : version.willInit ? 1 : 0;
}

/** Reads the versions' values (one readValues call per layer) into ReconstructData. */
export async function reconstructDataOf(versions: readonly VersionRef[]): Promise<ReconstructData | undefined> {
  if (versions.length === 0) return undefined;
  return dataOf(versions, await readGrouped(versions));
}

/** The reconstruct data of one key from its versions and their values (same order). */
export function dataOf(versions: readonly VersionRef[], values: readonly Value[]): ReconstructData | undefined {
  if (versions.length === 0) return undefined;
  assert(values.length === versions.length, 'one value per version');
  const data: ReconstructData = { image: undefined, records: [] };
  for (let index = 0; index < values.length; index++) {
    const value = values[index]!;
    const versionLsn = versions[index]!.lsn;
    if (value.kind === 'image') {
      assert(index === 0, 'an image can only be the oldest needed version');
      data.image = { lsn: versionLsn, bytes: value.bytes };
    } else {
      data.records.push({ lsn: versionLsn, value });
    }
  }
  return data;
}

/** Reads the versions' values with one readValues call per layer, results in input order. */
export async function readGrouped(versions: readonly VersionRef[]): Promise<Value[]> {
  const byLayer = new Map<SearchableLayer, number[]>();
  for (let index = 0; index < versions.length; index++) {
    const layer = versions[index]!.layer;
    const indexes = byLayer.get(layer);
    if (indexes === undefined) byLayer.set(layer, [index]);
    else indexes.push(index);
  }
  const values = new Array<Value>(versions.length);
  await Promise.all([...byLayer].map(async ([layer, indexes]) => {
    const read = await layer.readValues(indexes.map((index) => versions[index]!));
    assert(read.length === indexes.length, 'a layer returns one value per ref');
    for (let position = 0; position < indexes.length; position++) values[indexes[position]!] = read[position]!;
  }));
  return values;
}
