/**
 * Frontend (client → server) messages of the PostgreSQL v3 protocol, serialized to exact bytes.
 * Pure: each function returns a fresh Buffer and touches no socket.
 *
 * Only what a physical replication client sends is here: the startup packet, password and SASL
 * answers, simple Query, CopyData / CopyDone (the client half of CopyBoth), Terminate, and the
 * standby status update that travels inside CopyData.
 *
 *   StartupMessage: | length i32 | protocol 196608 (3.0) i32 | (name\0 value\0)* | \0 |
 *   other frames:   | code u8 | length i32 (counts itself) | body |
 */
import { assert } from '../assert.js';
import { writeLsnBE, type Lsn } from '../lsn.js';

/** Protocol 3.0 as the startup packet spells it: major << 16 | minor. */
export const PROTOCOL_VERSION_3 = 196608;

export const enum FrontendCode {
  PasswordMessage = 0x70,   // p (also SASLInitialResponse and SASLResponse)
  Query = 0x51,             // Q
  CopyData = 0x64,          // d
  CopyDone = 0x63,          // c
  Terminate = 0x58,         // X
}

/** Sub-message tag of a standby status update inside CopyData. */
export const STANDBY_STATUS_UPDATE = 0x72; // r
/** Bytes of a standby status update body: tag, three LSNs, clock, reply flag. */
export const STANDBY_STATUS_UPDATE_LENGTH = 1 + 8 + 8 + 8 + 8 + 1;

/** Unix epoch milliseconds of PostgreSQL's epoch, 2000-01-01 00:00:00 UTC. */
export const POSTGRES_EPOCH_UNIX_MS = 946_684_800_000;

function frame(code: number, body: Uint8Array): Buffer {
  const buffer = Buffer.allocUnsafe(5 + body.length);
  buffer[0] = code;
  buffer.writeInt32BE(4 + body.length, 1);
  buffer.set(body, 5);
  return buffer;
}

function cString(text: string): Buffer {
  assert(!text.includes('\0'), 'protocol strings cannot contain NUL');
  return Buffer.from(`${text}\0`, 'utf8');
}

/** The startup packet; `parameters` become name/value pairs (user is required by the server). */
export function serializeStartup(parameters: Readonly<Record<string, string>>): Buffer {
  assert(typeof parameters.user === 'string' && parameters.user.length > 0, 'startup needs a user');
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(parameters)) parts.push(cString(name), cString(value));
  parts.push(Buffer.from([0]));
  const body = Buffer.concat(parts);
  const buffer = Buffer.allocUnsafe(8 + body.length);
  buffer.writeInt32BE(8 + body.length, 0);
  buffer.writeInt32BE(PROTOCOL_VERSION_3, 4);
  body.copy(buffer, 8);
  return buffer;
}

/** PasswordMessage: the cleartext or md5-hashed password. */
export function serializePassword(password: string): Buffer {
  return frame(FrontendCode.PasswordMessage, cString(password));
}

/** SASLInitialResponse: mechanism name, then the length-prefixed client-first message. */
export function serializeSaslInitialResponse(mechanism: string, data: Uint8Array): Buffer {
  const name = cString(mechanism);
  const body = Buffer.allocUnsafe(name.length + 4 + data.length);
  name.copy(body, 0);
  body.writeInt32BE(data.length, name.length);
  body.set(data, name.length + 4);
  return frame(FrontendCode.PasswordMessage, body);
}

/** SASLResponse: the raw client-final message. */
export function serializeSaslResponse(data: Uint8Array): Buffer {
  return frame(FrontendCode.PasswordMessage, data);
}

export function serializeQuery(sql: string): Buffer {
  return frame(FrontendCode.Query, cString(sql));
}

export function serializeCopyData(data: Uint8Array): Buffer {
  return frame(FrontendCode.CopyData, data);
}

const COPY_DONE = Buffer.from([FrontendCode.CopyDone, 0, 0, 0, 4]);
const TERMINATE = Buffer.from([FrontendCode.Terminate, 0, 0, 0, 4]);

export function serializeCopyDone(): Buffer {
  return Buffer.from(COPY_DONE);
}

export function serializeTerminate(): Buffer {
  return Buffer.from(TERMINATE);
}

export interface StandbyStatus {
  /** Last WAL byte + 1 received and written. */
  write: Lsn;
  /** Last WAL byte + 1 durable on the standby. */
  flush: Lsn;
  /** Last WAL byte + 1 applied. */
  apply: Lsn;
  /** Client clock in Unix epoch milliseconds. */
  clockUnixMs: number;
  /** Ask the server to answer with a keepalive right away. */
  replyRequested: boolean;
}

/** Microseconds since 2000-01-01 as a signed 64-bit integer (PostgreSQL TimestampTz). */
export function unixMsToPostgresMicros(unixMs: number): bigint {
  return BigInt(Math.round((unixMs - POSTGRES_EPOCH_UNIX_MS) * 1000));
}

/** A standby status update ('r') wrapped in a CopyData frame, ready for the socket. */
export function serializeStandbyStatus(status: StandbyStatus): Buffer {
  assert(status.flush <= status.write || status.write === 0, 'flush cannot pass write');
  assert(Number.isSafeInteger(status.apply) && status.apply >= 0, 'apply must be a valid LSN');
  const body = Buffer.alloc(STANDBY_STATUS_UPDATE_LENGTH);
  body[0] = STANDBY_STATUS_UPDATE;
  writeLsnBE(body, 1, status.write);
  writeLsnBE(body, 9, status.flush);
  writeLsnBE(body, 17, status.apply);
  body.writeBigInt64BE(unixMsToPostgresMicros(status.clockUnixMs), 25);
  body[33] = status.replyRequested ? 1 : 0;
  return serializeCopyData(body);
}
