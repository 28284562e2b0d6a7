/**
 * Byte-exact tests of XLogData and keepalive parsing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseReplicationMessage } from '../../../src/pgwire/replication-messages.js';
import { BackendParser } from '../../../src/pgwire/backend-parser.js';
import { isStrataError } from '../../../src/errors.js';
import { BufferList } from './buffer-list.js';

const PG_EPOCH_MS = Date.UTC(2000, 0, 1);

test('parses XLogData header and keeps the WAL bytes as a view', () => {
  const payload = new BufferList()
    .addChar('w').addUInt64(0x16, 0xb374d848).addUInt64(0x16, 0xb3750000).addInt64(86_400_000_000n)
    .add(Uint8Array.from([0xd1, 0x10, 0x05]))
    .join();
  const message = parseReplicationMessage(payload);
  assert.equal({ ...message, data: Array.from((message as { data: Uint8Array }).data) }, {
    kind: 'xlogData',
    dataStart: 0x16 * 2 ** 32 + 0xb374d848,
    walEnd: 0x16 * 2 ** 32 + 0xb3750000,
    sendTime: PG_EPOCH_MS + 86_400_000,
    data: [0xd1, 0x10, 0x05],
  });
  assert.is((message as { data: Uint8Array }).data.buffer, payload.buffer);
});

test('parses a keepalive with reply requested', () => {
  const payload = new BufferList().addChar('k').addUInt64(0, 0x3000028).addInt64(1_500n).addByte(1).join();
  assert.equal(parseReplicationMessage(payload), {
    kind: 'keepalive', walEnd: 0x3000028, sendTime: PG_EPOCH_MS + 1.5, replyRequested: true,
  });
});

test('parses a keepalive without reply and a negative (pre-2000) clock', () => {
  const payload = new BufferList().addChar('k').addUInt64(0, 8).addInt64(-2_000_000n).addByte(0).join();
  assert.equal(parseReplicationMessage(payload), { kind: 'keepalive', walEnd: 8, sendTime: PG_EPOCH_MS - 2000, replyRequested: false });
});

test('parses replication messages inside CopyData split at every offset', () => {
  const keepalive = new BufferList().addChar('k').addUInt64(0, 99).addInt64(0n).addByte(0).join('d');
  const xlog = new BufferList().addChar('w').addUInt64(0, 64).addUInt64(0, 72).addInt64(0n).add(Buffer.alloc(8, 7)).join('d');
  const stream = Buffer.concat([xlog, keepalive, xlog]);
  for (let split = 0; split <= stream.length; split++) {
    const parser = new BackendParser();
    const frames = [...parser.parse(stream.subarray(0, split)), ...parser.parse(stream.subarray(split))];
    const kinds = frames.map((frame) => (frame.name === 'copyData' ? parseReplicationMessage(frame.data).kind : frame.name));
    assert.equal(kinds, ['xlogData', 'keepalive', 'xlogData'], `split at ${split}`);
  }
});

function expectProtocolError(payload: Uint8Array): void {
  try {
    parseReplicationMessage(payload);
  } catch (error) {
    assert.ok(isStrataError(error, 'PS_ERR_PROTOCOL'));
    return;
  }
  assert.unreachable('expected PS_ERR_PROTOCOL');
}

test('rejects truncated XLogData and keepalive', () => {
  expectProtocolError(new BufferList().addChar('w').addUInt64(0, 1).join());
  expectProtocolError(new BufferList().addChar('k').addUInt64(0, 1).addInt64(0n).join());
});

test('rejects an unknown tag and an empty payload', () => {
  expectProtocolError(Buffer.from('z'));
  expectProtocolError(new Uint8Array(0));
});

test.run();
