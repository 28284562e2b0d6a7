/**
 * Operating errors: every error a caller can cause or observe has a code here.
 *
 * Codes are stable strings (`PS_ERR_*`) listed in docs/errors.md. They are mapped to an HTTP status
 * in `http/api-error.ts` and to a SQLSTATE in the page service, and nowhere else: the inside of the
 * server only ever throws these classes (or asserts, for programmer errors).
 */

export type ErrorCode =
  | 'PS_ERR_BAD_REQUEST'          // malformed input: an id, an LSN, a query parameter
  | 'PS_ERR_BAD_CONFIG'           // unknown config key or bad value (the key is named)
  | 'PS_ERR_NOT_FOUND'            // tenant, timeline or relation does not exist
  | 'PS_ERR_ALREADY_EXISTS'       // create of an id that exists
  | 'PS_ERR_CONFLICT'             // the object is in a state that forbids the request
  | 'PS_ERR_MAILBOX_FULL'         // a bounded mailbox or queue is full: back off and retry
  | 'PS_ERR_TIMEOUT'              // an ask or a wait for WAL took longer than its bound
  | 'PS_ERR_ILLEGAL_TRANSITION'   // a state machine was asked to take an edge it does not have
  | 'PS_ERR_ACTOR_STOPPED'        // the target actor is stopped or broken
  | 'PS_ERR_BROKEN'               // the tenant or timeline is Broken{reason}
  | 'PS_ERR_WAL_CORRUPT'          // WAL failed a CRC, magic or length check
  | 'PS_ERR_WAL_UNSUPPORTED'      // a WAL feature or record we do not decode
  | 'PS_ERR_LSN_TOO_OLD'          // read below the timeline's consistent start
  | 'PS_ERR_REDO_UNSUPPORTED'     // a page needs records applied and redo is not available
  | 'PS_ERR_REDO_FAILED'          // WAL redo of a record failed (bad page state, routine error)
  | 'PS_ERR_PROTOCOL'             // the peer violated the pgwire/replication protocol
  | 'PS_ERR_UPSTREAM'             // the PostgreSQL primary returned an error
  | 'PS_ERR_IO'                   // a local file failed a checksum/magic/version check or I/O
  | 'PS_ERR_NOT_IMPLEMENTED'      // a capability this server does not offer (not configured, not built)
  | 'PS_ERR_FAILPOINT'            // a failpoint fired with `return`
  | 'PS_ERR_SHUTTING_DOWN';       // the server or object is stopping

export class StrataError extends Error {
  readonly code: ErrorCode;
  /**
   * Structured facts about the failure (ids, LSNs, SQLSTATE…). Not named `details`: test
   * reporters (uvu) treat an error's `details` as a printable diff string.
   */
  readonly context: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StrataError';
    this.code = code;
    this.context = details;
  }

  /** Plain data for crossing a thread boundary (structured clone drops the class). */
  toJSON(): SerializedStrataError {
    return { strataError: true, code: this.code, message: this.message, details: { ...this.context } };
  }
}

export interface SerializedStrataError {
  strataError: true;
  code: ErrorCode;
  message: string;
  details: Record<string, unknown>;
}

export function isSerializedStrataError(value: unknown): value is SerializedStrataError {
  return typeof value === 'object' && value !== null && (value as { strataError?: unknown }).strataError === true;
}

/** Rebuilds a StrataError on the receiving side of a thread boundary; other errors pass through. */
export function reviveError(value: unknown): Error {
  if (isSerializedStrataError(value)) return new StrataError(value.code, value.message, value.details);
  if (value instanceof Error) return value;
  return new Error(String(value));
}

export function isStrataError(error: unknown, code?: ErrorCode): error is StrataError {
  return error instanceof StrataError && (code === undefined || error.code === code);
}

export const badRequest = (message: string, details: Record<string, unknown> = {}) =>
  new StrataError('PS_ERR_BAD_REQUEST', message, details);
export const notFound = (message: string, details: Record<string, unknown> = {}) =>
  new StrataError('PS_ERR_NOT_FOUND', message, details);
