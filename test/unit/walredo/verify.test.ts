/**
 * The redo verifier (src/walredo/verify.ts) on hand-built WAL: full-page images, consistency
 * images, will-init, records without images, unsupported and failing redo, bounded page states.
 *
 * WHY a fake resource manager: the verifier's verdicts must be tested independently of the redo
 * modules being written; the test puts a tiny redo routine into the dispatcher's table in place
 * of Sequence's (this process only) that copies the block data into the page's special space, so
 * the expected page of every case is known exactly. Sequence's mask (lsn, checksum, unused space)
 * leaves the special space alone, so a wrong byte there must be reported.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseRmgrNames } from '../../../src/cli/redo-verify.js';
import type { DecodedRecord } from '../../../src/wal/types.js';
import { WalStreamDecoder } from '../../../src/wal/wal-decoder.js';
import { BLCKSZ, pageInit, pageSetLsn } from '../../../src/walredo/page.js';
import { RMGR_REDO } from '../../../src/walredo/rmgr-table.js';
import type { RmgrRedo } from '../../../src/walredo/types.js';
import { unsupportedRedo } from '../../../src/walredo/unsupported.js';
import { format, RedoVerifier, verifyPassed, verifyWalFiles, type VerifyReport } from '../../../src/walredo/verify.js';
import { filler, WalBuilder, type BlockSpec } from '../wal/wal-builder.js';

const START = 0x100_0000;
const SEQUENCE = 15;
const XLOG = 0;
const XLOG_FPI = 0xb0;
const BKPIMAGE_APPLY = 0x02;
const SPECIAL_START = BLCKSZ - 64;

/** The fake redo: block data is [u16 offset][bytes]; the bytes are written at the offset. */
const writeRedo: RmgrRedo = {
  name: 'FakeWrite',
  redo(page, record, blockId) {
    const block = record.blocks.find((candidate) => candidate.blockId === blockId)!;
    const offset = block.data[0]! | (block.data[1]! << 8);
    if (block.willInit) pageInit(page, 64);
    page.set(block.data.subarray(2), offset);
    pageSetLsn(page, record.endLsn);
  },
};

const table = RMGR_REDO as (RmgrRedo | undefined)[];

function withSequenceRedo<T>(redo: RmgrRedo | undefined, body: () => T): T {
  const saved = table[SEQUENCE];
  table[SEQUENCE] = redo;
  try {
    return body();
  } finally {
    table[SEQUENCE] = saved;
  }
}

/** A valid page with 64 bytes of special space filled from `seed`. */
function basePage(seed: number): Uint8Array {
  const page = new Uint8Array(BLCKSZ);
  pageInit(page, 64);
  page.set(filler(64, seed), SPECIAL_START);
  return page;
}

function written(page: Uint8Array, offset: number, bytes: number[]): Uint8Array {
  const copy = page.slice();
  copy.set(bytes, offset);
  return copy;
}

function image(page: Uint8Array, apply: boolean): NonNullable<BlockSpec['image']> {
  return { bytes: page, holeOffset: 0, holeLength: 0, info: apply ? BKPIMAGE_APPLY : 0 };
}

function writeData(offset: number, bytes: number[]): Uint8Array {
  return Uint8Array.from([offset & 0xff, offset >>> 8, ...bytes]);
}

interface WriteSpec {
  block?: number;
  offset: number;
  bytes: number[];
  /** The consistency image (the page after the change, as PostgreSQL saw it); none when omitted. */
  after?: Uint8Array;
  willInit?: boolean;
}

function addFpi(wal: WalBuilder, page: Uint8Array, block = 7): void {
  wal.add({ rmgr: XLOG, info: XLOG_FPI, blocks: [{ id: 0, block, image: image(page, true) }] });
}

function addWrite(wal: WalBuilder, spec: WriteSpec): void {
  const block: BlockSpec = { id: 0, block: spec.block ?? 7, data: writeData(spec.offset, spec.bytes) };
  if (spec.after !== undefined) block.image = image(spec.after, false);
  if (spec.willInit === true) block.willInit = true;
  wal.add({ rmgr: SEQUENCE, info: 0x00, blocks: [block] });
}

function decode(wal: WalBuilder): DecodedRecord[] {
  const decoder = new WalStreamDecoder(wal.startLsn);
  decoder.feed(wal.bytes());
  return wal.recordLsns.map(() => decoder.next()!);
}

/** Verifies the WAL with `redo` as Sequence's routine (null: no routine at all). */
function verify(wal: WalBuilder, redo: RmgrRedo | null = writeRedo, options = {}): VerifyReport {
  const verifier = new RedoVerifier(options);
  withSequenceRedo(redo ?? undefined, () => verifier.add(decode(wal)));
  return verifier.report();
}

function typeCounts(report: VerifyReport, name: string) {
  const counts = report.types.find((candidate) => candidate.name === name);
  assert.ok(counts, `record type ${name} is reported`);
  return counts!;
}

