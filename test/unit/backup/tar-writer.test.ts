// The ustar writer against GNU tar: the same entries archived by `tar --format=ustar
// --numeric-owner` are the same bytes (GNU then pads its archive to a 10 KiB record with zeros);
// GNU tar lists and extracts the writer's archive; Strata's own reader (src/ingest/tar.ts) reads
// it back; long paths use the prefix field, and paths ustar cannot hold are coded errors.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TAR_BLOCK_BYTES, TAR_END, tarHeader, tarPadding, type TarHeaderOptions } from '../../../src/backup/tar-writer.js';
import { isStrataError } from '../../../src/errors.js';
import { readTar, type TarEntry } from '../../../src/ingest/tar.js';

const execFileAsync = promisify(execFile);
const MTIME = 1_700_000_000;
const HELLO = Buffer.from('hello\n');
const LONG_DIRECTORY = `${'a'.repeat(60)}/${'b'.repeat(60)}`;
const LONG_FILE = `${LONG_DIRECTORY}/c.txt`;
const BIG = Buffer.alloc(1000, 0x5a);

interface Entry { header: TarHeaderOptions; content?: Uint8Array }

const entries: Entry[] = [
  { header: { name: 'dir', size: 0, mode: 0o755, mtime: MTIME, type: 'directory' } },
  { header: { name: 'dir/f.txt', size: HELLO.length, mode: 0o644, mtime: MTIME, type: 'file' }, content: HELLO },
  { header: { name: 'dir/link', size: 0, mode: 0o777, mtime: MTIME, type: 'symlink', linkname: 'f.txt' } },
  { header: { name: 'dir/big', size: BIG.length, mode: 0o600, mtime: MTIME, type: 'file' }, content: BIG },
  { header: { name: LONG_FILE, size: 0, mode: 0o600, mtime: MTIME, type: 'file' }, content: new Uint8Array(0) },
];

