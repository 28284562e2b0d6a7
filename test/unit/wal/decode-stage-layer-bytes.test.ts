/**
 * What the open layer is charged for WAL that came through the decode thread in many small
 * messages (the walreceiver under pgbench with synchronous_commit = on: a few KiB per XLogData).
 *
 * WHY this test exists: every message's batch arrives with new SharedArrayBuffer objects for the
 * same decoder buffers, and the in-memory layer charged each object's whole size, so 4 KiB
 * messages charged a 256 KiB buffer each: the open layer reached checkpoint_distance after ~1/64
 * of it in WAL, and the server wrote an L0 file every ~0.7 s. The real pieces are used end to end
 * (decode thread, WalIngest, the store's open layer), so the number checked is the one the
 * timeline compares with checkpoint_distance. source-identity.ts is also tested on its own.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { WalIngest } from '../../../src/ingest/wal-ingest.js';
import { MemoryTimelineStore } from '../../../src/storage/memory-timeline-store.js';
import { SourceCanonicalizer, SourceIdAssigner, SOURCES_KEPT_MAX } from '../../../src/wal/source-identity.js';
import { WalDecodeThread } from '../../../src/wal/wal-decode-stage.js';
import { RmgrId } from '../../../src/wal/types.js';
import { LogCapture } from '../../helpers/log-capture.js';
import { filler, WalBuilder } from './wal-builder.js';

const SEGMENT = 0x1000000;
const START = 6 * SEGMENT;
const MESSAGE_BYTES = 4096;
/** The decoder's stream buffer size (wal-decoder.ts BUFFER_BYTES_INITIAL). */
const DECODER_BUFFER_BYTES = 256 * 1024;

/** ~2 MB of Btree records (each stored by reference as a WAL record of its block). */
function btreeWal(): Uint8Array {
  const wal = new WalBuilder(START, { prevLsn: START - 0x100 });
  const rel = { spcNode: 1663, dbNode: 5, relNode: 16384 };
  for (let index = 0; index < 10_000; index++) {
    wal.add({ rmgr: RmgrId.Btree, info: 0, xid: 500 + index, blocks: [{ id: 0, rel, block: index % 500, data: filler(120 + (index % 90), index) }], mainData: filler(2, index) });
  }
  return wal.bytes().subarray(0, wal.recordEnds[wal.recordEnds.length - 1]! - START);
}

test('small messages through the decode thread charge the open layer about their WAL, not a decoder buffer each', async () => {
  const bytes = btreeWal();
  const capture = new LogCapture();
  const store = new MemoryTimelineStore();
  const ingest = await WalIngest.create(store, { logger: capture.logger });
  const thread = new WalDecodeThread();
  const sourceObjects = new Set<ArrayBufferLike>();
  let messages = 0;
  try {
    const session = thread.openStream(START);
    for (let offset = 0; offset < bytes.length; offset += MESSAGE_BYTES) {
      const batch = await session.decode(bytes.subarray(offset, Math.min(bytes.length, offset + MESSAGE_BYTES)));
      messages += 1;
      for (const source of batch.sources) sourceObjects.add(source);
      await ingest.ingestPacked(batch, 0);
    }
    session.close();
  } finally {
    await thread.close();
  }
  const buffersMax = Math.ceil(bytes.length / DECODER_BUFFER_BYTES) + 1;
  assert.ok(messages > 400, `many messages (${messages})`);
  assert.ok(sourceObjects.size <= buffersMax, `one object per decoder buffer: ${sourceObjects.size} objects for ${messages} messages (at most ${buffersMax})`);
  const charged = store.openLayerBytes;
  assert.ok(charged >= 0.8 * bytes.length, `the layer holds the WAL's buffers: ${charged} bytes charged for ${bytes.length} of WAL`);
  assert.ok(charged <= 1.5 * bytes.length, `charged ${charged} bytes for ${bytes.length} bytes of WAL (${(charged / bytes.length).toFixed(1)}×)`);
  capture.assertClean();
});

test('SourceCanonicalizer: one object per id, bounded, and refuses an id whose size changed', () => {
  const assigner = new SourceIdAssigner();
  const first = new SharedArrayBuffer(64);
  const second = new SharedArrayBuffer(128);
  assert.equal(assigner.idsOf([first, second, first]), [1, 2, 1], 'ids are stable per object');
  const canonicalizer = new SourceCanonicalizer();
  const received = new SharedArrayBuffer(64);
  assert.equal(canonicalizer.canonical([received], [1]), [received]);
  const again = new SharedArrayBuffer(64);
  assert.is(canonicalizer.canonical([again], [1])![0], received, 'a later object for the same id maps to the first');
  assert.is(canonicalizer.canonical([new SharedArrayBuffer(32)], [1]), undefined, 'same id, different size: refused');
  for (let id = 2; id < 2 + 3 * SOURCES_KEPT_MAX; id++) canonicalizer.canonical([new SharedArrayBuffer(8)], [id]);
  assert.is(canonicalizer.size, SOURCES_KEPT_MAX, 'at most SOURCES_KEPT_MAX ids are kept');
  const late = new SharedArrayBuffer(64);
  assert.is(canonicalizer.canonical([late], [1])![0], late, 'an evicted id starts over with the object it comes with');
});

test.run();
