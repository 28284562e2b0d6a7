/**
 * A simple, obviously-correct in-memory TimelineStore for tests of ingest, import and readers.
 *
 * WHY: ingest must be testable without the layered storage engine; this store keeps, per key, the
 * versions in LSN order and answers getReconstructData exactly as storage/value.ts documents it:
 * the newest image at or below the LSN plus the records after it, oldest first, stopping early at
 * a will-init record (then no image). It also rejects what the real store rejects: an LSN going
 * backwards, and two values for one key at one LSN.
 */
import { assert } from '../../src/assert.js';
import type { Key } from '../../src/keys.js';
import type { Lsn } from '../../src/lsn.js';
import type { TimelineStore } from '../../src/storage/types.js';
import type { ReconstructData, Value } from '../../src/value.js';

interface Version { lsn: Lsn; value: Value }

export class MemoryStore implements TimelineStore {
  readonly versions = new Map<Key, Version[]>();
  lastPutLsn: Lsn = 0;
  diskConsistentLsn: Lsn = 0;
  openLayerBytes = 0;
  putCount = 0;

  put(key: Key, lsn: Lsn, value: Value): void {
    assert(lsn >= this.lastPutLsn, `LSN went backwards: ${lsn} < ${this.lastPutLsn}`);
    let list = this.versions.get(key);
    if (list === undefined) {
      list = [];
      this.versions.set(key, list);
    }
    const last = list[list.length - 1];
    assert(last === undefined || last.lsn < lsn, `two values for key ${key} at LSN ${lsn}`);
    list.push({ lsn, value });
    this.lastPutLsn = lsn;
    this.putCount += 1;
    this.openLayerBytes += value.kind === 'image' ? value.bytes.length : value.kind === 'walRecord' ? value.record.length : 64;
  }

  async getReconstructData(key: Key, lsn: Lsn): Promise<ReconstructData | undefined> {
    return this.getReconstructDataSync(key, lsn);
  }

  getReconstructDataSync(key: Key, lsn: Lsn): ReconstructData | undefined {
    const list = this.versions.get(key);
    if (list === undefined) return undefined;
    let index = list.length - 1;
    while (index >= 0 && list[index]!.lsn > lsn) index -= 1;
    if (index < 0) return undefined;
    const records: ReconstructData['records'] = [];
    for (; index >= 0; index--) {
      const version = list[index]!;
      if (version.value.kind === 'image') {
        records.reverse();
        return { image: { lsn: version.lsn, bytes: version.value.bytes }, records };
      }
      records.push({ lsn: version.lsn, value: version.value });
      if (version.value.willInit) break;
    }
    records.reverse();
    return { image: undefined, records };
  }

  /** Every key with at least one version at or below `lsn`, sorted (test convenience). */
  keysAt(lsn: Lsn): Key[] {
    const keys: Key[] = [];
    for (const [key, list] of this.versions) if (list.length > 0 && list[0]!.lsn <= lsn) keys.push(key);
    return keys.sort();
  }

  async flush(upToLsn: Lsn): Promise<Lsn> {
    assert(upToLsn <= this.lastPutLsn || this.lastPutLsn === 0 || upToLsn >= this.diskConsistentLsn, 'flush LSN out of range');
    this.diskConsistentLsn = Math.max(this.diskConsistentLsn, upToLsn);
    this.openLayerBytes = 0;
    return this.diskConsistentLsn;
  }

  async close(): Promise<void> {
    this.versions.clear();
  }
}