test('a consistency image equal to the redo result is checked without mismatch', () => {
  const wal = new WalBuilder(START);
  const page = basePage(1);
  addFpi(wal, page);
  addWrite(wal, { offset: SPECIAL_START + 4, bytes: [1, 2, 3], after: written(page, SPECIAL_START + 4, [1, 2, 3]) });
  const report = verify(wal);
  assert.is(typeCounts(report, 'XLOG/FPI').restored, 1);
  const sequence = typeCounts(report, 'Sequence/LOG');
  assert.equal([sequence.checked, sequence.mismatches, sequence.unsupported, sequence.failed], [1, 0, 0, 0]);
  assert.equal([report.checked, report.mismatches], [1, 0]);
  assert.ok(verifyPassed(report));
});

test('a consistency image that differs from the redo result is a mismatch at the first differing byte', () => {
  const wal = new WalBuilder(START);
  const page = basePage(2);
  addFpi(wal, page);
  // PostgreSQL's page got [9, 8, 7]; our redo writes [9, 5, 7]: the first difference is at +1.
  addWrite(wal, { offset: SPECIAL_START + 10, bytes: [9, 5, 7], after: written(page, SPECIAL_START + 10, [9, 8, 7]) });
  const report = verify(wal);
  assert.is(report.mismatches, 1);
  assert.is(typeCounts(report, 'Sequence/LOG').mismatches, 1);
  const mismatch = report.mismatchSamples[0]!;
  assert.equal([mismatch.offset, mismatch.expectedByte, mismatch.actualByte, mismatch.differingBytes], [SPECIAL_START + 11, 8, 5, 1]);
  assert.equal([mismatch.rel, mismatch.fork, mismatch.blockNumber, mismatch.recordType], ['1663/5/16384', 'main', 7, 'Sequence/LOG']);
  assert.is(mismatch.lsn, wal.recordLsns[1]);
  assert.not.ok(verifyPassed(report));
});

test('a mismatch does not cascade: the image becomes the state for the next record', () => {
  const wal = new WalBuilder(START);
  const page = basePage(3);
  addFpi(wal, page);
  const truth = written(page, SPECIAL_START, [42]);
  addWrite(wal, { offset: SPECIAL_START, bytes: [41], after: truth });
  addWrite(wal, { offset: SPECIAL_START + 1, bytes: [43], after: written(truth, SPECIAL_START + 1, [43]) });
  const report = verify(wal);
  assert.equal([report.checked, report.mismatches], [2, 1]);
});

test('a record type without redo is counted unsupported, and the next record is still checked', () => {
  const wal = new WalBuilder(START);
  const page = basePage(4);
  addFpi(wal, page);
  const after = written(page, SPECIAL_START, [1]);
  addWrite(wal, { offset: SPECIAL_START, bytes: [1], after });
  const unsupported = verify(wal, unsupportedRedo('Fake'));
  assert.equal([unsupported.unsupported, unsupported.checked, unsupported.failed], [1, 0, 0]);
  assert.not.ok(verifyPassed(unsupported));
  assert.ok(verifyPassed(unsupported, { allowUnsupported: true }));
  const missing = verify(wal, null);
  assert.is(typeCounts(missing, 'Sequence/LOG').unsupported, 1, 'no table entry is unsupported too');
});

test('a redo routine that throws is counted failed with its message', () => {
  const wal = new WalBuilder(START);
  const page = basePage(5);
  addFpi(wal, page);
  addWrite(wal, { offset: SPECIAL_START, bytes: [1], after: written(page, SPECIAL_START, [1]) });
  addWrite(wal, { offset: SPECIAL_START, bytes: [2], after: written(page, SPECIAL_START, [2]) });
  const throwing: RmgrRedo = { name: 'Throwing', redo() { throw new Error('page is not in the expected state'); } };
  const report = verify(wal, throwing);
  assert.equal([report.failed, report.checked, report.mismatches], [2, 0, 0]);
  assert.match(report.failureSamples[0]!.message, /page is not in the expected state/);
  assert.is(report.failureSamples[0]!.code, 'PS_ERR_REDO_FAILED');
  assert.not.ok(verifyPassed(report, { allowUnsupported: true }));
});

test('a consistency image without a known previous page is not compared', () => {
  const wal = new WalBuilder(START);
  const page = basePage(7);
  addWrite(wal, { offset: SPECIAL_START, bytes: [1], after: page });
  addWrite(wal, { offset: SPECIAL_START + 2, bytes: [5], after: written(page, SPECIAL_START + 2, [5]) });
  const report = verify(wal);
  const sequence = typeCounts(report, 'Sequence/LOG');
  assert.equal([sequence.noBase, sequence.checked, sequence.mismatches], [1, 1, 0]);
});

test('a will-init block is checked from a zero page even when its previous state is unknown', () => {
  const wal = new WalBuilder(START);
  const fresh = new Uint8Array(BLCKSZ);
  pageInit(fresh, 64);
  addWrite(wal, { willInit: true, offset: SPECIAL_START, bytes: [7, 7], after: written(fresh, SPECIAL_START, [7, 7]) });
  addWrite(wal, { willInit: true, offset: SPECIAL_START, bytes: [7, 6], after: written(fresh, SPECIAL_START, [7, 7]) });
  const report = verify(wal);
  assert.equal([report.checked, report.mismatches], [2, 1]);
  assert.is(report.mismatchSamples[0]!.offset, SPECIAL_START + 1);
});

