/**
 * Byte-exact tests of the frontend serializer against frames built independently with BufferList.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  serializeCopyData,
  serializeCopyDone,
  serializePassword,
  serializeQuery,
  serializeSaslInitialResponse,
  serializeSaslResponse,
  serializeStandbyStatus,
  serializeStartup,
  serializeTerminate,
  unixMsToPostgresMicros,
} from '../../../src/pgwire/frontend-serializer.js';
import { BufferList } from './buffer-list.js';

test('startup packet carries protocol 3.0 and the replication parameter', () => {
  const actual = serializeStartup({ user: 'postgres', database: 'postgres', replication: 'true' });
  const body = new BufferList()
    .addInt32(196608)
    .addCString('user').addCString('postgres')
    .addCString('database').addCString('postgres')
    .addCString('replication').addCString('true')
    .addByte(0)
    .join();
  const expected = Buffer.concat([new BufferList().addInt32(body.length + 4).join(), body]);
  assert.equal(Array.from(actual), Array.from(expected));
});

test('password message', () => {
  assert.equal(Array.from(serializePassword('md5abc')), Array.from(new BufferList().addCString('md5abc').join('p')));
});

test('SASLInitialResponse carries mechanism and length-prefixed data', () => {
  const data = Buffer.from('n,,n=,r=nonce');
  const expected = new BufferList().addCString('SCRAM-SHA-256').addInt32(data.length).add(data).join('p');
  assert.equal(Array.from(serializeSaslInitialResponse('SCRAM-SHA-256', data)), Array.from(expected));
});

test('SASLResponse carries raw data', () => {
  const data = Buffer.from('c=biws,r=x,p=y');
  assert.equal(Array.from(serializeSaslResponse(data)), Array.from(new BufferList().add(data).join('p')));
});

test('query, CopyData, CopyDone and Terminate frames', () => {
  assert.equal(Array.from(serializeQuery('IDENTIFY_SYSTEM')), Array.from(new BufferList().addCString('IDENTIFY_SYSTEM').join('Q')));
  assert.equal(Array.from(serializeCopyData(Uint8Array.from([1, 2]))), [0x64, 0, 0, 0, 6, 1, 2]);
  assert.equal(Array.from(serializeCopyDone()), [0x63, 0, 0, 0, 4]);
  assert.equal(Array.from(serializeTerminate()), [0x58, 0, 0, 0, 4]);
});

test('standby status update has write, flush, apply, clock and reply flag', () => {
  const clockUnixMs = Date.UTC(2024, 0, 2, 3, 4, 5, 678);
  const actual = serializeStandbyStatus({
    write: 0x1_0000_2000, flush: 0x1_0000_1000, apply: 0x0_ffff_0000, clockUnixMs, replyRequested: true,
  });
  const micros = BigInt(clockUnixMs - Date.UTC(2000, 0, 1)) * 1000n;
  const expected = new BufferList()
    .addChar('r')
    .addUInt64(1, 0x2000)
    .addUInt64(1, 0x1000)
    .addUInt64(0, 0xffff0000)
    .addInt64(micros)
    .addByte(1)
    .join('d');
  assert.equal(Array.from(actual), Array.from(expected));
  assert.is(actual.length, 1 + 4 + 34);
});

test('the PostgreSQL epoch maps to zero microseconds', () => {
  assert.is(unixMsToPostgresMicros(Date.UTC(2000, 0, 1)), 0n);
  assert.is(unixMsToPostgresMicros(Date.UTC(2000, 0, 1) + 1.5), 1500n);
});

test.run();
