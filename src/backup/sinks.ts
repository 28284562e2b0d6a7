/**
 * Where a full backup's files go: a data directory on this machine (computes, `strata fullbackup
 * -D`), or a tar stream (the HTTP endpoint, the page service's fullbackup/basebackup, `-o x.tar`).
 *
 * WHY both check sizes: a backup announces each file's size before its bytes (tar headers need
 * it); a writer that delivers a different count is a bug that would corrupt the stream, so it is
 * asserted, not tolerated.
 *
 * Directory backups are not fsynced file by file: a data directory that loses files in a machine
 * crash is written again from Strata (it is a cache of a timeline's state, not the state). The
 * server's fsync at its own checkpoint covers the rest.
 */
import { mkdir, open, readdir, symlink, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import type { BackupFileWriter, BackupSink } from './fullbackup.js';
import { TAR_END, tarHeader, tarPadding } from './tar-writer.js';

const DIRECTORY_MODE = 0o700;
const FILE_MODE = 0o600;

class CountingWriter implements BackupFileWriter {
  #written = 0;

  constructor(
    private readonly path: string,
    private readonly size: number,
    private readonly sinkWrite: (bytes: Uint8Array) => Promise<void>,
    private readonly onClose: () => Promise<void>,
  ) {}

  async write(bytes: Uint8Array): Promise<void> {
    this.#written += bytes.length;
    assert(this.#written <= this.size, `backup file ${this.path} gets more bytes than announced`);
    await this.sinkWrite(bytes);
  }

  async close(): Promise<void> {
    assert(this.#written === this.size, `backup file ${this.path} got ${this.#written} of ${this.size} bytes`);
    await this.onClose();
  }
}

/** Writes into `root`, which must not exist or be empty. */
export class DirectoryBackupSink implements BackupSink {
  #checked = false;

  constructor(private readonly root: string) {
    assert(isAbsolute(root), 'a backup directory is an absolute path');
  }

  async #prepare(): Promise<void> {
    if (this.#checked) return;
    this.#checked = true;
    await mkdir(this.root, { recursive: true, mode: DIRECTORY_MODE });
    if ((await readdir(this.root)).length > 0) {
      throw new StrataError('PS_ERR_CONFLICT', `backup directory ${this.root} is not empty`, { directory: this.root });
    }
  }

  async directory(path: string): Promise<void> {
    await this.#prepare();
    await mkdir(join(this.root, path), { recursive: true, mode: DIRECTORY_MODE });
  }

  async file(path: string, size: number): Promise<BackupFileWriter> {
    await this.#prepare();
    return this.#openFile(join(this.root, path), path, size);
  }

  async symlink(path: string, target: string): Promise<void> {
    await this.#prepare();
    await mkdir(dirname(join(this.root, path)), { recursive: true, mode: DIRECTORY_MODE });
    await symlink(target, join(this.root, path));
  }

  async externalDirectory(absolutePath: string): Promise<void> {
    assert(isAbsolute(absolutePath), 'a tablespace mapping is an absolute path');
    await mkdir(absolutePath, { recursive: true, mode: DIRECTORY_MODE });
  }

  externalFile(absolutePath: string, size: number): Promise<BackupFileWriter> {
    assert(isAbsolute(absolutePath), 'a tablespace mapping is an absolute path');
    return this.#openFile(absolutePath, absolutePath, size);
  }

  async #openFile(fullPath: string, name: string, size: number): Promise<BackupFileWriter> {
    let handle: FileHandle;
    try {
      handle = await open(fullPath, 'wx', FILE_MODE);
    } catch (error) {
      throw new StrataError('PS_ERR_IO', `cannot create backup file ${fullPath}: ${error instanceof Error ? error.message : String(error)}`);
    }
    return new CountingWriter(name, size, async (bytes) => { await handle.write(bytes); }, () => handle.close());
  }

  async finish(): Promise<void> {
    await this.#prepare();
  }
}

/**
 * Writes a ustar stream through `write`, which resolves when the consumer can take more (the
 * HTTP response's or the socket's back-pressure). The stream ends with the two zero blocks.
 */
export class TarBackupSink implements BackupSink {
  readonly #mtime: number;

  constructor(private readonly write: (bytes: Uint8Array) => Promise<void>, options: { mtimeSeconds?: number } = {}) {
    this.#mtime = options.mtimeSeconds ?? Math.floor(Date.now() / 1000);
  }

  directory(path: string): Promise<void> {
    return this.write(tarHeader({ name: `${path}/`, size: 0, mode: DIRECTORY_MODE, mtime: this.#mtime, type: 'directory' }));
  }

  async file(path: string, size: number): Promise<BackupFileWriter> {
    await this.write(tarHeader({ name: path, size, mode: FILE_MODE, mtime: this.#mtime, type: 'file' }));
    return new CountingWriter(path, size, this.write, async () => {
      const padding = tarPadding(size);
      if (padding.length > 0) await this.write(padding);
    });
  }

  symlink(path: string, target: string): Promise<void> {
    return this.write(tarHeader({ name: path, size: 0, mode: 0o777, mtime: this.#mtime, type: 'symlink', linkname: target }));
  }

  finish(): Promise<void> {
    return this.write(TAR_END);
  }
}
