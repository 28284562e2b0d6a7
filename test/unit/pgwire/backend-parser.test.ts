/**
 * Byte-exact tests of the incremental backend parser: every message kind, every split offset,
 * and coded errors for malformed frames.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BackendParser } from '../../../src/pgwire/backend-parser.js';
import type { BackendMessage } from '../../../src/pgwire/messages.js';
import { isStrataError } from '../../../src/errors.js';
import { BufferList } from './buffer-list.js';

const frames = {
  authenticationOk: new BufferList().addInt32(0).join('R'),
  cleartext: new BufferList().addInt32(3).join('R'),
  md5: new BufferList().addInt32(5).add(Uint8Array.from([1, 2, 3, 4])).join('R'),
  sasl: new BufferList().addInt32(10).addCString('SCRAM-SHA-256-PLUS').addCString('SCRAM-SHA-256').addByte(0).join('R'),
  saslContinue: new BufferList().addInt32(11).add(Buffer.from('r=abc,s=c2FsdA==,i=4096')).join('R'),
  saslFinal: new BufferList().addInt32(12).add(Buffer.from('v=c2ln')).join('R'),
  parameterStatus: new BufferList().addCString('server_version').addCString('15.18').join('S'),
  backendKeyData: new BufferList().addInt32(4242).addInt32(-7).join('K'),
  readyForQuery: new BufferList().addChar('I').join('Z'),
  rowDescription: new BufferList()
    .addInt16(2)
    .addCString('systemid').addInt32(0).addInt16(0).addInt32(25).addInt16(-1).addInt32(-1).addInt16(0)
    .addCString('timeline').addInt32(16384).addInt16(2).addInt32(23).addInt16(4).addInt32(-1).addInt16(0)
    .join('T'),
  dataRow: new BufferList().addInt16(3).addInt32(3).add(Buffer.from('abc')).addInt32(-1).addInt32(0).join('D'),
  commandComplete: new BufferList().addCString('SELECT 1').join('C'),
  errorResponse: new BufferList()
    .addChar('S').addCString('ERROR').addChar('V').addCString('ERROR').addChar('C').addCString('42710')
    .addChar('M').addCString('replication slot "s" already exists').addChar('D').addCString('detail')
    .addChar('H').addCString('hint').addChar('F').addCString('slot.c').addChar('L').addCString('302')
    .addChar('R').addCString('ReplicationSlotCreate').addChar('Z').addCString('future field').addByte(0)
    .join('E'),
  noticeResponse: new BufferList().addChar('S').addCString('NOTICE').addChar('M').addCString('hello').addByte(0).join('N'),
  copyOutResponse: new BufferList().addByte(0).addInt16(0).join('H'),
  copyBothResponse: new BufferList().addByte(0).addInt16(1).addInt16(1).join('W'),
  copyData: new BufferList().addChar('w').add(Uint8Array.from([9, 8, 7])).join('d'),
  copyDone: new BufferList().join('c'),
  emptyQuery: new BufferList().join('I'),
  unknown: new BufferList().addInt32(1).join('v'),
};

/** Expected messages in frame order; lengths are filled in from the frames (body + 4). */
const withoutLengths: Record<string, unknown>[] = [
  { name: 'authenticationOk' },
  { name: 'authenticationCleartextPassword' },
  { name: 'authenticationMD5Password', salt: Uint8Array.from([1, 2, 3, 4]) },
  { name: 'authenticationSASL', mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'] },
  { name: 'authenticationSASLContinue', data: 'r=abc,s=c2FsdA==,i=4096' },
  { name: 'authenticationSASLFinal', data: 'v=c2ln' },
  { name: 'parameterStatus', parameter: 'server_version', value: '15.18' },
  { name: 'backendKeyData', processId: 4242, secretKey: -7 },
  { name: 'readyForQuery', status: 'idle' },
  {
    name: 'rowDescription',
    length: frames.rowDescription.length - 1,
    fields: [
      { name: 'systemid', tableOid: 0, columnNumber: 0, typeOid: 25, typeSize: -1, typeModifier: -1, format: 0 },
      { name: 'timeline', tableOid: 16384, columnNumber: 2, typeOid: 23, typeSize: 4, typeModifier: -1, format: 0 },
    ],
  },
  { name: 'dataRow', values: ['abc', null, ''] },
  { name: 'commandComplete', tag: 'SELECT 1' },
  {
    name: 'errorResponse',
    length: frames.errorResponse.length - 1,
    fields: {
      severity: 'ERROR', severityNonLocalized: 'ERROR', code: '42710', message: 'replication slot "s" already exists',
      detail: 'detail', hint: 'hint', file: 'slot.c', line: '302', routine: 'ReplicationSlotCreate', other: { Z: 'future field' },
    },
  },
  { name: 'noticeResponse', fields: { severity: 'NOTICE', message: 'hello' } },
  { name: 'copyOutResponse', format: 0, columnFormats: [] },
  { name: 'copyBothResponse', format: 0, columnFormats: [1] },
  { name: 'copyData', data: Buffer.from([0x77, 9, 8, 7]) },
  { name: 'copyDone' },
  { name: 'emptyQueryResponse' },
  { name: 'unknown', code: 0x76 },
];

const expected = withoutLengths.map(
  (message, index) => ({ ...message, length: Object.values(frames)[index]!.length - 1 }) as unknown as BackendMessage,
);

const stream = Buffer.concat(Object.values(frames));

/** Compares with Buffers turned into plain arrays, since views differ in identity. */
function normalize(messages: BackendMessage[]): unknown {
  return JSON.parse(JSON.stringify(messages, (_key, value: unknown) =>
    value instanceof Uint8Array || (typeof value === 'object' && value !== null && (value as { type?: string }).type === 'Buffer')
      ? Array.from(value instanceof Uint8Array ? value : (value as { data: number[] }).data)
      : value));
}

test('parses every message kind from one buffer', () => {
  const messages = new BackendParser().parse(stream);
  assert.equal(normalize(messages), normalize(expected));
});

test('gives the same messages when the stream is split at every offset', () => {
  for (let split = 0; split <= stream.length; split++) {
    const parser = new BackendParser();
    const messages = [...parser.parse(stream.subarray(0, split)), ...parser.parse(stream.subarray(split))];
    assert.equal(normalize(messages), normalize(expected), `split at ${split}`);
    assert.is(parser.pendingBytes, 0);
  }
});

test('gives the same messages when fed one byte at a time', () => {
  const parser = new BackendParser();
  const messages: BackendMessage[] = [];
  for (let offset = 0; offset < stream.length; offset++) messages.push(...parser.parse(stream.subarray(offset, offset + 1)));
  assert.equal(normalize(messages), normalize(expected));
});

test('keeps copyData views valid after later chunks arrive', () => {
  const parser = new BackendParser();
  const first = frames.copyData;
  const [message] = parser.parse(Buffer.concat([first, frames.copyDone.subarray(0, 2)]));
  parser.parse(Buffer.concat([frames.copyDone.subarray(2), first]));
  assert.ok(message !== undefined && message.name === 'copyData');
  assert.equal(Array.from(message.data), [0x77, 9, 8, 7]);
});

test('large CopyData frames cut by chunks of every size: the same bytes, each frame joined alone', () => {
  const frameData = (index: number) => Buffer.alloc(40_000 + index * 999, index + 1);
  const copyStream = Buffer.concat(Array.from({ length: 6 }, (_, index) => new BufferList().add(frameData(index)).join('d')));
  for (const chunkBytes of [1_000, 4_096, 39_999, 40_005, 65_536, 200_000]) {
    const parser = new BackendParser();
    const messages: BackendMessage[] = [];
    for (let offset = 0; offset < copyStream.length; offset += chunkBytes) messages.push(...parser.parse(copyStream.subarray(offset, offset + chunkBytes)));
    assert.is(messages.length, 6, `chunks of ${chunkBytes}`);
    messages.forEach((message, index) => {
      assert.ok(message.name === 'copyData' && Buffer.from(message.data).equals(frameData(index)), `frame ${index}, chunks of ${chunkBytes}`);
      // A frame is a view of the input, or, when joined, a buffer of exactly its own size (never
      // the frame plus the rest of the chunk that completed it).
      if (message.name === 'copyData') {
        const inPlace = message.data.buffer === copyStream.buffer;
        assert.ok(inPlace || message.data.buffer.byteLength === message.data.length + 5, `frame ${index} joined alone`);
      }
    });
    assert.is(parser.pendingBytes, 0);
  }
});

function expectProtocolError(run: () => unknown, pattern: RegExp): void {
  try {
    run();
  } catch (error) {
    assert.ok(isStrataError(error, 'PS_ERR_PROTOCOL'), String(error));
    assert.match((error as Error).message, pattern);
    return;
  }
  assert.unreachable('expected PS_ERR_PROTOCOL');
}

test('rejects an absurd length before buffering the body', () => {
  const header = Buffer.from([0x64, 0x7f, 0xff, 0xff, 0xff]);
  expectProtocolError(() => new BackendParser({ messageBytesMax: 1 << 20 }).parse(header), /invalid length 2147483647/);
});

test('rejects a length smaller than the length field itself', () => {
  expectProtocolError(() => new BackendParser().parse(Buffer.from([0x5a, 0, 0, 0, 3, 0x49])), /invalid length 3/);
});

test('rejects a DataRow whose column runs past the frame', () => {
  const frame = new BufferList().addInt16(1).addInt32(100).add(Buffer.from('ab')).join('D');
  expectProtocolError(() => new BackendParser().parse(frame), /truncated/);
});

test('rejects an unterminated string', () => {
  const frame = new BufferList().add(Buffer.from('SELECT 1')).join('C');
  expectProtocolError(() => new BackendParser().parse(frame), /unterminated/);
});

test('rejects an unknown ReadyForQuery status', () => {
  expectProtocolError(() => new BackendParser().parse(new BufferList().addChar('Q').join('Z')), /status byte/);
});

test.run();
