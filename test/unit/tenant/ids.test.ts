/**
 * Tenant and timeline ids: generated ids are 32 lower-case hex characters and distinct; parsing
 * accepts only 32 hex characters, returns the lower-case spelling and names the bad input.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import { generateId, isCanonicalId, parseId } from '../../../src/tenant/ids.js';

test('generateId returns 32 lower-case hex characters, different each time', () => {
  const ids = new Set<string>();
  for (let index = 0; index < 1000; index += 1) {
    const id = generateId();
    assert.match(id, /^[0-9a-f]{32}$/);
    ids.add(id);
  }
  assert.is(ids.size, 1000);
});

test('parseId accepts a canonical id unchanged and lower-cases upper-case hex', () => {
  const id = generateId();
  assert.is(parseId(id, 'tenant'), id);
  assert.is(parseId(id.toUpperCase(), 'timeline'), id);
  assert.ok(isCanonicalId(parseId(id.toUpperCase(), 'timeline')));
  assert.not.ok(isCanonicalId(id.toUpperCase()));
});

test('parseId rejects bad ids with PS_ERR_BAD_REQUEST naming the id and what was expected', () => {
  const bad: unknown[] = ['xyz', 'a'.repeat(31), 'a'.repeat(33), 'g'.repeat(32), `../${'a'.repeat(29)}`, '', 42, undefined];
  for (const text of bad) {
    try {
      parseId(text, 'tenant');
      assert.unreachable(`accepted ${String(text)}`);
    } catch (error) {
      assert.ok(isStrataError(error, 'PS_ERR_BAD_REQUEST'), String(text));
      assert.is(error.message, `invalid tenant id '${String(text)}': expected 32 hex characters`);
    }
  }
});

test('parseId names timeline ids as such and does not echo huge input', () => {
  const huge = 'z'.repeat(10_000);
  assert.throws(() => parseId(huge, 'timeline'), (error: unknown) =>
    isStrataError(error, 'PS_ERR_BAD_REQUEST') && error.message.startsWith('invalid timeline id') && error.message.length < 200);
});

test.run();
