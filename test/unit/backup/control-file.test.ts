// pg_control synthesis on a real PostgreSQL 15 control file (golden bytes): the facts a backup
// reads, the fields a clean shutdown at the backup's checkpoint sets, every other byte kept, the
// CRC recomputed, and coded errors for a damaged or foreign file. pg_controldata reading the
// result is in test/integration/backup-startup.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeCheckPoint, shutdownCheckpointAt } from '../../../src/backup/checkpoint.js';
import {
  CONTROL_FILE_BYTES, CONTROL_FILE_DATA_BYTES, DbState, readControlFileInfo, shutdownControlFile, tablespaceVersionDirectory,
} from '../../../src/backup/control-file.js';
import { controlFileCrcValid } from '../../../src/ingest/control-file.js';
import { isStrataError } from '../../../src/errors.js';
import { crc32c } from '../../../src/wal/crc32c.js';
import { REAL_CATALOG_VERSION, REAL_CHECKPOINT_LOCATION, REAL_SYSTEM_IDENTIFIER, realControlFile } from '../../fixtures/pg15-control-file.js';

const LOCATION = 0x3000028;

function synthesized() {
  const original = realControlFile();
  const info = readControlFileInfo(original);
  const checkpoint = shutdownCheckpointAt({ ...info.checkpoint, nextXid: (1n << 32n) | 5000n, nextOid: 40000 }, LOCATION);
  const control = shutdownControlFile({ control: original, checkpoint, checkpointLocation: LOCATION, timeSeconds: 1_800_000_000 });
  return { original, checkpoint, control, view: new DataView(control.buffer, control.byteOffset, control.length) };
}

test('readControlFileInfo: the facts of a real PostgreSQL 15 pg_control', () => {
  const info = readControlFileInfo(realControlFile());
  assert.is(info.systemIdentifier, REAL_SYSTEM_IDENTIFIER);
  assert.is(info.controlVersion, 1300);
  assert.is(info.catalogVersion, REAL_CATALOG_VERSION);
  assert.is(info.state, DbState.Shutdowned);
  assert.is(info.checkpointLocation, REAL_CHECKPOINT_LOCATION);
  assert.is(info.checkpoint.redo, REAL_CHECKPOINT_LOCATION);
  assert.is(info.checkpoint.nextXid, 724n);
  assert.is(info.blockSize, 8192);
  assert.is(info.walBlockSize, 8192);
  assert.is(info.walSegmentSize, 16 * 1024 * 1024);
  assert.is(tablespaceVersionDirectory(info.catalogVersion), 'PG_15_202209061');
});

test('shutdownControlFile sets the shutdown fields and the checkpoint copy, 8192 bytes, CRC valid', () => {
  const { control, checkpoint, view } = synthesized();
  assert.is(control.length, CONTROL_FILE_BYTES);
  assert.ok(control.subarray(CONTROL_FILE_DATA_BYTES).every((byte) => byte === 0), 'zero after the struct');
  assert.ok(controlFileCrcValid(control));
  assert.is(view.getInt32(16, true), DbState.Shutdowned);
  assert.is(view.getBigInt64(24, true), 1_800_000_000n);
  assert.is(view.getBigUint64(32, true), BigInt(LOCATION));
  assert.equal(decodeCheckPoint(control.subarray(40, 128)), checkpoint);
  assert.is(view.getBigUint64(128, true), BigInt(LOCATION), 'unloggedLSN');
  for (const offset of [136, 152, 160]) assert.is(view.getBigUint64(offset, true), 0n, `LSN at ${offset} cleared`);
  assert.is(view.getUint32(144, true), 0, 'minRecoveryPointTLI');
  assert.is(view.getUint8(168), 0, 'backupEndRequired');
  const info = readControlFileInfo(control);
  assert.is(info.checkpointLocation, LOCATION);
  assert.equal(info.checkpoint, checkpoint);
});

test('every byte outside the rewritten fields is the primary\'s', () => {
  const { original, control } = synthesized();
  const rewritten = [[16, 20], [24, 48 + 80], [128, 148], [152, 169], [288, 292]] as const;
  for (let offset = 0; offset < CONTROL_FILE_DATA_BYTES; offset++) {
    if (rewritten.some(([start, end]) => offset >= start && offset < end)) continue;
    assert.is(control[offset], original[offset], `byte ${offset}`);
  }
});

test('a backup-in-progress control file loses its backup fields (pg_basebackup style input)', () => {
  const original = realControlFile();
  const view = new DataView(original.buffer);
  view.setBigUint64(136, 0x2000000n, true);
  view.setUint32(144, 1, true);
  view.setBigUint64(152, 0x1800000n, true);
  view.setBigUint64(160, 0x2000000n, true);
  view.setUint8(168, 1);
  view.setInt32(16, DbState.InProduction, true);
  view.setUint32(288, crc32c(original, 0, 288), true);
  const checkpoint = shutdownCheckpointAt(readControlFileInfo(original).checkpoint, LOCATION);
  const control = shutdownControlFile({ control: original, checkpoint, checkpointLocation: LOCATION, timeSeconds: 1 });
  const out = new DataView(control.buffer);
  assert.is(out.getInt32(16, true), DbState.Shutdowned);
  assert.equal([out.getBigUint64(136, true), out.getUint32(144, true), out.getBigUint64(152, true), out.getBigUint64(160, true), out.getUint8(168)], [0n, 0, 0n, 0n, 0]);
});

test('a damaged, short or foreign control file is a coded PS_ERR_IO', () => {
  const damaged = realControlFile();
  damaged[0]! ^= 1;
  const foreign = realControlFile();
  new DataView(foreign.buffer).setUint32(8, 1201, true); // PostgreSQL 12's version
  new DataView(foreign.buffer).setUint32(288, crc32c(foreign, 0, 288), true);
  for (const control of [damaged, foreign, realControlFile().subarray(0, 100)]) {
    try {
      readControlFileInfo(control);
      assert.unreachable('must throw');
    } catch (error) {
      assert.ok(isStrataError(error, 'PS_ERR_IO'), String(error));
    }
  }
});

test('the checkpoint must be its own redo point (programmer error)', () => {
  const original = realControlFile();
  const checkpoint = readControlFileInfo(original).checkpoint;
  assert.throws(() => shutdownControlFile({ control: original, checkpoint, checkpointLocation: LOCATION, timeSeconds: 1 }), /own redo/);
});

test.run();
