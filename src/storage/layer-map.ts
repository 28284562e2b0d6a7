/**
 * The set of layers of a timeline and the search for a key at an LSN.
 *
 * Layers are kept sorted by lsnEnd, newest first (the open in-memory layer, whose lsnEnd is
 * open-ended, always comes first). A search for (key, lsn):
 *
 *   1. walks the layers newest first, skipping those whose key range does not contain the key or
 *      whose lsnStart lies above lsn;
 *   2. collects, from each layer's in-memory index only, the versions with LSN ≤ lsn, and tracks
 *      the highest LSN `stop` of a version that is an image or a will-init record;
 *   3. ends the walk as soon as a layer's lsnEnd ≤ stop: no older layer can hold a version above
 *      the stop point (ranges may overlap; this rule only relies on lsnEnd bounds);
 *   4. keeps the versions at or above `stop`, oldest first, and reads only those values.
 *
 * Complexity: O(L) layer checks per lookup plus O(log n) per candidate file layer (binary search
 * of its index), and one positioned read per needed value. L is a few hundred at most before
 * compaction exists; an interval tree over (key range × LSN range) would make step 1 sublinear.
 * Sorting happens on mutation, not per lookup.
 */
import { assert } from '../assert.js';
import type { Key } from '../keys.js';
import type { Lsn } from '../lsn.js';
import type { SearchableLayer, VersionRef } from './searchable-layer.js';
import type { ReconstructData, Value } from '../value.js';

export class LayerMap {
  #layers: SearchableLayer[] = [];
  #sorted = true;

  get layers(): readonly SearchableLayer[] {
    this.#sort();
    return this.#layers;
  }

  add(layer: SearchableLayer): void {
    assert(!this.#layers.includes(layer), 'layer added twice');
    this.#layers.push(layer);
    this.#sorted = false;
  }

  remove(layer: SearchableLayer): void {
    const index = this.#layers.indexOf(layer);
    assert(index >= 0, 'removed layer is in the map');
    this.#layers.splice(index, 1);
  }

  /** Swaps a frozen in-memory layer for the file that now holds the same versions. */
  replace(previous: SearchableLayer, next: SearchableLayer): void {
    const index = this.#layers.indexOf(previous);
    assert(index >= 0, 'replaced layer is in the map');
    assert(!this.#layers.includes(next), 'replacement is not in the map yet');
    this.#layers[index] = next;
    this.#sorted = false;
  }

  /** Call after a layer's LSN range changed (freeze). */
  invalidateOrder(): void {
    this.#sorted = false;
  }

  #sort(): void {
    if (this.#sorted) return;
    this.#layers.sort((left, right) => right.lsnEnd - left.lsnEnd);
    this.#sorted = true;
  }

  /** Versions needed to reconstruct (key, lsn), oldest first; empty when the key has none. */
  collectReconstructVersions(key: Key, lsn: Lsn): VersionRef[] {
    this.#sort();
    const found: VersionRef[] = [];
    let stop = -1;
    for (const layer of this.#layers) {
      if (stop >= 0 && layer.lsnEnd <= stop) break;
      if (key < layer.keyStart || key >= layer.keyEnd || layer.lsnStart > lsn) continue;
      const before = found.length;
      layer.collectVersions(key, lsn, found);
      for (let index = before; index < found.length; index++) {
        const version = found[index]!;
        if (version.willInit && version.lsn > stop) stop = version.lsn;
      }
    }
    return selectVersions(found, stop);
  }

  async getReconstructData(key: Key, lsn: Lsn): Promise<ReconstructData | undefined> {
    const versions = this.collectReconstructVersions(key, lsn);
    if (versions.length === 0) return undefined;
    const values = await readGrouped(versions);
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

  /** Keys in [start, end) with any version at or below `lsn`, sorted. */
  keysInRange(start: Key, end: Key, lsn: Lsn): Key[] {
    const keys = new Set<Key>();
    for (const layer of this.#layers) {
      if (end <= layer.keyStart || start >= layer.keyEnd || layer.lsnStart > lsn) continue;
      layer.collectKeys(start, end, lsn, keys);
    }
    return [...keys].sort();
  }
}

/**
 * Keeps versions at or above `stop` (all when no stop point), sorted ascending, one per LSN: when
 * overlapping layers both hold an LSN, the first found (the layer with the higher lsnEnd) wins.
 */
function selectVersions(found: VersionRef[], stop: Lsn): VersionRef[] {
  const kept = stop < 0 ? found : found.filter((version) => version.lsn >= stop);
  kept.sort((left, right) => left.lsn - right.lsn);
  const unique: VersionRef[] = [];
  for (const version of kept) {
    const last = unique[unique.length - 1];
    if (last !== undefined && last.lsn === version.lsn) continue;
    unique.push(version);
  }
  if (unique.length > 0 && stop >= 0) assert(unique[0]!.lsn === stop, 'the oldest kept version is the stop point');
  return unique;
}

/** Reads the versions' values with one readValues call per layer, results in input order. */
async function readGrouped(versions: readonly VersionRef[]): Promise<Value[]> {
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
