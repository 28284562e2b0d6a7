/**
 * Client-side password authentication: SCRAM-SHA-256 against the RFC 7677 test vector, and md5
 * against a value computed independently (Python hashlib).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { md5PasswordResponse, ScramClient } from '../../../src/pgwire/auth.js';
import { isStrataError } from '../../../src/errors.js';

const SERVER_FIRST = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';

test('SCRAM-SHA-256 matches the RFC 7677 example exchange', () => {
  const client = new ScramClient({ user: 'user', password: 'pencil', clientNonce: 'rOprNGfwEbeRWgbNEkqO' });
  assert.is(client.clientFirstMessage(), 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
  assert.is(
    client.clientFinalMessage(SERVER_FIRST),
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  );
  client.verifyServerFinal('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
});

test('SCRAM rejects a wrong server signature', () => {
  const client = new ScramClient({ user: 'user', password: 'pencil', clientNonce: 'rOprNGfwEbeRWgbNEkqO' });
  client.clientFirstMessage();
  client.clientFinalMessage(SERVER_FIRST);
  try {
    client.verifyServerFinal('v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
    assert.unreachable('a forged server signature must fail');
  } catch (error) {
    assert.ok(isStrataError(error, 'PS_ERR_PROTOCOL'));
    assert.not.match((error as Error).message, /pencil/);
  }
});

test('SCRAM rejects a server nonce that does not extend ours', () => {
  const client = new ScramClient({ password: 'pencil', clientNonce: 'abc' });
  client.clientFirstMessage();
  assert.throws(() => client.clientFinalMessage('r=xyz123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096'), /nonce/);
});

test('SCRAM as PostgreSQL uses it sends an empty user name', () => {
  assert.match(new ScramClient({ password: 'x' }).clientFirstMessage(), /^n,,n=,r=[A-Za-z0-9+/=]+$/);
});

test('md5 password response', () => {
  assert.is(md5PasswordResponse('postgres', 'secret', Uint8Array.from([1, 2, 3, 4])), 'md5bb41a296aab6baccb36ff243a562abff');
});

test.run();
