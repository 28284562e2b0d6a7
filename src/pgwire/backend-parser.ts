/**
 * Incremental parser of backend (server → client) messages. Pure: no sockets, no timers.
 *
 * Why incremental: TCP delivers arbitrary slices, so a frame can be split anywhere, including
 * inside its five-byte header. `parse(chunk)` returns every message completed by the chunk and
 * keeps the incomplete tail. Partial chunks are kept as a list and joined once, when the frame is
 * complete, so a large message costs one copy instead of one per TCP read; only the frame's own
 * bytes are joined, never the rest of the chunk that completes it (a base backup streams its
 * CopyData frames across nearly every socket read).
 *
 * Ownership: `copyData.data` is a view into the chunk the caller passed (or into a fresh joined
 * buffer). The parser never writes into a buffer it was given or has handed out, so views stay
 * valid for as long as the consumer keeps them.
 *
 *   chunks:  [ ..frame A.. | ..frame B (part) ]  [ (rest of B) | frame C ]
 *   parse:   → [A], keeps B's part              → [B, C] (B joined once)
 */
import { StrataError } from '../errors.js';
import { assert } from '../assert.js';
import { limits } from '../limits.js';
import {
  AuthenticationCode,
  BackendCode,
  HEADER_LENGTH,
  LENGTH_LENGTH,
  NOTICE_FIELD_NAMES,
  type AuthenticationMessage,
  type BackendMessage,
  type FieldDescription,
  type NoticeFields,
  type TransactionStatus,
} from './messages.js';

export interface BackendParserOptions {
  /** Frames whose length field exceeds this are rejected with PS_ERR_PROTOCOL. */
  messageBytesMax?: number;
}

const textDecoder = new TextDecoder('utf-8', { fatal: false });

export class BackendParser {
  readonly #messageBytesMax: number;
  /** Chunks of an incomplete frame, oldest first. */
  #pending: Buffer[] = [];
  #pendingLength = 0;
  /** Bytes needed before the pending chunks can make progress (5 until the header is known). */
  #needed = 0;

