/**
 * Layer file names: a pure format/parse pair, so a directory listing alone tells which key range
 * and LSN range every file covers (as Neon's `layer_name.rs`).
 *
 * Grammar (keys are the 36-character lower-case hex form of keys.ts; LSNs are 16 upper-case hex
 * digits, zero-padded, so names sort by key range then LSN):
 *
 *   delta  <keyStart>-<keyEnd>__<lsnStart>-<lsnEnd>     key range [start, end), LSN range [start, end)
 *   image  <keyStart>-<keyEnd>__<lsn>                   key range [start, end), images at one LSN
 *
 * Real examples (relation 1663/5/1259, main fork, blocks and size key; one flush of WAL up to
 * 0/14F0B27):
 *
 *   000000067f00000005000004eb0000000000-000000067f00000005000004eb0100000000__00000000014E8A10-00000000014F0B28
 *   000000000000000000000000000000000000-ffffffffffffffffffffffffffffffffffff__00000000014E8A10
 *
 * Key ends are exclusive, so a range ending after key K ends at `keySuccessor(K)`; the key space
 * never uses a first byte of 0xFF (keys.ts kinds are 0-3), which makes `KEY_SPACE_END` a valid
 * exclusive end for everything.
 */
import { assert, unreachable } from '../assert.js';
import { KEY_HEX_LENGTH, type Key } from '../keys.js';
import type { Lsn } from '../lsn.js';

export const KEY_SPACE_START: Key = '0'.repeat(KEY_HEX_LENGTH);
export const KEY_SPACE_END: Key = 'f'.repeat(KEY_HEX_LENGTH);

export type LayerName =
  | { kind: 'delta'; keyStart: Key; keyEnd: Key; lsnStart: Lsn; lsnEnd: Lsn }
  | { kind: 'image'; keyStart: Key; keyEnd: Key; lsn: Lsn };

const KEY_PATTERN = '([0-9a-f]{36})';
const LSN_PATTERN = '([0-9A-F]{16})';
const DELTA_PATTERN = new RegExp(`^${KEY_PATTERN}-${KEY_PATTERN}__${LSN_PATTERN}-${LSN_PATTERN}$`);
const IMAGE_PATTERN = new RegExp(`^${KEY_PATTERN}-${KEY_PATTERN}__${LSN_PATTERN}$`);

function formatLsnHex16(lsn: Lsn): string {
  assert(Number.isSafeInteger(lsn) && lsn >= 0, 'LSN must be a non-negative safe integer');
  return lsn.toString(16).toUpperCase().padStart(16, '0');
}

function parseLsnHex16(text: string): Lsn | undefined {
  const value = parseInt(text, 16);
  return Number.isSafeInteger(value) ? value : undefined;
}

export function formatLayerName(name: LayerName): string {
  assert(name.keyStart < name.keyEnd, 'layer key range must not be empty');
  if (name.kind === 'delta') {
    assert(name.lsnStart < name.lsnEnd, 'delta LSN range must not be empty');
    return `${name.keyStart}-${name.keyEnd}__${formatLsnHex16(name.lsnStart)}-${formatLsnHex16(name.lsnEnd)}`;
  }
  return `${name.keyStart}-${name.keyEnd}__${formatLsnHex16(name.lsn)}`;
}

/** The layer a file name describes, or undefined for any other file (metadata, temp files…). */
export function parseLayerName(fileName: string): LayerName | undefined {
  const delta = DELTA_PATTERN.exec(fileName);
  if (delta) {
    const lsnStart = parseLsnHex16(delta[3]!);
    const lsnEnd = parseLsnHex16(delta[4]!);
    if (lsnStart === undefined || lsnEnd === undefined || lsnStart >= lsnEnd || delta[1]! >= delta[2]!) return undefined;
    return { kind: 'delta', keyStart: delta[1]!, keyEnd: delta[2]!, lsnStart, lsnEnd };
  }
  const image = IMAGE_PATTERN.exec(fileName);
  if (image) {
    const lsn = parseLsnHex16(image[3]!);
    if (lsn === undefined || image[1]! >= image[2]!) return undefined;
    return { kind: 'image', keyStart: image[1]!, keyEnd: image[2]!, lsn };
  }
  return undefined;
}

/** The smallest key greater than `key` (exclusive end of a range whose last key is `key`). */
export function keySuccessor(key: Key): Key {
  assert(key.length === KEY_HEX_LENGTH, 'key must be 36 hex characters');
  assert(key < KEY_SPACE_END, 'the last key of the key space has no successor');
  const digits = key.split('');
  for (let index = digits.length - 1; index >= 0; index--) {
    const digit = parseInt(digits[index]!, 16);
    if (digit < 15) {
      digits[index] = (digit + 1).toString(16);
      return digits.join('');
    }
    digits[index] = '0';
  }
  return unreachable('keySuccessor overflowed although key < KEY_SPACE_END');
}
