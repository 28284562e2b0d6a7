/**
 * The server half of the PostgreSQL v3 wire protocol, as the page service needs it (issue 11):
 * an incremental parser of what a client sends, and serializers of what a server answers. Pure:
 * no sockets; the connection feeds bytes in and writes bytes out.
 *
 * WHY our own and not pg-gateway (0.2.4, looked at for this): it handles a simple Query by a
 * callback that returns bytes and hands every other message to an escape hatch (no CopyBoth),
 * awaits each message before reading the next, and logs its own failures with console.error
 * instead of answering them; a page service needs CopyBoth, pipelined requests and coded errors.
 *
 * Client → server:
 *
 *   before startup   | length i32 (counts itself) | code i32 | body |
 *                      code 196608 (3.0) StartupMessage: (name\0 value\0)* \0
 *                      code 80877103 SSLRequest, 80877104 GSSENCRequest: answered 'N' (no TLS)
 *                      code 80877102 CancelRequest: pid i32 | key i32
 *   after startup    | type u8 | length i32 (counts itself, not the type) | body |
 *                      'Q' Query: text\0   'd' CopyData: bytes   'c' CopyDone   'f' CopyFail:
 *                      message\0   'X' Terminate   'p' PasswordMessage   others: `unknown`
 *
 * Server → client: | type u8 | length i32 | body | (serializers below).
 *
 * Every frame is bounded by `messageBytesMax`: a longer (or shorter than possible) length is
 * PS_ERR_PROTOCOL, as is a malformed startup packet; the connection answers with an
 * ErrorResponse (08P01, protocol violation) and closes.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';

export const PROTOCOL_VERSION_3 = 196_608;
export const SSL_REQUEST_CODE = 80_877_103;
export const GSSENC_REQUEST_CODE = 80_877_104;
export const CANCEL_REQUEST_CODE = 80_877_102;

export type ClientMessage =
  | { readonly name: 'startup'; readonly parameters: Readonly<Record<string, string>> }
  | { readonly name: 'sslRequest' }
  | { readonly name: 'gssEncRequest' }
  | { readonly name: 'cancelRequest'; readonly processId: number; readonly secretKey: number }
  | { readonly name: 'query'; readonly text: string }
  | { readonly name: 'copyData'; readonly data: Uint8Array }
  | { readonly name: 'copyDone' }
  | { readonly name: 'copyFail'; readonly message: string }
  | { readonly name: 'terminate' }
  | { readonly name: 'password'; readonly data: Uint8Array }
  | { readonly name: 'unknown'; readonly code: number };

function protocolError(message: string): StrataError {
  return new StrataError('PS_ERR_PROTOCOL', `pgwire: ${message}`, { sqlstate: '08P01' });
}

/** A NUL-terminated UTF-8 string at `bytes[start..]`; returns it and the offset after the NUL. */
function readCString(bytes: Uint8Array, start: number, end: number): { text: string; next: number } {
  const nul = bytes.indexOf(0, start);
  if (nul < 0 || nul >= end) throw protocolError('string without its NUL terminator');
  return { text: new TextDecoder().decode(bytes.subarray(start, nul)), next: nul + 1 };
}

/**
 * Feeds client bytes in any chunking and takes whole messages out. Before the startup packet the
 * frames have no type byte; `started` switches to typed frames once the startup message (not an
 * SSL or GSS request, which the client follows with another startup-phase frame) was read.
 *
 *   buffer: | consumed | pending (start … end) | free |
 */
export class ClientMessageParser {
  readonly #messageBytesMax: number;
  #buffer: Uint8Array = new Uint8Array(0);
  #start = 0;
  #end = 0;
  #started = false;

  constructor(options: { messageBytesMax: number }) {
    assert(Number.isInteger(options.messageBytesMax) && options.messageBytesMax >= 1024, 'a message bound of at least 1 KiB');
    this.#messageBytesMax = options.messageBytesMax;
  }

