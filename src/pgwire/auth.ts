/**
 * Client side of PostgreSQL password authentication: cleartext, md5 and SCRAM-SHA-256 (RFC 5802 /
 * RFC 7677), the PG15 default for password authentication. Pure computation with node:crypto; the
 * connection drives the exchange.
 *
 * SCRAM exchange (no channel binding, since Strata does not use TLS):
 *
 *   client-first  "n,,n=<user>,r=<client nonce>"
 *   server-first  "r=<client nonce + server nonce>,s=<salt base64>,i=<iterations>"
 *   client-final  "c=biws,r=<full nonce>,p=<proof base64>"
 *   server-final  "v=<server signature base64>"   (verified: a fake server cannot pass)
 *
 * PostgreSQL ignores the SCRAM user name (it uses the startup user) and sends "n=" empty, as libpq
 * does. Passwords are used as given (no SASLprep), which matches PostgreSQL for ASCII passwords.
 * Nothing here ever puts a password or a derived key into an error message.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { StrataError } from '../errors.js';
import { assert } from '../assert.js';

export const SCRAM_SHA_256 = 'SCRAM-SHA-256';
/** Bounds a server-chosen iteration count so a hostile server cannot stall the client. */
const SCRAM_ITERATIONS_MAX = 10_000_000;

/** "md5" + md5hex(md5hex(password + user) + salt), as PasswordMessage expects. */
export function md5PasswordResponse(user: string, password: string, salt: Uint8Array): string {
  assert(salt.length === 4, 'md5 salt is four bytes');
  const inner = createHash('md5').update(password, 'utf8').update(user, 'utf8').digest('hex');
  const outer = createHash('md5').update(inner, 'utf8').update(salt).digest('hex');
  return `md5${outer}`;
}

function authError(message: string): StrataError {
  return new StrataError('PS_ERR_PROTOCOL', `SCRAM-SHA-256: ${message}`);
}

function hmac(key: Uint8Array, text: string): Buffer {
  return createHmac('sha256', key).update(text, 'utf8').digest();
}

function parseAttributes(message: string): Map<string, string> {
  const attributes = new Map<string, string>();
  for (const part of message.split(',')) {
    const equals = part.indexOf('=');
    if (equals !== 1) throw authError('malformed server message');
    attributes.set(part[0]!, part.slice(2));
  }
  return attributes;
}

/**
 * One SCRAM-SHA-256 exchange. Call `clientFirstMessage()`, then `clientFinalMessage(serverFirst)`,
 * then `verifyServerFinal(serverFinal)`; each step asserts the previous one happened.
 */
export class ScramClient {
  readonly #user: string;
  readonly #password: string;
  readonly #clientNonce: string;
  #clientFirstBare: string | undefined;
  #expectedServerSignature: Buffer | undefined;

  constructor(options: { password: string; user?: string; clientNonce?: string }) {
    this.#user = options.user ?? '';
    this.#password = options.password;
    this.#clientNonce = options.clientNonce ?? randomBytes(18).toString('base64');
    assert(!this.#clientNonce.includes(','), 'a SCRAM nonce cannot contain a comma');
  }

  clientFirstMessage(): string {
    const escapedUser = this.#user.replace(/=/g, '=3D').replace(/,/g, '=2C');
    this.#clientFirstBare = `n=${escapedUser},r=${this.#clientNonce}`;
    return `n,,${this.#clientFirstBare}`;
  }

  clientFinalMessage(serverFirst: string): string {
    assert(this.#clientFirstBare !== undefined, 'client-first must be sent before client-final');
    const attributes = parseAttributes(serverFirst);
    const nonce = attributes.get('r');
    const salt = attributes.get('s');
    const iterations = Number(attributes.get('i'));
    if (nonce === undefined || !nonce.startsWith(this.#clientNonce) || nonce.length === this.#clientNonce.length) {
      throw authError('server nonce does not extend the client nonce');
    }
    if (salt === undefined || salt === '') throw authError('server sent no salt');
    if (!Number.isInteger(iterations) || iterations < 1 || iterations > SCRAM_ITERATIONS_MAX) {
      throw authError(`server sent an invalid iteration count`);
    }
    const saltedPassword = pbkdf2Sync(this.#password, Buffer.from(salt, 'base64'), iterations, 32, 'sha256');
    const clientKey = hmac(saltedPassword, 'Client Key');
    const storedKey = createHash('sha256').update(clientKey).digest();
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.#clientFirstBare},${serverFirst},${withoutProof}`;
    const clientSignature = hmac(storedKey, authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let index = 0; index < proof.length; index++) proof[index] = clientKey[index]! ^ clientSignature[index]!;
    this.#expectedServerSignature = hmac(hmac(saltedPassword, 'Server Key'), authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  verifyServerFinal(serverFinal: string): void {
    assert(this.#expectedServerSignature !== undefined, 'client-final must be sent before verifying');
    const attributes = parseAttributes(serverFinal);
    const error = attributes.get('e');
    if (error !== undefined) throw authError(`server rejected the exchange (${error})`);
    const signature = Buffer.from(attributes.get('v') ?? '', 'base64');
    const expected = this.#expectedServerSignature;
    if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
      throw authError('server signature does not match: the server does not know the password');
    }
  }
}
