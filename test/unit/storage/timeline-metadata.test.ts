/** The timeline metadata file: round trip, crash-safe write, checked read. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isStrataError } from '../../../src/errors.js';
import { nodeFs } from '../../../src/storage/fs.js';
import {
  METADATA_FILE_NAME, readTimelineMetadata, writeTimelineMetadata, type TimelineMetadata,
} from '../../../src/storage/timeline-metadata.js';
import { faultyFs, withTempDirectory } from './storage-harness.js';

const metadata: TimelineMetadata = {
  diskConsistentLsn: 0x1_6b37_4d48, prevRecordLsn: 0x1_6b37_4d00, ancestorTimelineId: null, ancestorLsn: 0,
  latestGcCutoffLsn: 0x100, initdbLsn: 0x14e_8a10, pgVersion: 15, walSource: 'host=127.0.0.1 port=5432 user=postgres',
};

test('metadata round-trips and a missing file reads as undefined', () =>
  withTempDirectory(async (directory) => {
    assert.is(await readTimelineMetadata(nodeFs, directory), undefined);
    await writeTimelineMetadata(nodeFs, directory, metadata);
    assert.equal(await readTimelineMetadata(nodeFs, directory), metadata);
  }));

test('a flipped byte or a wrong magic is PS_ERR_IO', () =>
  withTempDirectory(async (directory) => {
    await writeTimelineMetadata(nodeFs, directory, metadata);
    const path = join(directory, METADATA_FILE_NAME);
    const original = readFileSync(path);
    for (const offset of [0, 20, original.length - 2]) {
      const bytes = Buffer.from(original);
      bytes[offset] = bytes[offset]! ^ 0x02;
      writeFileSync(path, bytes);
      await readTimelineMetadata(nodeFs, directory).then(
        () => assert.unreachable('read must fail'),
        (error) => assert.ok(isStrataError(error, 'PS_ERR_IO') && error.message.includes(path), String(error)),
      );
    }
  }));

test('a failed rewrite keeps the previous metadata', () =>
  withTempDirectory(async (directory) => {
    await writeTimelineMetadata(nodeFs, directory, metadata);
    await writeTimelineMetadata(faultyFs({ writeBytesBudget: 10 }), directory, { ...metadata, diskConsistentLsn: 1 }).then(
      () => assert.unreachable('write must fail'),
      () => undefined,
    );
    assert.equal(await readTimelineMetadata(nodeFs, directory), metadata);
  }));

test.run();
