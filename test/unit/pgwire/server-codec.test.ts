/**
 * The server half of the wire protocol (src/pgwire/server-codec.ts): what a client sends, parsed
 * from golden bytes at every split offset (the client serializer of src/pgwire makes the startup
 * packet and the typed frames, so both halves agree), refusals as PS_ERR_PROTOCOL (SQLSTATE
 * 08P01), and the server's messages against golden bytes.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import { serializeStartup } from '../../../src/pgwire/frontend-serializer.js';
import {
  ClientMessageParser, authenticationOk, backendKeyData, commandComplete, copyBothResponse, copyData, copyDone, copyOutResponse, dataRow,
  errorResponse, parameterStatus, readyForQuery, rowDescription, type ClientMessage,
} from '../../../src/pgwire/server-codec.js';

function hex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replace(/[\s|]/g, ''), 'hex'));
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function parseAll(chunks: readonly Uint8Array[]): ClientMessage[] {
  const parser = new ClientMessageParser({ messageBytesMax: 1 << 20 });
  const messages: ClientMessage[] = [];
  for (const chunk of chunks) {
    parser.feed(chunk);
    for (let message = parser.next(); message !== undefined; message = parser.next()) messages.push(message);
  }
  assert.is(parser.pendingBytes, 0, 'nothing left over');
  return messages;
}

const SSL_REQUEST = hex('00000008 | 04d2162f');
const startup = serializeStartup({ user: 'postgres', database: 'postgres', application_name: 'compute' });
const query = hex(`51 | 00000019 | ${toHex(Buffer.from('pagestream_v3 t1 tl1'))} 00`);
const copy = hex('64 | 00000008 | 01020304');
const done = hex('63 | 00000004');
const terminate = hex('58 | 00000004');
const session = new Uint8Array(Buffer.concat([SSL_REQUEST, startup, query, copy, done, terminate]));
const expected: ClientMessage[] = [
  { name: 'sslRequest' },
  { name: 'startup', parameters: { user: 'postgres', database: 'postgres', application_name: 'compute' } },
  { name: 'query', text: 'pagestream_v3 t1 tl1' },
  { name: 'copyData', data: hex('01020304') },
  { name: 'copyDone' },
  { name: 'terminate' },
];

test('a client session parses the same in one piece, at every split offset, and byte by byte', () => {
  assert.equal(parseAll([session]), expected);
  for (let split = 0; split <= session.length; split++) {
    const parsed = parseAll([session.subarray(0, split), session.subarray(split)]);
    if (JSON.stringify(parsed) !== JSON.stringify(expected)) assert.equal(parsed, expected, `split at ${split}`);
  }
  assert.equal(parseAll([...session].map((byte) => Uint8Array.of(byte))), expected);
});

test('a cancel request carries the process id and key; other startup codes are refused', () => {
  assert.equal(parseAll([hex('00000010 | 04d2162e | 00003039 | 7fffffff')]), [{ name: 'cancelRequest', processId: 12345, secretKey: 0x7fffffff }]);
  assert.equal(parseAll([hex('00000008 | 04d21630')]), [{ name: 'gssEncRequest' }]);
  expectRefused(hex('00000008 | 00020000'), 'protocol 2.0');
});

function expectRefused(bytes: Uint8Array, label: string, messageBytesMax = 1 << 20): void {
  const parser = new ClientMessageParser({ messageBytesMax });
  parser.feed(bytes);
  try {
    for (let round = 0; round < 10 && parser.next() !== undefined; round++);
  } catch (error) {
    assert.ok(isStrataError(error, 'PS_ERR_PROTOCOL'), `${label}: ${String(error)}`);
    assert.is(error.context.sqlstate, '08P01');
    return;
  }
  assert.unreachable(`${label}: accepted`);
}

test('refused: lengths too short or over the bound, strings without NUL, startup without its final NUL', () => {
  expectRefused(hex('00000004 | 00030000'), 'startup length 4');
  expectRefused(hex('7fffffff | 00030000'), 'startup length over the bound');
  expectRefused(new Uint8Array(Buffer.concat([startup, hex('51 | 00000003')])), 'typed length 3');
  expectRefused(new Uint8Array(Buffer.concat([startup, hex('64 | 00010005')])), 'CopyData over a 64 KiB bound', 64 * 1024);
  expectRefused(new Uint8Array(Buffer.concat([startup, hex('51 | 00000007 | 616263')])), 'query without NUL');
  expectRefused(hex('00000013 | 00030000 | 75736572 00 706f7374 67726573'), 'startup value without NUL');
  expectRefused(hex('0000000e | 00030000 | 7500 7600 00 ff'), 'bytes after the final NUL');
});

test('a message longer than the bound is refused before its body arrives', () => {
  const parser = new ClientMessageParser({ messageBytesMax: 4096 });
  parser.feed(startup);
  assert.ok(parser.next());
  parser.feed(hex('64 | 00100000'));
  try {
    parser.next();
    assert.unreachable('accepted');
  } catch (error) {
    assert.ok(isStrataError(error, 'PS_ERR_PROTOCOL'));
  }
});

test('a long session keeps the parser buffer at the size of its largest message and feed', () => {
  const parser = new ClientMessageParser({ messageBytesMax: 1 << 20 });
  parser.feed(startup);
  assert.ok(parser.next());
  const message = new Uint8Array(Buffer.concat([copy, copy, copy]));
  let largest = 0;
  for (let round = 0; round < 100_000; round++) {
    parser.feed(message);
    for (let parsed = parser.next(); parsed !== undefined; parsed = parser.next());
    largest = Math.max(largest, parser.pendingBytes);
  }
  assert.is(largest, 0);
  assert.ok(parser.bufferBytes <= 4096, `buffer ${parser.bufferBytes} bytes after 300,000 messages`);
});

test('server messages: golden bytes', () => {
  assert.is(toHex(authenticationOk()), '520000000800000000');
  assert.is(toHex(parameterStatus('server_version', '15')), toHex(hex(`53 | 00000016 | ${toHex(Buffer.from('server_version'))}00 3135 00`)));
  assert.is(toHex(backendKeyData(7, 9)), '4b0000000c0000000700000009');
  assert.is(toHex(readyForQuery()), '5a0000000549');
  assert.is(toHex(commandComplete('SELECT 1')), toHex(hex(`43 | 0000000d | ${toHex(Buffer.from('SELECT 1'))}00`)));
  assert.is(toHex(copyBothResponse()), '570000000700' + '0000');
  assert.is(toHex(copyOutResponse()), '480000000700' + '0000');
  assert.is(toHex(copyData(hex('aabb'))), '6400000006aabb');
  assert.is(toHex(copyDone()), '6300000004');
  assert.is(toHex(rowDescription(['lsn'])), toHex(hex('54 | 0000001c | 0001 | 6c736e00 | 00000000 | 0000 | 00000019 | ffff | ffffffff | 0000')));
  assert.is(toHex(dataRow(['0/16B3748', undefined])), toHex(hex(`44 | 00000017 | 0002 | 00000009 | ${toHex(Buffer.from('0/16B3748'))} | ffffffff`)));
  const error = errorResponse({ severity: 'ERROR', sqlstate: '58P01', message: 'no such timeline', detail: 'd' });
  const body = `53${toHex(Buffer.from('ERROR'))}00 56${toHex(Buffer.from('ERROR'))}00 43${toHex(Buffer.from('58P01'))}00 4d${toHex(Buffer.from('no such timeline'))}00 44${toHex(Buffer.from('d'))}00 00`;
  assert.is(toHex(error), toHex(hex(`45 | ${(4 + hex(body).length).toString(16).padStart(8, '0')} | ${body}`)));
});

test.run();
