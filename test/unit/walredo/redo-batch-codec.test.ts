/**
 * The walredo batch codec: jobs come back as they went in (keys, images, WAL records, Strata
 * records by index), every part on an 8-byte boundary; a malformed buffer is PS_ERR_REDO_FAILED.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isStrataError } from '../../../src/errors.js';
import { decodeRedoBatch, encodedRedoBatchLength, encodeRedoBatch } from '../../../src/walredo/redo-batch-codec.js';
import type { RedoJob } from '../../../src/walredo/walredo-protocol.js';

const KEY = '000000067f00004000000040640000000007';

function bytes(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, index) => (index * 31 + seed) & 0xff);
}

const JOBS: RedoJob[] = [
  {
    key: KEY,
    data: {
      image: { lsn: 0x1_0000_0028, bytes: bytes(8192, 1) },
      records: [
        { lsn: 0x1_0000_0100, value: { kind: 'walRecord', willInit: false, blockId: 1, record: bytes(61, 2) } },
        { lsn: 0x1_0000_0200, value: { kind: 'strataRecord', willInit: false, record: { kind: 'ClogSetCommitted', xids: [3, 4], timestamp: 7 } } },
        { lsn: 0x1_0000_0300, value: { kind: 'walRecord', willInit: true, blockId: 0, record: bytes(8, 3) } },
      ],
    },
  },
  { key: 'k', data: { image: undefined, records: [{ lsn: 5, value: { kind: 'strataRecord', willInit: true, record: { kind: 'ClogSetAborted', xids: [9] } } }] } },
  { key: KEY, data: { image: { lsn: 9, bytes: bytes(100, 4) }, records: [] } },
];

function plain(jobs: RedoJob[]): unknown {
  return jobs.map((job) => ({
    key: job.key,
    image: job.data.image === undefined ? undefined : { lsn: job.data.image.lsn, bytes: [...job.data.image.bytes] },
    records: job.data.records.map(({ lsn, value }) => ({ lsn, ...value, ...(value.kind === 'walRecord' ? { record: [...value.record] } : {}) })),
  }));
}

test('jobs come back as they went in, with every part 8-byte aligned and the length as computed', () => {
  const length = encodedRedoBatchLength(JOBS);
  const target = new Uint8Array(new SharedArrayBuffer(length + 64));
  const { length: written, strataRecords } = encodeRedoBatch(JOBS, target);
  assert.is(written, length);
  assert.is(strataRecords.length, 2);
  const decoded = decodeRedoBatch(target, strataRecords);
  assert.equal(plain(decoded), plain(JOBS));
  const image = decoded[0]!.data.image!.bytes;
  assert.is(image.buffer, target.buffer, 'images are read in place');
  assert.is(image.byteOffset % 8, 0);
  const first = decoded[0]!.data.records[0]!.value;
  assert.ok(first.kind === 'walRecord' && first.record.byteOffset % 8 === 0);
});

test('the layout is fixed: header, then the first job header at byte 16', () => {
  const target = new Uint8Array(encodedRedoBatchLength(JOBS.slice(1, 2)));
  encodeRedoBatch(JOBS.slice(1, 2), target);
  assert.equal([...target.subarray(0, 16)], [0x53, 0x52, 0x42, 0x31, 1, 0, 1, 0, target.length, 0, 0, 0, 0, 0, 0, 0]);
  // key length 1, no image, 1 record, image LSN 0, image length 0; then 'k' padded to 8.
  assert.equal([...target.subarray(16, 48)], [1, 0, 0, 0, 1, 0, 0, 0, ...new Array(16).fill(0), 0x6b, 0, 0, 0, 0, 0, 0, 0]);
  // The record: LSN 5 (f64), Strata kind 1, will-init 1, block 0, then Strata index 0.
  assert.equal([...target.subarray(56, 64)], [1, 1, 0, 0, 0, 0, 0, 0]);
});

test('malformed buffers are PS_ERR_REDO_FAILED: magic, version, truncation, Strata index, kind', () => {
  const length = encodedRedoBatchLength(JOBS);
  const good = new Uint8Array(length);
  const { strataRecords } = encodeRedoBatch(JOBS, good);
  const cases: [string, (copy: Uint8Array) => Uint8Array, unknown[]][] = [
    ['magic', (copy) => { copy[0] = 0; return copy; }, strataRecords],
    ['version', (copy) => { copy[4] = 9; return copy; }, strataRecords],
    ['truncated', (copy) => copy.subarray(0, length - 8), strataRecords],
    ['Strata index', (copy) => copy, strataRecords.slice(0, 1)],
    ['kind', (copy) => { copy[16 + 24 + 40 + 8192 + 8] = 7; return copy; }, strataRecords],
  ];
  for (const [name, spoil, strata] of cases) {
    try {
      decodeRedoBatch(spoil(good.slice()), strata as never);
      assert.unreachable(`${name}: decoded`);
    } catch (error) {
      assert.ok(isStrataError(error, 'PS_ERR_REDO_FAILED'), `${name}: ${String(error)}`);
    }
  }
});

test('a target too small is PS_ERR_BAD_REQUEST, not a partial write', () => {
  try {
    encodeRedoBatch(JOBS, new Uint8Array(100));
    assert.unreachable('encoded into 100 bytes');
  } catch (error) {
    assert.ok(isStrataError(error, 'PS_ERR_BAD_REQUEST'), String(error));
  }
});

test.run();