  constructor(options: BackendParserOptions = {}) {
    this.#messageBytesMax = options.messageBytesMax ?? limits.pgwireMessageBytesMax;
    assert(this.#messageBytesMax >= 1024, 'messageBytesMax must allow ordinary messages');
  }

  /** Bytes held back, waiting for the rest of a frame. */
  get pendingBytes(): number {
    return this.#pendingLength;
  }

  /** Returns every message the chunk completes; throws PS_ERR_PROTOCOL on a malformed frame. */
  parse(chunk: Uint8Array): BackendMessage[] {
    const buffer = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const messages: BackendMessage[] = [];
    let offset = this.#pendingLength > 0 ? this.#completePending(buffer, messages) : 0;
    while (offset < buffer.length) {
      const remaining = buffer.length - offset;
      if (remaining < HEADER_LENGTH) {
        this.#keep(buffer.subarray(offset), HEADER_LENGTH);
        break;
      }
      const code = buffer[offset]!;
      const length = buffer.readInt32BE(offset + 1);
      this.#checkLength(code, length);
      if (remaining < 1 + length) {
        this.#keep(buffer.subarray(offset), 1 + length);
        break;
      }
      const bodyStart = offset + HEADER_LENGTH;
      const body = buffer.subarray(bodyStart, offset + 1 + length);
      messages.push(parseBody(code, length, body));
      offset += 1 + length;
    }
    return messages;
  }

  /**
   * Feeds the start of `buffer` to the frame held back; returns how many of its bytes that took.
   * Only the frame's own bytes are joined (a large chunk that completes a small tail is not copied
   * as a whole): the rest of the chunk is parsed in place.
   */
  #completePending(buffer: Buffer, messages: BackendMessage[]): number {
    let taken = 0;
    if (this.#needed === HEADER_LENGTH) {
      taken = Math.min(HEADER_LENGTH - this.#pendingLength, buffer.length);
      this.#pending.push(buffer.subarray(0, taken));
      this.#pendingLength += taken;
      if (this.#pendingLength < HEADER_LENGTH) return taken;
      const header = Buffer.concat(this.#pending, HEADER_LENGTH);
      const length = header.readInt32BE(1);
      this.#checkLength(header[0]!, length);
      this.#pending = [header];
      this.#needed = 1 + length;
    }
    const rest = Math.min(this.#needed - this.#pendingLength, buffer.length - taken);
    this.#pending.push(buffer.subarray(taken, taken + rest));
    this.#pendingLength += rest;
    taken += rest;
    if (this.#pendingLength < this.#needed) return taken;
    const frame = Buffer.concat(this.#pending, this.#needed);
    this.#pending = [];
    this.#pendingLength = 0;
    const length = frame.readInt32BE(1);
    messages.push(parseBody(frame[0]!, length, frame.subarray(HEADER_LENGTH)));
    return taken;
  }

  #keep(tail: Buffer, needed: number): void {
    assert(this.#pendingLength === 0, 'pending chunks must be consumed before keeping a tail');
    this.#pending = [tail];
    this.#pendingLength = tail.length;
    this.#needed = needed;
  }

  #checkLength(code: number, length: number): void {
    if (length < LENGTH_LENGTH || length > this.#messageBytesMax) {
      throw new StrataError('PS_ERR_PROTOCOL', `backend message '${String.fromCharCode(code)}' has invalid length ${length}`, {
        code,
        length,
        messageBytesMax: this.#messageBytesMax,
      });
    }
  }
}

/** A bounds-checked cursor over one message body. */
class BodyReader {
  offset = 0;
  constructor(readonly body: Buffer, readonly code: number) {}

  #need(count: number): void {
    if (this.offset + count > this.body.length) {
      throw new StrataError('PS_ERR_PROTOCOL', `backend message '${String.fromCharCode(this.code)}' is truncated`, {
        code: this.code,
        offset: this.offset,
        needed: count,
      });
    }
  }

  int32(): number {
    this.#need(4);
    const value = this.body.readInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  int16(): number {
    this.#need(2);
    const value = this.body.readInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  byte(): number {
    this.#need(1);
    return this.body[this.offset++]!;
  }

  bytes(count: number): Buffer {
    this.#need(count);
    const view = this.body.subarray(this.offset, this.offset + count);
    this.offset += count;
    return view;
  }

  cString(): string {
    const end = this.body.indexOf(0, this.offset);
    if (end < 0) {
      throw new StrataError('PS_ERR_PROTOCOL', `backend message '${String.fromCharCode(this.code)}' has an unterminated string`, {
        code: this.code,
      });
    }
    const text = textDecoder.decode(this.body.subarray(this.offset, end));
    this.offset = end + 1;
    return text;
  }

  rest(): Buffer {
    const view = this.body.subarray(this.offset);
    this.offset = this.body.length;
    return view;
  }

  atEnd(): boolean {
    return this.offset >= this.body.length;
  }
}

const copyDone = (length: number): BackendMessage => ({ name: 'copyDone', length });

function parseBody(code: number, length: number, body: Buffer): BackendMessage {
  const reader = new BodyReader(body, code);
  switch (code) {
    case BackendCode.CopyData:
      return { name: 'copyData', length, data: body };
    case BackendCode.CopyDone:
      return copyDone(length);
    case BackendCode.DataRow:
      return parseDataRow(reader, length);
    case BackendCode.Authentication:
      return parseAuthentication(reader, length);
    case BackendCode.ParameterStatus:
      return { name: 'parameterStatus', length, parameter: reader.cString(), value: reader.cString() };
    case BackendCode.BackendKeyData:
      return { name: 'backendKeyData', length, processId: reader.int32(), secretKey: reader.int32() };
    case BackendCode.ReadyForQuery:
      return { name: 'readyForQuery', length, status: parseTransactionStatus(reader.byte()) };
    case BackendCode.RowDescription:
      return parseRowDescription(reader, length);
    case BackendCode.CommandComplete:
      return { name: 'commandComplete', length, tag: reader.cString() };
    case BackendCode.ErrorResponse:
      return { name: 'errorResponse', length, fields: parseNoticeFields(reader) };
    case BackendCode.NoticeResponse:
      return { name: 'noticeResponse', length, fields: parseNoticeFields(reader) };
    case BackendCode.CopyOutResponse:
    case BackendCode.CopyBothResponse:
      return parseCopyResponse(reader, length);
    case BackendCode.EmptyQueryResponse:
      return { name: 'emptyQueryResponse', length };
    default:
      return { name: 'unknown', length, code };
  }
}

function parseAuthentication(reader: BodyReader, length: number): AuthenticationMessage {
  const method = reader.int32();
  switch (method) {
    case AuthenticationCode.Ok:
      return { name: 'authenticationOk', length };
    case AuthenticationCode.CleartextPassword:
      return { name: 'authenticationCleartextPassword', length };
    case AuthenticationCode.MD5Password:
      return { name: 'authenticationMD5Password', length, salt: Uint8Array.from(reader.bytes(4)) };
    case AuthenticationCode.SASL: {
      const mechanisms: string[] = [];
      while (!reader.atEnd()) {
        const mechanism = reader.cString();
        if (mechanism === '') break;
        mechanisms.push(mechanism);
      }
      return { name: 'authenticationSASL', length, mechanisms };
    }
    case AuthenticationCode.SASLContinue:
      return { name: 'authenticationSASLContinue', length, data: reader.rest().toString('utf8') };
    case AuthenticationCode.SASLFinal:
      return { name: 'authenticationSASLFinal', length, data: reader.rest().toString('utf8') };
    default:
      return { name: 'authenticationUnsupported', length, method };
  }
}

function parseTransactionStatus(byte: number): TransactionStatus {
  if (byte === 0x49) return 'idle'; // I
  if (byte === 0x54) return 'inTransaction'; // T
  if (byte === 0x45) return 'failedTransaction'; // E
  throw new StrataError('PS_ERR_PROTOCOL', `ReadyForQuery has unknown status byte ${byte}`, { status: byte });
}

function parseRowDescription(reader: BodyReader, length: number): BackendMessage {
  const count = reader.int16();
  const fields: FieldDescription[] = new Array<FieldDescription>(count);
  for (let index = 0; index < count; index++) {
    fields[index] = {
      name: reader.cString(),
      tableOid: reader.int32() >>> 0,
      columnNumber: reader.int16(),
      typeOid: reader.int32() >>> 0,
      typeSize: reader.int16(),
      typeModifier: reader.int32(),
      format: reader.int16(),
    };
  }
  return { name: 'rowDescription', length, fields };
}

function parseDataRow(reader: BodyReader, length: number): BackendMessage {
  const count = reader.int16();
  const values: (string | null)[] = new Array<string | null>(count);
  for (let index = 0; index < count; index++) {
    const size = reader.int32();
    values[index] = size < 0 ? null : textDecoder.decode(reader.bytes(size));
  }
  return { name: 'dataRow', length, values };
}

function parseNoticeFields(reader: BodyReader): NoticeFields {
  const fields: Record<string, string> = {};
  let other: Record<string, string> | undefined;
  for (;;) {
    const type = reader.byte();
    if (type === 0) break;
    const letter = String.fromCharCode(type);
    const value = reader.cString();
    const key = NOTICE_FIELD_NAMES[letter];
    if (key === undefined) {
      other ??= {};
      other[letter] = value;
    } else {
      fields[key] = value;
    }
  }
  if (other !== undefined) return { ...fields, other } as NoticeFields;
  return fields as NoticeFields;
}

function parseCopyResponse(reader: BodyReader, length: number): BackendMessage {
  const format = reader.byte();
  const count = reader.int16();
  const columnFormats: number[] = [];
  for (let index = 0; index < count; index++) columnFormats.push(reader.int16());
  const name = reader.code === BackendCode.CopyOutResponse ? 'copyOutResponse' : 'copyBothResponse';
  return { name, length, format, columnFormats };
}
