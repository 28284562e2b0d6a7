/**
 * Tenant and timeline ids: 16 random bytes written as 32 lower-case hex characters (Neon's form).
 *
 * Ids become directory names (`<workdir>/tenants/<tenant_id>/timelines/<timeline_id>/`), so one id
 * must have exactly one spelling: `parseId` accepts upper-case hex from clients but always returns
 * the lower-case form, and rejects anything else before it can reach a path (no `..`, no `/`).
 */
import { randomBytes } from 'node:crypto';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';

export const ID_BYTES = 16;
export const ID_HEX_LENGTH = 32;

const CANONICAL_ID = /^[0-9a-f]{32}$/;
const ACCEPTED_ID = /^[0-9a-fA-F]{32}$/;
/** Longest piece of a bad id echoed back in an error message. */
const ECHOED_CHARACTERS_MAX = 64;

export type IdKind = 'tenant' | 'timeline';

/** A new random id: 32 lower-case hex characters. */
export function generateId(): string {
  const id = randomBytes(ID_BYTES).toString('hex');
  assert(CANONICAL_ID.test(id), 'a generated id is canonical');
  return id;
}

/** True when `text` is already a canonical id (32 lower-case hex characters). */
export function isCanonicalId(text: string): boolean {
  return CANONICAL_ID.test(text);
}

/**
 * Validates an id from outside (HTTP path, request body, directory name) and returns its canonical
 * lower-case form; anything else is PS_ERR_BAD_REQUEST naming what was expected.
 */
export function parseId(text: unknown, what: IdKind): string {
  if (typeof text !== 'string' || !ACCEPTED_ID.test(text)) {
    const shown = String(text).slice(0, ECHOED_CHARACTERS_MAX);
    throw new StrataError('PS_ERR_BAD_REQUEST', `invalid ${what} id '${shown}': expected ${ID_HEX_LENGTH} hex characters`, {
      what,
    });
  }
  const id = text.toLowerCase();
  assert(id.length === ID_HEX_LENGTH, 'a parsed id has 32 characters');
  return id;
}
