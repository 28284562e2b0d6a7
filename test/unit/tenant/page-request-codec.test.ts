/**
 * Byte-exact tests of the page-request codec (the ring's hot-path format): a known request
 * encodes to known bytes, every request round-trips, and malformed bytes get PS_ERR_PROTOCOL.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import {
  decodePageRequest, decodeRelSizeResponse, encodePageRequest, encodeRelSizeResponse,
  PAGE_REQUEST_BYTES, PageRequestKind, type PageRequest,
} from '../../../src/tenant/page-request-codec.js';

const TIMELINE = '00112233445566778899aabbccddeeff';

test('a GetPage request encodes to the documented bytes', () => {
  const bytes = encodePageRequest({
    kind: PageRequestKind.GetPage, timelineId: TIMELINE,
    rel: { spcNode: 1663, dbNode: 5, relNode: 16384, forkNumber: 2 }, blockNumber: 7, lsn: 0x1_0000_0000 * 0x16 + 0xb374d848,
  });
  const expected = Buffer.from(
    '47' + TIMELINE + '0000067f' + '00000005' + '00004000' + '02' + '00000007' + '01' + '00000016' + 'b374d848', 'hex');
  assert.is(bytes.length, PAGE_REQUEST_BYTES);
  assert.is(Buffer.from(bytes).toString('hex'), expected.toString('hex'));
});

test('requests round-trip, with and without an LSN, including LSNs above 2^32', () => {
  const requests: PageRequest[] = [
    { kind: PageRequestKind.GetPage, timelineId: TIMELINE, rel: { spcNode: 1663, dbNode: 16384, relNode: 2619, forkNumber: 0 }, blockNumber: 0xfffffffe, lsn: undefined },
    { kind: PageRequestKind.RelSize, timelineId: TIMELINE, rel: { spcNode: 1664, dbNode: 0, relNode: 1262, forkNumber: 3 }, blockNumber: 0, lsn: 0 },
    { kind: PageRequestKind.RelSize, timelineId: TIMELINE, rel: { spcNode: 4294967295, dbNode: 1, relNode: 2, forkNumber: 1 }, blockNumber: 0, lsn: Number.MAX_SAFE_INTEGER },
  ];
  for (const request of requests) assert.equal(decodePageRequest(encodePageRequest(request)), request);
});

test('malformed requests are protocol errors naming the problem', () => {
  const good = encodePageRequest({ kind: PageRequestKind.GetPage, timelineId: TIMELINE, rel: { spcNode: 1, dbNode: 2, relNode: 3, forkNumber: 0 }, blockNumber: 1, lsn: undefined });
  const cases: Array<[Uint8Array, RegExp]> = [
    [good.subarray(0, PAGE_REQUEST_BYTES - 1), /42 bytes, expected 43/],
    [Uint8Array.from(good, (byte, index) => (index === 0 ? 0x58 : byte)), /unknown page request kind 0x58/],
    [Uint8Array.from(good, (byte, index) => (index === 29 ? 4 : byte)), /fork number 4/],
    [Uint8Array.from(good, (byte, index) => (index === 34 ? 2 : byte)), /bad LSN flag 2/],
  ];
  for (const [bytes, message] of cases) {
    try {
      decodePageRequest(bytes);
      assert.unreachable(`accepted ${Buffer.from(bytes).toString('hex')}`);
    } catch (error) {
      assert.ok(isStrataError(error, 'PS_ERR_PROTOCOL'), String(error));
      assert.match((error as Error).message, message);
    }
  }
});

test('relation size responses are a big-endian u32', () => {
  assert.is(Buffer.from(encodeRelSizeResponse(0x01020304)).toString('hex'), '01020304');
  assert.is(decodeRelSizeResponse(encodeRelSizeResponse(4294967295)), 4294967295);
  assert.throws(() => decodeRelSizeResponse(new Uint8Array(3)), /3 bytes, expected 4/);
});

test.run();