test('a record without image advances a known page, which the next image then checks', () => {
  const wal = new WalBuilder(START);
  const page = basePage(8);
  addFpi(wal, page);
  addWrite(wal, { offset: SPECIAL_START, bytes: [1] });
  const afterBoth = written(written(page, SPECIAL_START, [1]), SPECIAL_START + 1, [2]);
  addWrite(wal, { offset: SPECIAL_START + 1, bytes: [2], after: afterBoth });
  const report = verify(wal);
  const sequence = typeCounts(report, 'Sequence/LOG');
  assert.equal([sequence.unchecked, sequence.checked, sequence.mismatches], [1, 1, 0]);
});

test('page states are bounded: the least recently used is evicted and counted', () => {
  const wal = new WalBuilder(START);
  const first = basePage(9);
  const second = basePage(10);
  addFpi(wal, first, 1);
  addFpi(wal, second, 2);
  addWrite(wal, { block: 1, offset: SPECIAL_START, bytes: [1], after: written(first, SPECIAL_START, [1]) });
  addWrite(wal, { block: 2, offset: SPECIAL_START, bytes: [1], after: written(second, SPECIAL_START, [1]) });
  const verifier = new RedoVerifier({ pagesMax: 1 });
  withSequenceRedo(writeRedo, () => verifier.add(decode(wal)));
  const report = verifier.report();
  assert.ok(verifier.pagesHeld <= 1);
  assert.is(report.evictions, 3);
  assert.equal([report.checked, typeCounts(report, 'Sequence/LOG').noBase], [0, 2]);
});

test('records of resource managers outside the filter are carried along, not checked', () => {
  const wal = new WalBuilder(START);
  const page = basePage(11);
  addFpi(wal, page);
  addWrite(wal, { offset: SPECIAL_START, bytes: [9], after: written(page, SPECIAL_START, [1]) });
  const report = verify(wal, writeRedo, { rmgrs: new Set([XLOG]) });
  assert.equal([report.records, report.recordsSkipped, report.checked, report.mismatches], [2, 1, 0, 0]);
  assert.not.ok(report.types.some((counts) => counts.name === 'Sequence/LOG'));
});

test('format prints one line per record type, then each mismatch', () => {
  const wal = new WalBuilder(START);
  const page = basePage(12);
  addFpi(wal, page);
  addWrite(wal, { offset: SPECIAL_START, bytes: [3], after: written(page, SPECIAL_START, [4]) });
  const text = format(verify(wal));
  assert.match(text, /^XLOG\/FPI checked=0 mismatches=0 unsupported=0 failed=0 /m);
  assert.match(text, /^Sequence\/LOG checked=1 mismatches=1 unsupported=0 failed=0 /m);
  assert.match(text, new RegExp(`^MISMATCH 0/[0-9A-F]+ Sequence/LOG blkref #0 rel 1663/5/16384 fork main blk 7: first difference at byte ${SPECIAL_START}: postgres 0x04 strata 0x03`, 'm'));
});

test('verifyWalFiles reads segment files between start and end', async () => {
  const wal = new WalBuilder(START);
  const page = basePage(13);
  addFpi(wal, page);
  addWrite(wal, { offset: SPECIAL_START, bytes: [1], after: written(page, SPECIAL_START, [2]) });
  addWrite(wal, { offset: SPECIAL_START, bytes: [3], after: written(page, SPECIAL_START, [3]) });
  const directory = await mkdtemp(join(tmpdir(), 'strata-verify-'));
  try {
    const file = join(directory, '000000010000000000000001');
    await writeFile(file, wal.bytes());
    const saved = table[SEQUENCE];
    table[SEQUENCE] = writeRedo;
    try {
      const all = await verifyWalFiles([file]);
      assert.equal([all.records, all.checked, all.mismatches], [3, 2, 1]);
      const firstTwo = await verifyWalFiles([file], { endLsn: wal.recordEnds[1]! });
      assert.equal([firstTwo.records, firstTwo.checked, firstTwo.mismatches], [2, 1, 1]);
      const fromSecond = await verifyWalFiles([file], { startLsn: wal.recordLsns[1]! });
      assert.equal([fromSecond.records, fromSecond.checked, typeCounts(fromSecond, 'Sequence/LOG').noBase], [2, 1, 1]);
    } finally {
      table[SEQUENCE] = saved;
    }
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
});

test('resource manager names parse in any case and unknown names are usage errors', () => {
  assert.equal([...parseRmgrNames(['heap', 'SPGIST', 'Btree'])].sort((a, b) => a - b), [10, 11, 16]);
  assert.throws(() => parseRmgrNames(['Heap3']), /unknown resource manager 'Heap3'/);
});

test.run();
