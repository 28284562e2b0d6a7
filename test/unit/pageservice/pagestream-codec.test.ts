/**
 * The pagestream codec (src/pageservice/pagestream-codec.ts) against golden bytes written out by
 * hand from Neon's layouts (libs/pageserver_api/src/pagestream_api.rs, pgxn/neon
 * pagestore_client.h), v2 and v3, both directions; Lsn::MAX; refusals (truncation at every length,
 * trailing bytes, unknown tags, LSNs beyond 2^53); and a fuzz of random and mutated messages that
 * must each parse or fail with PS_ERR_PROTOCOL.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import {
  BLCKSZ, LATEST_LSN, parsePagestreamRequest, parsePagestreamResponse, serializePagestreamRequest, serializePagestreamResponse,
  type PagestreamRequest, type PagestreamResponse, type PagestreamVersion, type RequestHeader,
} from '../../../src/pageservice/pagestream-codec.js';

function hex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replace(/[\s|]/g, ''), 'hex'));
}

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

const header: RequestHeader = { reqid: 0x0000_0001_0000_0002n, requestLsn: 0x16b3748, notModifiedSince: 0x16b3700 };
const rel = { spcNode: 1663, dbNode: 5, relNode: 16384, forkNumber: 2 };
const H3 = '0000000100000002 | 00000000016b3748 | 00000000016b3700';
const H2 = '00000000016b3748 | 00000000016b3700';
const REL = '0000067f | 00000005 | 00004000 | 02';

const requests: [PagestreamRequest, string, string][] = [
  [{ kind: 'exists', header, rel }, `00 | ${H2} | ${REL}`, `00 | ${H3} | ${REL}`],
  [{ kind: 'nblocks', header, rel }, `01 | ${H2} | ${REL}`, `01 | ${H3} | ${REL}`],
  [{ kind: 'getPage', header, rel, blockNumber: 7 }, `02 | ${H2} | ${REL} | 00000007`, `02 | ${H3} | ${REL} | 00000007`],
  [{ kind: 'dbSize', header, dbNode: 5 }, `03 | ${H2} | 00000005`, `03 | ${H3} | 00000005`],
  [{ kind: 'getSlruSegment', header, slruKind: 1, segment: 0x12 }, `04 | ${H2} | 01 | 00000012`, `04 | ${H3} | 01 | 00000012`],
];

test('requests: golden bytes, v2 and v3, both ways', () => {
  for (const [request, v2, v3] of requests) {
    for (const [version, golden] of [[2, v2], [3, v3]] as const) {
      assert.is(toHex(serializePagestreamRequest(request, version)), toHex(hex(golden)), `${request.kind} v${version} serialized`);
      const parsed = parsePagestreamRequest(hex(golden), version);
      const expected = version === 2 ? { ...request, header: { ...request.header, reqid: 0n } } : request;
      assert.equal(parsed, expected, `${request.kind} v${version} parsed`);
    }
  }
});

test('responses: golden bytes, v2 without the echo, v3 with it', () => {
  const page = new Uint8Array(BLCKSZ).map((_, index) => index & 0xff);
  const segment = new Uint8Array(2 * BLCKSZ).fill(0xab);
  const [exists, nblocks, getPage, dbSize, slru] = requests.map(([request]) => request) as [
    Extract<PagestreamRequest, { kind: 'exists' }>, Extract<PagestreamRequest, { kind: 'nblocks' }>, Extract<PagestreamRequest, { kind: 'getPage' }>,
    Extract<PagestreamRequest, { kind: 'dbSize' }>, Extract<PagestreamRequest, { kind: 'getSlruSegment' }>,
  ];
  const cases: [PagestreamResponse, PagestreamRequest, string, string][] = [
    [{ kind: 'exists', request: exists, exists: true }, exists, '64 | 01', `64 | ${H3} | ${REL} | 01`],
    [{ kind: 'nblocks', request: nblocks, blocks: 0x01020304 }, nblocks, '65 | 01020304', `65 | ${H3} | ${REL} | 01020304`],
    [{ kind: 'getPage', request: getPage, page }, getPage, `66 | ${toHex(page)}`, `66 | ${H3} | ${REL} | 00000007 | ${toHex(page)}`],
    [{ kind: 'dbSize', request: dbSize, bytes: 0x1_0000_0002 }, dbSize, '68 | 0000000100000002', `68 | ${H3} | 00000005 | 0000000100000002`],
    [{ kind: 'getSlruSegment', request: slru, segmentBytes: segment }, slru, `69 | 00000002 | ${toHex(segment)}`, `69 | ${H3} | 01 | 00000012 | 00000002 | ${toHex(segment)}`],
    [{ kind: 'error', header, message: 'could not read block' }, getPage, `67 | ${toHex(Buffer.from('could not read block'))}00`, `67 | ${H3} | ${toHex(Buffer.from('could not read block'))}00`],
  ];
  for (const [response, sent, v2, v3] of cases) {
    for (const [version, golden] of [[2, v2], [3, v3]] as const) {
      assert.is(toHex(serializePagestreamResponse(response, version)), toHex(hex(golden)), `${response.kind} v${version} serialized`);
      assert.equal(parsePagestreamResponse(hex(golden), version, sent), response, `${response.kind} v${version} parsed`);
    }
  }
});

test('Lsn::MAX (all ones) is the latest version and is echoed back as all ones', () => {
  const golden = hex(`02 | 0000000000000009 | ffffffffffffffff | 00000000016b3700 | ${REL} | 00000001`);
  const parsed = parsePagestreamRequest(golden, 3);
  assert.is(parsed.header.requestLsn, LATEST_LSN);
  assert.is(toHex(serializePagestreamRequest(parsed, 3)), toHex(golden));
  assert.ok(parsed.kind === 'getPage');
  const echoed = serializePagestreamResponse({ kind: 'getPage', request: parsed, page: new Uint8Array(BLCKSZ) }, 3);
  assert.is(toHex(echoed.subarray(1, 1 + 24)), '0000000000000009ffffffffffffffff00000000016b3700');
});

function expectProtocolError(action: () => unknown, label: string): void {
  try {
    action();
  } catch (error) {
    assert.ok(isStrataError(error, 'PS_ERR_PROTOCOL'), `${label}: ${String(error)}`);
    return;
  }
  assert.unreachable(`${label}: accepted`);
}

test('refused: every truncation, bytes left over, unknown tags, LSNs beyond 2^53', () => {
  for (const [request] of requests) {
    for (const version of [2, 3] as const) {
      const bytes = serializePagestreamRequest(request, version);
      for (let length = 0; length < bytes.length; length++) expectProtocolError(() => parsePagestreamRequest(bytes.subarray(0, length), version), `${request.kind} v${version} cut at ${length}`);
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      expectProtocolError(() => parsePagestreamRequest(longer, version), `${request.kind} v${version} with a byte left over`);
    }
  }
  expectProtocolError(() => parsePagestreamRequest(hex(`05 | ${H3} | 00000005`), 3), 'tag 5');
  expectProtocolError(() => parsePagestreamRequest(hex(`63 | ${H3}`), 3), 'tag 99 (Neon\'s test message)');
  expectProtocolError(() => parsePagestreamRequest(hex(`03 | 0000000000000000 | 0020000000000000 | 0000000000000000 | 00000005`), 3), 'request_lsn 2^53');
  expectProtocolError(() => parsePagestreamResponse(hex(`67 | ${H3} | 616263`), 3, requests[0]![0]), 'error message without NUL');
});

/** A deterministic generator (xorshift32): the fuzz prints its seed when it fails. */
function generator(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13; state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5; state >>>= 0;
    return state;
  };
}

