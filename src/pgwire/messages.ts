/**
 * Backend (server → client) messages of the PostgreSQL v3 wire protocol, as a union keyed by
 * `name`, plus the framing constants both directions share.
 *
 * Why a union of plain objects: the parser stays pure and allocation-light, consumers switch on
 * `name` exhaustively, and tests compare messages structurally. Only the messages a replication
 * client meets are modelled; anything else parses to `{ name: 'unknown' }` so the consumer decides
 * whether it is a protocol violation.
 *
 * Framing (every message after the startup packet):
 *
 *   | code: u8 | length: i32 BE (counts itself, NOT the code) | body: length - 4 bytes |
 */

/** The type byte in front of each frame. */
export const CODE_LENGTH = 1;
/** The i32 length that follows the code; it includes its own four bytes. */
export const LENGTH_LENGTH = 4;
export const HEADER_LENGTH = CODE_LENGTH + LENGTH_LENGTH;

/** Type bytes of backend messages. */
export const enum BackendCode {
  Authentication = 0x52,        // R
  ParameterStatus = 0x53,       // S
  BackendKeyData = 0x4b,        // K
  ReadyForQuery = 0x5a,         // Z
  RowDescription = 0x54,        // T
  DataRow = 0x44,               // D
  CommandComplete = 0x43,       // C
  ErrorResponse = 0x45,         // E
  NoticeResponse = 0x4e,        // N
  CopyOutResponse = 0x48,       // H
  CopyBothResponse = 0x57,      // W
  CopyData = 0x64,              // d
  CopyDone = 0x63,              // c
  EmptyQueryResponse = 0x49,    // I
}

/** Sub-codes of the Authentication ('R') message. */
export const enum AuthenticationCode {
  Ok = 0,
  CleartextPassword = 3,
  MD5Password = 5,
  SASL = 10,
  SASLContinue = 11,
  SASLFinal = 12,
}

/** Every message carries its frame length (the i32 length field, so body + 4). */
interface Framed { readonly length: number }

export type AuthenticationMessage =
  | (Framed & { readonly name: 'authenticationOk' })
  | (Framed & { readonly name: 'authenticationCleartextPassword' })
  | (Framed & { readonly name: 'authenticationMD5Password'; readonly salt: Uint8Array })
  | (Framed & { readonly name: 'authenticationSASL'; readonly mechanisms: readonly string[] })
  | (Framed & { readonly name: 'authenticationSASLContinue'; readonly data: string })
  | (Framed & { readonly name: 'authenticationSASLFinal'; readonly data: string })
  | (Framed & { readonly name: 'authenticationUnsupported'; readonly method: number });

export interface FieldDescription {
  readonly name: string;
  readonly tableOid: number;
  readonly columnNumber: number;
  readonly typeOid: number;
  readonly typeSize: number;
  readonly typeModifier: number;
  /** 0 text, 1 binary. */
  readonly format: number;
}

/**
 * The fields of ErrorResponse / NoticeResponse by their protocol letter. Unknown letters are kept
 * in `other` so no diagnostic the server sends is lost.
 */
export interface NoticeFields {
  readonly severity?: string;          // S (localized)
  readonly severityNonLocalized?: string; // V
  readonly code?: string;              // C (SQLSTATE)
  readonly message?: string;           // M
  readonly detail?: string;            // D
  readonly hint?: string;              // H
  readonly position?: string;          // P
  readonly internalPosition?: string;  // p
  readonly internalQuery?: string;     // q
  readonly where?: string;             // W
  readonly schema?: string;            // s
  readonly table?: string;             // t
  readonly column?: string;            // c
  readonly dataType?: string;          // d
  readonly constraint?: string;        // n
  readonly file?: string;              // F
  readonly line?: string;              // L
  readonly routine?: string;           // R
  readonly other?: Readonly<Record<string, string>>;
}

export type TransactionStatus = 'idle' | 'inTransaction' | 'failedTransaction';

export type BackendMessage =
  | AuthenticationMessage
  | (Framed & { readonly name: 'parameterStatus'; readonly parameter: string; readonly value: string })
  | (Framed & { readonly name: 'backendKeyData'; readonly processId: number; readonly secretKey: number })
  | (Framed & { readonly name: 'readyForQuery'; readonly status: TransactionStatus })
  | (Framed & { readonly name: 'rowDescription'; readonly fields: readonly FieldDescription[] })
  | (Framed & { readonly name: 'dataRow'; readonly values: readonly (string | null)[] })
  | (Framed & { readonly name: 'commandComplete'; readonly tag: string })
  | (Framed & { readonly name: 'errorResponse'; readonly fields: NoticeFields })
  | (Framed & { readonly name: 'noticeResponse'; readonly fields: NoticeFields })
  | (Framed & { readonly name: 'copyOutResponse'; readonly format: number; readonly columnFormats: readonly number[] })
  | (Framed & { readonly name: 'copyBothResponse'; readonly format: number; readonly columnFormats: readonly number[] })
  | (Framed & { readonly name: 'copyData'; readonly data: Uint8Array })
  | (Framed & { readonly name: 'copyDone' })
  | (Framed & { readonly name: 'emptyQueryResponse' })
  | (Framed & { readonly name: 'unknown'; readonly code: number });

export type BackendMessageName = BackendMessage['name'];

/** Maps the single-letter ErrorResponse field codes to NoticeFields keys. */
export const NOTICE_FIELD_NAMES: Readonly<Record<string, keyof Omit<NoticeFields, 'other'>>> = {
  S: 'severity',
  V: 'severityNonLocalized',
  C: 'code',
  M: 'message',
  D: 'detail',
  H: 'hint',
  P: 'position',
  p: 'internalPosition',
  q: 'internalQuery',
  W: 'where',
  s: 'schema',
  t: 'table',
  c: 'column',
  d: 'dataType',
  n: 'constraint',
  F: 'file',
  L: 'line',
  R: 'routine',
};