  /** Bytes fed but not yet returned as messages (bounded by one message plus one feed). */
  get pendingBytes(): number { return this.#end - this.#start; }

  /** The parser's buffer: the largest pending message plus feed it has needed, never more. */
  get bufferBytes(): number { return this.#buffer.length; }

  feed(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    const pending = this.#end - this.#start;
    if (this.#end + chunk.length > this.#buffer.length) {
      if (pending + chunk.length <= this.#buffer.length) {
        // Room enough once the consumed bytes are dropped: the buffer keeps its size.
        this.#buffer.copyWithin(0, this.#start, this.#end);
      } else {
        const grown = new Uint8Array(Math.max(pending + chunk.length, this.#buffer.length * 2, 4096));
        grown.set(this.#buffer.subarray(this.#start, this.#end));
        this.#buffer = grown;
      }
      this.#start = 0;
      this.#end = pending;
    }
    this.#buffer.set(chunk, this.#end);
    this.#end += chunk.length;
  }

  /** The next whole message, or undefined when more bytes are needed. */
  next(): ClientMessage | undefined {
    return this.#started ? this.#nextTyped() : this.#nextStartup();
  }

  #frameLength(at: number): number {
    const view = new DataView(this.#buffer.buffer, this.#buffer.byteOffset + at, 4);
    return view.getInt32(0, false);
  }

  #nextStartup(): ClientMessage | undefined {
    if (this.#end - this.#start < 4) return undefined;
    const length = this.#frameLength(this.#start);
    if (length < 8 || length > this.#messageBytesMax) throw protocolError(`startup packet length ${length}`);
    if (this.#end - this.#start < length) return undefined;
    const at = this.#start;
    const bytes = this.#buffer;
    const code = new DataView(bytes.buffer, bytes.byteOffset + at + 4, 4).getInt32(0, false);
    this.#start += length;
    switch (code) {
      case SSL_REQUEST_CODE: return { name: 'sslRequest' };
      case GSSENC_REQUEST_CODE: return { name: 'gssEncRequest' };
      case CANCEL_REQUEST_CODE: {
        if (length !== 16) throw protocolError(`cancel request of ${length} bytes`);
        const view = new DataView(bytes.buffer, bytes.byteOffset + at + 8, 8);
        return { name: 'cancelRequest', processId: view.getInt32(0, false), secretKey: view.getInt32(4, false) };
      }
      case PROTOCOL_VERSION_3: {
        this.#started = true;
        return { name: 'startup', parameters: parseStartupParameters(bytes, at + 8, at + length) };
      }
      default: throw protocolError(`unsupported frontend protocol ${code >>> 16}.${code & 0xffff}`);
    }
  }

  #nextTyped(): ClientMessage | undefined {
    if (this.#end - this.#start < 5) return undefined;
    const code = this.#buffer[this.#start]!;
    const length = this.#frameLength(this.#start + 1);
    if (length < 4 || length > this.#messageBytesMax) throw protocolError(`message '${String.fromCharCode(code)}' of length ${length}`);
    if (this.#end - this.#start < 1 + length) return undefined;
    const bodyStart = this.#start + 5;
    const bodyEnd = this.#start + 1 + length;
    this.#start = bodyEnd;
    const bytes = this.#buffer;
    switch (code) {
      case 0x51: { // Q
        const { text, next } = readCString(bytes, bodyStart, bodyEnd);
        if (next !== bodyEnd) throw protocolError('bytes after the query text');
        return { name: 'query', text };
      }
      case 0x64: return { name: 'copyData', data: bytes.slice(bodyStart, bodyEnd) }; // d
      case 0x63: return { name: 'copyDone' }; // c
      case 0x66: return { name: 'copyFail', message: readCString(bytes, bodyStart, bodyEnd).text }; // f
      case 0x58: return { name: 'terminate' }; // X
      case 0x70: return { name: 'password', data: bytes.slice(bodyStart, bodyEnd) }; // p
      default: return { name: 'unknown', code };
    }
  }
}

function parseStartupParameters(bytes: Uint8Array, start: number, end: number): Record<string, string> {
  const parameters: Record<string, string> = {};
  let at = start;
  // Bounded: every pass consumes at least one byte of the frame.
  while (at < end) {
    if (bytes[at] === 0) {
      if (at + 1 !== end) throw protocolError('bytes after the startup parameters');
      return parameters;
    }
    const name = readCString(bytes, at, end);
    const value = readCString(bytes, name.next, end);
    parameters[name.text] = value.text;
    at = value.next;
  }
  throw protocolError('startup parameters without their final NUL');
}

// ---- server → client ---------------------------------------------------------------------------

/** Builds one typed frame: | type | length i32 | body |. */
class FrameWriter {
  readonly #parts: Uint8Array[] = [];
  #length = 0;

  bytes(value: Uint8Array): this { this.#parts.push(value); this.#length += value.length; return this; }
  u8(value: number): this { return this.bytes(Uint8Array.of(value & 0xff)); }
  i16(value: number): this { const bytes = new Uint8Array(2); new DataView(bytes.buffer).setInt16(0, value, false); return this.bytes(bytes); }
  i32(value: number): this { const bytes = new Uint8Array(4); new DataView(bytes.buffer).setInt32(0, value, false); return this.bytes(bytes); }

  cString(text: string): this {
    assert(!text.includes('\0'), 'protocol strings cannot contain NUL');
    return this.bytes(new TextEncoder().encode(text)).u8(0);
  }

  frame(code: number): Uint8Array {
    const out = new Uint8Array(5 + this.#length);
    out[0] = code;
    new DataView(out.buffer).setInt32(1, 4 + this.#length, false);
    let at = 5;
    for (const part of this.#parts) { out.set(part, at); at += part.length; }
    return out;
  }
}

/** The one-byte answer to an SSLRequest or GSSENCRequest: 'N', not supported. */
export const REFUSE_ENCRYPTION = Uint8Array.of(0x4e);

export function authenticationOk(): Uint8Array { return new FrameWriter().i32(0).frame(0x52); } // R
export function parameterStatus(name: string, value: string): Uint8Array { return new FrameWriter().cString(name).cString(value).frame(0x53); } // S
export function backendKeyData(processId: number, secretKey: number): Uint8Array { return new FrameWriter().i32(processId).i32(secretKey).frame(0x4b); } // K
/** ReadyForQuery with status 'I' (idle), 'T' (in a transaction) or 'E' (failed transaction). */
export function readyForQuery(status: 'I' | 'T' | 'E' = 'I'): Uint8Array { return new FrameWriter().u8(status.charCodeAt(0)).frame(0x5a); } // Z
export function commandComplete(tag: string): Uint8Array { return new FrameWriter().cString(tag).frame(0x43); } // C
export function emptyQueryResponse(): Uint8Array { return new FrameWriter().frame(0x49); } // I

export interface ErrorFields {
  readonly severity: 'ERROR' | 'FATAL' | 'PANIC';
  /** Five-character SQLSTATE. */
  readonly sqlstate: string;
  readonly message: string;
  readonly detail?: string;
  readonly hint?: string;
}

/** ErrorResponse: S and V severity, C SQLSTATE, M message, optional D detail and H hint. */
export function errorResponse(fields: ErrorFields): Uint8Array {
  assert(/^[0-9A-Z]{5}$/.test(fields.sqlstate), 'a SQLSTATE is five digits or upper-case letters');
  const clean = (text: string) => text.replaceAll('\0', ' ');
  const writer = new FrameWriter().u8(0x53).cString(fields.severity).u8(0x56).cString(fields.severity)
    .u8(0x43).cString(fields.sqlstate).u8(0x4d).cString(clean(fields.message));
  if (fields.detail !== undefined) writer.u8(0x44).cString(clean(fields.detail));
  if (fields.hint !== undefined) writer.u8(0x48).cString(clean(fields.hint));
  return writer.u8(0).frame(0x45); // E
}

/** RowDescription of text columns (type oid 25, typlen -1, typmod -1, format text). */
export function rowDescription(columns: readonly string[]): Uint8Array {
  const writer = new FrameWriter().i16(columns.length);
  for (const column of columns) writer.cString(column).i32(0).i16(0).i32(25).i16(-1).i32(-1).i16(0);
  return writer.frame(0x54); // T
}

/** DataRow of text values; undefined is SQL NULL. */
export function dataRow(values: readonly (string | undefined)[]): Uint8Array {
  const writer = new FrameWriter().i16(values.length);
  for (const value of values) {
    if (value === undefined) { writer.i32(-1); continue; }
    const bytes = new TextEncoder().encode(value);
    writer.i32(bytes.length).bytes(bytes);
  }
  return writer.frame(0x44); // D
}

/** CopyBothResponse / CopyOutResponse: overall format 0, no columns, as PostgreSQL's walsender sends them. */
export function copyBothResponse(): Uint8Array { return new FrameWriter().u8(0).i16(0).frame(0x57); } // W
export function copyOutResponse(): Uint8Array { return new FrameWriter().u8(0).i16(0).frame(0x48); } // H
export function copyData(data: Uint8Array): Uint8Array { return new FrameWriter().bytes(data).frame(0x64); } // d
export function copyDone(): Uint8Array { return new FrameWriter().frame(0x63); } // c
