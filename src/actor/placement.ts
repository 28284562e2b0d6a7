/**
 * Placement: which worker thread hosts an actor. `hash(placementKey) % threads`, with 32-bit
 * FNV-1a over the key's UTF-16 code units, so placement is stable across processes and restarts
 * (all actors of one tenant share a placement key, hence a thread, and talk without crossing
 * threads).
 */
import { assert } from '../assert.js';

const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export function fnv1a32(text: string): number {
  let hash = FNV_OFFSET_BASIS;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, FNV_PRIME);
  }
  return hash >>> 0;
}

export function threadForKey(placementKey: string, threads: number): number {
  assert(Number.isInteger(threads) && threads >= 1, 'placement needs at least one thread');
  const thread = fnv1a32(placementKey) % threads;
  assert(thread >= 0 && thread < threads, 'placement lands on an existing thread');
  return thread;
}