test('fuzz: random and mutated messages parse or fail with PS_ERR_PROTOCOL; parsed ones round-trip', () => {
  const seed = Number(process.env.PAGESTREAM_FUZZ_SEED ?? 20261207);
  const next = generator(seed);
  let parsed = 0;
  for (let round = 0; round < 20_000; round++) {
    const version: PagestreamVersion = next() % 2 === 0 ? 2 : 3;
    let bytes: Uint8Array;
    if (round % 2 === 0) {
      bytes = new Uint8Array(next() % 48).map(() => next() & 0xff);
      if (bytes.length > 0) bytes[0] = next() % 6;
    } else {
      bytes = serializePagestreamRequest(requests[next() % requests.length]![0], version).slice();
      for (let flips = 1 + (next() % 3); flips > 0; flips--) bytes[next() % bytes.length] = next() & 0xff;
    }
    let request: PagestreamRequest;
    try {
      request = parsePagestreamRequest(bytes, version);
    } catch (error) {
      if (!isStrataError(error, 'PS_ERR_PROTOCOL')) assert.unreachable(`seed ${seed} round ${round}: ${String(error)}`);
      continue;
    }
    parsed += 1;
    assert.is(toHex(serializePagestreamRequest(request, version)), toHex(bytes), `seed ${seed} round ${round}: round trip`);
  }
  assert.ok(parsed > 1000, `many messages parsed (${parsed})`);
});

test.run();
