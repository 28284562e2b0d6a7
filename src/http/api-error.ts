/**
 * The ONLY place where errors become HTTP statuses (Neon's `impl From<…> for ApiError`).
 *
 * Everything inside the server throws coded StrataErrors (or asserts); the HTTP edge turns them into
 * `{"msg": "...", "code": "PS_ERR_…"}` with the status below, and logs 5xx at ERROR and 4xx at
 * INFO. The table is mirrored in docs/errors.md.
 *
 *   PS_ERR_BAD_REQUEST, PS_ERR_BAD_CONFIG                       400
 *   PS_ERR_NOT_FOUND                                            404
 *   PS_ERR_ALREADY_EXISTS, PS_ERR_CONFLICT,
 *   PS_ERR_ILLEGAL_TRANSITION                                   409
 *   PS_ERR_LSN_TOO_OLD                                          410 (the data is gone, not malformed)
 *   PS_ERR_REDO_UNSUPPORTED, PS_ERR_NOT_IMPLEMENTED             501
 *   PS_ERR_REDO_FAILED                                          500
 *   PS_ERR_MAILBOX_FULL, PS_ERR_SHUTTING_DOWN,
 *   PS_ERR_ACTOR_STOPPED                                        503 (retry later)
 *   PS_ERR_TIMEOUT                                              504
 *   PS_ERR_BROKEN                                               500, body carries `reason`
 *   every other code                                            500
 *   anything that is not a StrataError (an assert)              500, code PS_ERR_INTERNAL
 *
 * Errors of the HTTP layer itself (unknown route, wrong method, body too large) are built here
 * too, with the statuses 404, 405 and 413.
 */
import { assert, assertNever } from '../assert.js';
import { type ErrorCode, StrataError } from '../errors.js';

/** HTTP-only code for errors that are not StrataErrors (programmer errors): never thrown inside. */
export type ApiErrorCode = ErrorCode | 'PS_ERR_INTERNAL';

export interface ApiErrorBody {
  msg: string;
  code: ApiErrorCode;
  reason?: string;
}

export interface ApiErrorResponse {
  status: number;
  body: ApiErrorBody;
  headers?: Record<string, string>;
}

export function statusForCode(code: ErrorCode): number {
  switch (code) {
    case 'PS_ERR_BAD_REQUEST':
    case 'PS_ERR_BAD_CONFIG':
      return 400;
    case 'PS_ERR_NOT_FOUND':
      return 404;
    case 'PS_ERR_ALREADY_EXISTS':
    case 'PS_ERR_CONFLICT':
    case 'PS_ERR_ILLEGAL_TRANSITION':
      return 409;
    case 'PS_ERR_LSN_TOO_OLD':
      return 410;
    case 'PS_ERR_REDO_UNSUPPORTED':
    case 'PS_ERR_NOT_IMPLEMENTED':
      return 501;
    case 'PS_ERR_MAILBOX_FULL':
    case 'PS_ERR_SHUTTING_DOWN':
    case 'PS_ERR_ACTOR_STOPPED':
      return 503;
    case 'PS_ERR_TIMEOUT':
      return 504;
    case 'PS_ERR_BROKEN':
    case 'PS_ERR_WAL_CORRUPT':
    case 'PS_ERR_WAL_UNSUPPORTED':
    case 'PS_ERR_PROTOCOL':
    case 'PS_ERR_UPSTREAM':
    case 'PS_ERR_IO':
    case 'PS_ERR_FAILPOINT':
    case 'PS_ERR_REDO_FAILED':
      return 500;
    default:
      return assertNever(code, 'error code without an HTTP status');
  }
}

/** Maps any thrown value to the response the client sees. */
export function toApiError(error: unknown): ApiErrorResponse {
  if (error instanceof StrataError) {
    const body: ApiErrorBody = { msg: error.message, code: error.code };
    const reason = error.context.reason;
    if (error.code === 'PS_ERR_BROKEN' && typeof reason === 'string') body.reason = reason;
    return { status: statusForCode(error.code), body };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { status: 500, body: { msg: `internal error: ${message}`, code: 'PS_ERR_INTERNAL' } };
}

export function routeNotFound(method: string, path: string): ApiErrorResponse {
  return { status: 404, body: { msg: `no route for ${method} ${path}`, code: 'PS_ERR_NOT_FOUND' } };
}

export function methodNotAllowed(method: string, path: string, allowed: readonly string[]): ApiErrorResponse {
  assert(allowed.length > 0, 'a 405 needs at least one allowed method');
  return {
    status: 405,
    body: { msg: `method ${method} not allowed on ${path} (allowed: ${allowed.join(', ')})`, code: 'PS_ERR_BAD_REQUEST' },
    headers: { allow: allowed.join(', ') },
  };
}

export function payloadTooLarge(limitBytes: number): ApiErrorResponse {
  assert(limitBytes > 0, 'the body limit must be positive');
  return { status: 413, body: { msg: `request body exceeds ${limitBytes} bytes`, code: 'PS_ERR_BAD_REQUEST' } };
}
