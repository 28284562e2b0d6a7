/**
 * What the timelines of one tenant share on their actor thread: each timeline's open store (so a
 * branch reads below its branch point from its ancestor's layers) and each timeline's children
 * with their branch points (so the ancestor's GC keeps what they need).
 *
 * WHY shared objects and not messages: a GetPage on a branch may descend through several
 * ancestors, once per page; a message hop per level would multiply the latency of every read.
 * Layer files are immutable and every timeline of a tenant lives on the tenant's thread, so a
 * child reads its ancestor's layer map directly (as Neon's timelines hold their ancestor), and the
 * ancestor's compaction and GC keep those reads safe (read gates, retained branch points). All
 * state changes (a store published, a branch added or removed) still happen inside the tenant's
 * and timelines' actors, one message at a time.
 */
import { StrataError } from '../errors.js';
import type { Lsn } from '../lsn.js';
import type { LayeredTimelineStore } from '../storage/layered-timeline-store.js';

/** How long a branch waits for its ancestor's store when both load at startup. */
const ANCESTOR_WAIT_MS = 60_000;

interface Published {
  store: LayeredTimelineStore | undefined;
  waiters: ((store: LayeredTimelineStore) => void)[];
}

export class BranchRegistry {
  readonly #stores = new Map<string, Published>();
  /** parent id → (child id → branch point). */
  readonly #children = new Map<string, Map<string, Lsn>>();

  publishStore(timelineId: string, store: LayeredTimelineStore): void {
    const entry = this.#stores.get(timelineId) ?? { store: undefined, waiters: [] };
    entry.store = store;
    this.#stores.set(timelineId, entry);
    for (const waiter of entry.waiters.splice(0)) waiter(store);
  }

  unpublishStore(timelineId: string): void {
    const entry = this.#stores.get(timelineId);
    if (entry !== undefined) entry.store = undefined;
  }

  /** The ancestor's store, waiting (bounded) while it loads. */
  storeOf(timelineId: string, waitMs = ANCESTOR_WAIT_MS): Promise<LayeredTimelineStore> {
    const entry = this.#stores.get(timelineId) ?? { store: undefined, waiters: [] };
    this.#stores.set(timelineId, entry);
    if (entry.store !== undefined) return Promise.resolve(entry.store);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        entry.waiters = entry.waiters.filter((waiter) => waiter !== done);
        reject(new StrataError('PS_ERR_BROKEN', `ancestor timeline ${timelineId} did not load within ${waitMs} ms`, { ancestor_timeline_id: timelineId }));
      }, waitMs);
      const done = (store: LayeredTimelineStore) => {
        clearTimeout(timer);
        resolve(store);
      };
      entry.waiters.push(done);
    });
  }

  addBranch(parentId: string, childId: string, lsn: Lsn): void {
    const children = this.#children.get(parentId) ?? new Map<string, Lsn>();
    children.set(childId, lsn);
    this.#children.set(parentId, children);
  }

  removeBranch(parentId: string, childId: string): void {
    this.#children.get(parentId)?.delete(childId);
  }

  /** Branch points of `parentId`'s children, ascending (GC keeps reads at each working). */
  retainLsns(parentId: string): Lsn[] {
    return [...(this.#children.get(parentId)?.values() ?? [])].sort((a, b) => a - b);
  }

  childrenOf(parentId: string): string[] {
    return [...(this.#children.get(parentId)?.keys() ?? [])].sort();
  }
}
