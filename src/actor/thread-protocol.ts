/**
 * The messages between the main thread (ActorThreadClient) and an actor worker thread
 * (ActorThreadServer), and the byte frames of the SharedRing hot path.
 *
 * Control and ordinary messages travel over the worker's MessagePort as structured clones; every
 * message is a tagged union member keyed by `kind`. Errors cross as plain data (`WireError`):
 * StrataError keeps its code and details (errors.ts toJSON / reviveError), other errors keep
 * name, message and stack.
 *
 * Ring frames (little-endian):
 *   request   | u32 requestId | u16 addressBytes | address (UTF-8) | payload |
 *   response  | u32 requestId | u8 status (0 ok, 1 error) | payload, or WireError as JSON UTF-8 |
 * JSON appears only on the error path; the success path is header + raw bytes.
 */
import { assert } from '../assert.js';
import { StrataError, reviveError, type SerializedStrataError } from '../errors.js';

/** Per-thread control hooks; add a kind here and its handler in thread-controls.ts. */
export type ThreadControl =
  | { kind: 'failpoints'; spec: string }
  | { kind: 'metrics' }
  | { kind: 'ping' };

export type WireError = SerializedStrataError | { strataError: false; name: string; message: string; stack: string | undefined };

export type WireResult = { ok: true; value: unknown } | { ok: false; error: WireError };

export type ToThread =
  | { kind: 'spawn'; requestId: number; address: string; module: string; exportName: string; args: unknown; mailboxCapacity: number | undefined }
  | { kind: 'tell'; address: string; message: unknown }
  | { kind: 'ask'; requestId: number; address: string; message: unknown; timeoutMs: number }
  | { kind: 'askBytes'; requestId: number; address: string; bytes: Uint8Array; timeoutMs: number }
  | { kind: 'stopActor'; requestId: number; address: string }
  | { kind: 'control'; requestId: number; control: ThreadControl }
  | { kind: 'shutdown'; requestId: number }
  | ({ kind: 'uplinkReply'; requestId: number } & WireResult);

export type FromThread =
  | { kind: 'ready' }
  | ({ kind: 'reply'; requestId: number } & WireResult)
  | { kind: 'uplinkTell'; address: string; message: unknown }
  | { kind: 'uplinkAsk'; requestId: number; address: string; message: unknown; timeoutMs: number; bytes: boolean }
  | { kind: 'broken'; address: string; reason: string }
  /** Log lines of the thread's pino logger, written by the main thread to the server's one destination. */
  | { kind: 'log'; lines: string };

export interface ActorThreadData {
  threadIndex: number;
  requestRing: SharedArrayBuffer;
  responseRing: SharedArrayBuffer;
  ringMessageBytesMax: number;
  logLevel: string;
}

export function toWireError(error: unknown): WireError {
  if (error instanceof StrataError) return error.toJSON();
  if (error instanceof Error) return { strataError: false, name: error.name, message: error.message, stack: error.stack };
  return { strataError: false, name: 'Error', message: String(error), stack: undefined };
}

export function fromWireError(wire: WireError): Error {
  if (wire.strataError) return reviveError(wire);
  const error = new Error(wire.message);
  error.name = wire.name;
  if (wire.stack !== undefined) error.stack = wire.stack;
  return error;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
export const REQUEST_HEADER_BYTES = 6;
export const RESPONSE_HEADER_BYTES = 5;
export const RESPONSE_OK = 0;
export const RESPONSE_ERROR = 1;

/** The part of a request frame before the payload. */
export function encodeRequestHeader(requestId: number, address: string): Uint8Array {
  const addressBytes = encoder.encode(address);
  assert(addressBytes.byteLength <= 0xffff, 'an actor address fits a u16 length');
  const header = new Uint8Array(REQUEST_HEADER_BYTES + addressBytes.byteLength);
  const view = new DataView(header.buffer);
  view.setUint32(0, requestId, true);
  view.setUint16(4, addressBytes.byteLength, true);
  header.set(addressBytes, REQUEST_HEADER_BYTES);
  return header;
}

export interface RequestFrame {
  requestId: number;
  address: string;
  payload: Uint8Array;
}

export function decodeRequestFrame(frame: Uint8Array): RequestFrame {
  assert(frame.byteLength >= REQUEST_HEADER_BYTES, 'a request frame has its header');
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const addressLength = view.getUint16(4, true);
  const payloadStart = REQUEST_HEADER_BYTES + addressLength;
  assert(payloadStart <= frame.byteLength, 'a request frame holds its address');
  const address = decoder.decode(frame.subarray(REQUEST_HEADER_BYTES, payloadStart));
  return { requestId: view.getUint32(0, true), address, payload: frame.subarray(payloadStart) };
}

export function encodeResponseHeader(requestId: number, status: number): Uint8Array {
  const header = new Uint8Array(RESPONSE_HEADER_BYTES);
  new DataView(header.buffer).setUint32(0, requestId, true);
  header[4] = status;
  return header;
}

export function encodeErrorPayload(error: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(toWireError(error)));
}

export interface ResponseFrame {
  requestId: number;
  result: { ok: true; bytes: Uint8Array } | { ok: false; error: Error };
}

export function decodeResponseFrame(frame: Uint8Array): ResponseFrame {
  assert(frame.byteLength >= RESPONSE_HEADER_BYTES, 'a response frame has its header');
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const requestId = view.getUint32(0, true);
  const status = frame[4];
  const payload = frame.subarray(RESPONSE_HEADER_BYTES);
  if (status === RESPONSE_OK) return { requestId, result: { ok: true, bytes: payload } };
  assert(status === RESPONSE_ERROR, `unknown ring response status ${String(status)}`);
  return { requestId, result: { ok: false, error: fromWireError(JSON.parse(decoder.decode(payload)) as WireError) } };
}
