// The streaming tar reader against archives made by GNU tar (ustar and pax, long names, empty
// files, directories, symlinks), fed whole and in tiny random chunks; and a corrupt header.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readTar, type TarEntry } from '../../../src/ingest/tar.js';

function makeTree(): string {
  const root = mkdtempSync(join(tmpdir(), 'strata-tar-'));
  mkdirSync(join(root, 'base', '5'), { recursive: true });
  writeFileSync(join(root, 'base', '5', '16384'), Buffer.alloc(8192 * 3, 7));
  writeFileSync(join(root, 'base', '5', 'empty'), Buffer.alloc(0));
  const longDirectory = join(root, 'a'.repeat(60), 'b'.repeat(60));
  mkdirSync(longDirectory, { recursive: true });
  writeFileSync(join(longDirectory, 'c'.repeat(80)), 'long name content');
  symlinkSync('/nowhere', join(root, 'link'));
  return root;
}

async function* chunked(bytes: Uint8Array, seed: number): AsyncGenerator<Uint8Array> {
  let state = seed;
  for (let offset = 0; offset < bytes.length;) {
    state = (state * 1103515245 + 12345) >>> 0;
    const length = 1 + (state % 700);
    yield bytes.subarray(offset, offset + length);
    offset += length;
  }
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Map<string, { entry: TarEntry; content: Buffer }>> {
  const files = new Map<string, { entry: TarEntry; content: Buffer }>();
  let current: { entry: TarEntry; parts: Uint8Array[] } | undefined;
  for await (const event of readTar(chunks)) {
    if (event.kind === 'entry') current = { entry: event.entry, parts: [] };
    else if (event.kind === 'data') current!.parts.push(Buffer.from(event.bytes));
    else {
      assert.is(event.entry, current!.entry);
      files.set(current!.entry.path.replace(/\/$/, ''), { entry: current!.entry, content: Buffer.concat(current!.parts) });
    }
  }
  return files;
}

for (const format of ['ustar', 'pax', 'gnu']) {
  test(`${format} archive: paths, sizes, types and contents, whole and in random chunks`, async () => {
    const root = makeTree();
    try {
      const archive = execFileSync('tar', ['-C', root, `--format=${format}`, '-cf', '-', '.'], { maxBuffer: 1 << 26 });
      const whole = await collect((async function* () { yield archive; })());
      const pieces = await collect(chunked(archive, 42));
      for (const files of [whole, pieces]) {
        assert.equal([...files.get('./base/5/16384')!.content], [...readFileSync(join(root, 'base', '5', '16384'))]);
        assert.is(files.get('./base/5/empty')!.entry.size, 0);
        const longPath = `./${'a'.repeat(60)}/${'b'.repeat(60)}/${'c'.repeat(80)}`;
        assert.is(files.get(longPath)?.content.toString(), 'long name content');
        assert.is(files.get('./link')!.entry.type, 'symlink');
        assert.is(files.get('./link')!.entry.linkName, '/nowhere');
        assert.is(files.get('./base')!.entry.type, 'directory');
      }
      assert.is(whole.size, pieces.size);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
}

test('a corrupted header checksum is a protocol error', async () => {
  const root = makeTree();
  try {
    const archive = Buffer.from(execFileSync('tar', ['-C', root, '--format=ustar', '-cf', '-', 'base'], { maxBuffer: 1 << 26 }));
    archive[10] = archive[10]! ^ 0xff;
    await collect((async function* () { yield archive; })()).then(
      () => assert.unreachable('must throw'),
      (error: Error) => assert.match(error.message, /checksum/),
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