function archive(): Buffer {
  const parts: Uint8Array[] = [];
  for (const { header, content } of entries) {
    parts.push(tarHeader(header));
    if (content !== undefined) parts.push(content, tarPadding(content.length));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

/** The same tree on disk, for GNU tar. */
async function makeTree(root: string): Promise<void> {
  await mkdir(join(root, 'dir'));
  await writeFile(join(root, 'dir/f.txt'), HELLO);
  await symlink('f.txt', join(root, 'dir/link'));
  await writeFile(join(root, 'dir/big'), BIG);
  await mkdir(join(root, LONG_DIRECTORY), { recursive: true });
  await writeFile(join(root, LONG_FILE), '');
  await chmod(join(root, 'dir'), 0o755);
  await chmod(join(root, 'dir/f.txt'), 0o644);
  await chmod(join(root, 'dir/big'), 0o600);
  await chmod(join(root, LONG_FILE), 0o600);
}

test('byte for byte what GNU tar --format=ustar writes for the same entries', async () => {
  const root = await mkdtemp(join(tmpdir(), 'strata-tar-'));
  try {
    await makeTree(join(root));
    const names = entries.map((entry) => entry.header.name);
    await execFileAsync('tar', ['--format=ustar', '--numeric-owner', '--owner=0', '--group=0', `--mtime=@${MTIME}`, '--no-recursion',
      '-cf', join(root, 'gnu.tar'), '-C', root, ...names]);
    const gnu = await readFile(join(root, 'gnu.tar'));
    const ours = archive();
    for (let offset = 0; offset < ours.length; offset += TAR_BLOCK_BYTES) {
      assert.is(ours.subarray(offset, offset + TAR_BLOCK_BYTES).toString('hex'), gnu.subarray(offset, offset + TAR_BLOCK_BYTES).toString('hex'), `block at ${offset}`);
    }
    assert.ok(gnu.subarray(ours.length).every((byte) => byte === 0), 'GNU only pads its record with zeros');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('GNU tar lists and extracts the archive', async () => {
  const root = await mkdtemp(join(tmpdir(), 'strata-tar-'));
  try {
    await writeFile(join(root, 'ours.tar'), archive());
    const { stdout } = await execFileAsync('tar', ['-tvf', join(root, 'ours.tar'), '--numeric-owner']);
    const lines = stdout.trim().split('\n');
    assert.is(lines.length, entries.length);
    assert.match(lines[0]!, /^drwxr-xr-x 0\/0\s+0 2023-11-14 \d\d:\d\d dir\/$/);
    assert.match(lines[1]!, /^-rw-r--r-- 0\/0\s+6 .* dir\/f\.txt$/);
    assert.match(lines[2]!, /^lrwxrwxrwx 0\/0\s+0 .* dir\/link -> f\.txt$/);
    assert.match(lines[4]!, new RegExp(`${LONG_FILE}$`));
    await mkdir(join(root, 'out'));
    await execFileAsync('tar', ['-xf', join(root, 'ours.tar'), '-C', join(root, 'out')]);
    assert.equal(await readFile(join(root, 'out/dir/f.txt')), HELLO);
    assert.equal(await readFile(join(root, 'out/dir/big')), BIG);
    assert.is(await readlink(join(root, 'out/dir/link')), 'f.txt');
    assert.is((await readFile(join(root, 'out', LONG_FILE))).length, 0);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('Strata\'s tar reader reads the archive back, in any chunking', async () => {
  const bytes = archive();
  for (const chunkSize of [bytes.length, 512, 100, 7]) {
    async function* chunks() {
      for (let offset = 0; offset < bytes.length; offset += chunkSize) yield bytes.subarray(offset, offset + chunkSize);
    }
    const read: Array<{ entry: TarEntry; data: Buffer }> = [];
    let data: Uint8Array[] = [];
    for await (const event of readTar(chunks())) {
      if (event.kind === 'entry') data = [];
      else if (event.kind === 'data') data.push(event.bytes.slice());
      else read.push({ entry: event.entry, data: Buffer.concat(data) });
    }
    assert.equal(read.map(({ entry }) => [entry.path, entry.type, entry.size, entry.mode, entry.linkName]), [
      ['dir/', 'directory', 0, 0o755, ''], ['dir/f.txt', 'file', 6, 0o644, ''], ['dir/link', 'symlink', 0, 0o777, 'f.txt'],
      ['dir/big', 'file', 1000, 0o600, ''], [LONG_FILE, 'file', 0, 0o600, ''],
    ], `chunks of ${chunkSize}`);
    assert.equal(read[1]!.data, HELLO);
    assert.equal(read[3]!.data, BIG);
  }
});

test('long paths: prefix and name split at a slash; a path ustar cannot hold is PS_ERR_BAD_REQUEST', () => {
  const header = tarHeader({ name: LONG_FILE, size: 0, mode: 0o600, mtime: MTIME, type: 'file' });
  const text = (offset: number, length: number) => Buffer.from(header.subarray(offset, offset + length)).toString('latin1').replace(/\0+$/, '');
  assert.is(text(345, 155), LONG_DIRECTORY, 'the longest prefix, as GNU tar');
  assert.is(text(0, 100), 'c.txt');
  const exactly100 = 'x'.repeat(100);
  assert.is(Buffer.from(tarHeader({ name: exactly100, size: 0, mode: 0o600, mtime: MTIME, type: 'file' }).subarray(0, 100)).toString('latin1'), exactly100);
  const unsplittable = [
    'y'.repeat(101), // no slash
    `${'p'.repeat(10)}/${'q'.repeat(101)}`, // the name part alone is too long
    `${'p'.repeat(156)}/${'q'.repeat(10)}`, // the prefix alone is too long
    `${'d/'.repeat(130)}f`, // 261 bytes
  ];
  for (const name of unsplittable) {
    try {
      tarHeader({ name, size: 0, mode: 0o600, mtime: MTIME, type: 'file' });
      assert.unreachable(`${name.length} bytes must not fit`);
    } catch (error) {
      assert.ok(isStrataError(error, 'PS_ERR_BAD_REQUEST'), String(error));
    }
  }
  try {
    tarHeader({ name: 'huge', size: 8 ** 11, mode: 0o600, mtime: MTIME, type: 'file' });
    assert.unreachable('8 GiB does not fit 11 octal digits');
  } catch (error) {
    assert.ok(isStrataError(error, 'PS_ERR_BAD_REQUEST'), String(error));
  }
});

test('padding and the end marker', () => {
  assert.is(tarPadding(0).length, 0);
  assert.is(tarPadding(1).length, 511);
  assert.is(tarPadding(512).length, 0);
  assert.is(tarPadding(8192 * 3 + 5).length, 507);
  assert.is(TAR_END.length, 1024);
  assert.ok(TAR_END.every((byte) => byte === 0));
});

test.run();
