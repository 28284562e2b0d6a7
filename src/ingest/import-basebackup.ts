/**
 * Imports a PostgreSQL 15 base backup into a timeline store at one LSN (the backup's start LSN):
 * relation files become page images plus sizes and directories, SLRU files (pg_xact,
 * pg_multixact/offsets, pg_multixact/members) become SLRU pages, global/pg_control becomes the
 * control-file key and the checkpoint key (its checkPointCopy), pg_filenode.map files become relmap
 * keys, pg_twophase files become two-phase keys. Everything else (configs, logs, stats, pg_wal…)
 * is skipped.
 *
 * Sources: the tar archives of BASE_BACKUP (main archive with tablespaceOid undefined, one archive
 * per tablespace whose paths are PG_15_<catversion>/<db>/<file>), or a plain data directory
 * (pg_basebackup -Fp). Both feed the same per-file sinks, streamed: a sink holds one page being
 * reassembled, or one small whole file.
 *
 * Into a LayeredTimelineStore the import goes straight to image layer files, in bounded memory
 * (import-target.ts, storage/image-import.ts): files arrive in directory order, not key order,
 * but each relation segment file is one contiguous key range no other file has, so a file of at
 * least `streamedFileBytesMin` (the size its tar header or the directory announces) streams into
 * image layer files of its own as it arrives. Smaller files, SLRU segments, whole small files and
 * the relation metadata written at the end go through a bounded external sort and are written at
 * commit, so a database of many small tables makes few files, not one per table. Any other store
 * (in-memory ones) gets every image as a put.
 *
 *   tar entries / directory files ──► open(path, size)
 *      relation file ≥ streamedFileBytesMin ──► target.openRange() ──► its own image layer files
 *      any other file ──────────────────────► target.addSmall()  ──► sorted, written at commit
 *   finish: MetadataCache (databases, forks and sizes, SLRU and two-phase directories)
 *           ──► target.addSmall(); target.commit() publishes every file at once
 *
 * Memory: per file one page (or one whole small file, at most SMALL_FILE_BYTES_MAX); the sort
 * buffer (limits.importSortBufferBytes); per relation fork and SLRU segment a size entry, as the
 * relation directories themselves hold one entry per relation. Not the database's bytes.
 *
 * Path → key (relation files may be split in 1 GiB segments: <relfilenode>[_fsm|_vm|_init][.N]):
 *   global/<rel>                       spc 1664, db 0
 *   base/<db>/<rel>                    spc 1663, db
 *   PG_15_*\/<db>/<rel> (tablespace)    spc = tablespace oid
 *   <dir>/pg_filenode.map              relmap key of that (spc, db)
 *   pg_twophase/<xid hex>              two-phase key (state data without its trailing CRC)
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import type { Logger } from '../observability/log.js';
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { CHECKPOINT_KEY, CONTROL_FILE_KEY, SlruKind, relBlockKey, relmapFileKey, slruBlockKey, twoPhaseFileKey, type RelTag } from '../keys.js';
import { limits } from '../limits.js';
import type { Lsn } from '../lsn.js';
import type { TimelineStore } from '../storage/types.js';
import { BLCKSZ } from '../wal/types.js';
import { CHECKPOINT_BYTES, CONTROL_FILE_CHECKPOINT_OFFSET } from '../wal/records/xlog.js';
import { MetadataCache } from './metadata-cache.js';
import { openImportTarget, type ImportTarget, type RangeTarget } from './import-target.js';
import { createFork } from './relation-ops.js';
import { readTar } from './tar.js';

export const GLOBAL_TABLESPACE_OID = 1664;
export const DEFAULT_TABLESPACE_OID = 1663;
/** RELSEG_SIZE: blocks per 1 GiB relation segment file. */
export const RELATION_SEGMENT_BLOCKS = 131072;
/** Whole-file entries (control file, relmap, two-phase state) larger than this are refused. */
export const SMALL_FILE_BYTES_MAX = 64 * 1024 * 1024;
const FORK_SUFFIXES: Record<string, number> = { '': 0, _fsm: 1, _vm: 2, _init: 3 };
const RELATION_FILE = /^(\d+)(_fsm|_vm|_init)?(?:\.(\d+))?$/;
const SLRU_DIRECTORIES: Record<string, SlruKind> = { pg_xact: SlruKind.Clog, 'pg_multixact/offsets': SlruKind.MultiXactOffsets, 'pg_multixact/members': SlruKind.MultiXactMembers };

export interface ImportSummary {
  files: number;
  relationForks: number;
  relationPages: number;
  slruPages: number;
  databases: number;
  twoPhaseFiles: number;
  skippedFiles: number;
  bytes: number;
  /** Relation files streamed into image layer files of their own. */
  streamedFiles: number;
  /** Image layer files written (0 when the store took puts). */
  imageLayerFiles: number;
  /** Sorted runs the small images spilled to (0 when they fitted the sort buffer). */
  spilledRuns: number;
}

export interface ImportOptions {
  lsn: Lsn;
  logger: Logger;
  /** Relation files at least this large stream into image layers of their own (default: limits). */
  streamedFileBytesMin?: number;
  /** Bytes of small images sorted in memory before a run spills (default: limits). */
  sortBufferBytes?: number;
}

type FileTarget =
  | { kind: 'relation'; tag: RelTag; segment: number }
  | { kind: 'slru'; slru: SlruKind; segment: number }
  | { kind: 'control' }
  | { kind: 'relmap'; spcNode: number; dbNode: number }
  | { kind: 'twoPhase'; xid: number };

interface Location { spcNode: number; dbNode: number; name: string }

/** Where a file of the main archive (tablespaceOid undefined) or of a tablespace archive lives. */
function locate(path: string, tablespaceOid: number | undefined): Location | undefined {
  const parts = path.split('/');
  if (tablespaceOid !== undefined) {
    if (parts.length !== 3 || !parts[0]!.startsWith('PG_') || !/^\d+$/.test(parts[1]!)) return undefined;
    return { spcNode: tablespaceOid, dbNode: Number(parts[1]), name: parts[2]! };
  }
  if (parts.length === 2 && parts[0] === 'global') return { spcNode: GLOBAL_TABLESPACE_OID, dbNode: 0, name: parts[1]! };
  if (parts.length === 3 && parts[0] === 'base' && /^\d+$/.test(parts[1]!)) return { spcNode: DEFAULT_TABLESPACE_OID, dbNode: Number(parts[1]), name: parts[2]! };
  return undefined;
}

/** Classifies a backup file path; undefined means skip. */
export function classifyBackupPath(rawPath: string, tablespaceOid: number | undefined): FileTarget | undefined {
  const path = rawPath.replace(/^\.\//, '');
  if (tablespaceOid === undefined) {
    if (path === 'global/pg_control') return { kind: 'control' };
    const slash = path.lastIndexOf('/');
    const slru = SLRU_DIRECTORIES[path.slice(0, slash)];
    const name = path.slice(slash + 1);
    if (slru !== undefined) return /^[0-9A-F]{4,6}$/.test(name) ? { kind: 'slru', slru, segment: parseInt(name, 16) } : undefined;
    if (path.startsWith('pg_twophase/')) return /^[0-9A-F]{8}$/.test(name) ? { kind: 'twoPhase', xid: parseInt(name, 16) } : undefined;
  }
  const location = locate(path, tablespaceOid);
  if (location === undefined) return undefined;
  if (location.name === 'pg_filenode.map') return { kind: 'relmap', spcNode: location.spcNode, dbNode: location.dbNode };
  const match = RELATION_FILE.exec(location.name);
  if (!match) return undefined;
  const tag = { spcNode: location.spcNode, dbNode: location.dbNode, relNode: Number(match[1]), forkNumber: FORK_SUFFIXES[match[2] ?? '']! };
  return { kind: 'relation', tag, segment: match[3] === undefined ? 0 : Number(match[3]) };
}

/** The database directory a path belongs to (so empty databases are imported too). */
function databaseOf(rawPath: string, tablespaceOid: number | undefined): { spcNode: number; dbNode: number } | undefined {
  const path = rawPath.replace(/^\.\//, '').replace(/\/$/, '');
  const parts = path.split('/');
  if (tablespaceOid !== undefined) return parts.length >= 2 && /^\d+$/.test(parts[1]!) ? { spcNode: tablespaceOid, dbNode: Number(parts[1]) } : undefined;
  if (parts[0] === 'global' && parts.length >= 1) return { spcNode: GLOBAL_TABLESPACE_OID, dbNode: 0 };
  if (parts[0] === 'base' && parts.length >= 2 && /^\d+$/.test(parts[1]!)) return { spcNode: DEFAULT_TABLESPACE_OID, dbNode: Number(parts[1]) };
  return undefined;
}

/** Collects one file's bytes and turns them into values. */
interface FileSink { write(bytes: Uint8Array): Promise<void>; end(): Promise<void> }

class Importer {
  readonly summary: ImportSummary = {
    files: 0, relationForks: 0, relationPages: 0, slruPages: 0, databases: 0, twoPhaseFiles: 0, skippedFiles: 0, bytes: 0,
    streamedFiles: 0, imageLayerFiles: 0, spilledRuns: 0,
  };
  private readonly forkSizes = new Map<string, { tag: RelTag; blocks: number }>();
  private readonly databases = new Map<string, { spcNode: number; dbNode: number }>();
  private readonly slruSegments = new Map<string, { slru: SlruKind; segment: number; blocks: number }>();
  private readonly twoPhaseXids = new Set<number>();
  private readonly streamedFileBytesMin: number;

  constructor(private readonly target: ImportTarget, private readonly options: ImportOptions) {
    this.streamedFileBytesMin = options.streamedFileBytesMin ?? limits.importStreamedFileBytesMin;
    assert(this.streamedFileBytesMin >= BLCKSZ, 'a streamed file holds at least one page');
  }

  noteDatabase(path: string, tablespaceOid: number | undefined): void {
    const database = databaseOf(path, tablespaceOid);
    if (database !== undefined) this.databases.set(`${database.spcNode}/${database.dbNode}`, database);
  }

  /** A sink for the file at `path` of `sizeBytes`, or undefined when the file is skipped. */
  open(path: string, tablespaceOid: number | undefined, sizeBytes: number): FileSink | undefined {
    this.noteDatabase(path, tablespaceOid);
    const target = classifyBackupPath(path, tablespaceOid);
    if (target === undefined) {
      this.summary.skippedFiles += 1;
      return undefined;
    }
    this.summary.files += 1;
    switch (target.kind) {
      case 'relation': return this.relationSink(target.tag, target.segment, sizeBytes >= this.streamedFileBytesMin);
      case 'slru': return this.slruSink(target.slru, target.segment);
      default: return this.wholeFileSink(path, (bytes) => this.putSmallFile(target, bytes));
    }
  }

  /**
   * Reassembles pages. `onPage` borrows the page (a view of the input, or of the one reassembly
   * buffer) until it returns, or until the promise it returns resolves: consumers copy what they
   * keep. It returns undefined when it took the page without waiting (the common case).
   */
  private pageSink(onPage: (pageIndex: number, page: Uint8Array) => Promise<void> | undefined, onEnd: (pages: number, trailingBytes: number) => Promise<void>): FileSink {
    const page = new Uint8Array(BLCKSZ);
    let fill = 0;
    let pages = 0;
    return {
      write: async (bytes) => {
        this.summary.bytes += bytes.length;
        let offset = 0;
        while (offset < bytes.length) {
          if (fill === 0 && bytes.length - offset >= BLCKSZ) {
            const waiting = onPage(pages++, bytes.subarray(offset, offset + BLCKSZ));
            if (waiting !== undefined) await waiting;
            offset += BLCKSZ;
            continue;
          }
          const take = Math.min(BLCKSZ - fill, bytes.length - offset);
          page.set(bytes.subarray(offset, offset + take), fill);
          fill += take;
          offset += take;
          if (fill === BLCKSZ) {
            const waiting = onPage(pages++, page);
            if (waiting !== undefined) await waiting;
            fill = 0;
          }
        }
      },
      end: () => onEnd(pages, fill),
    };
  }

  private relationSink(tag: RelTag, segment: number, streamed: boolean): FileSink {
    const firstBlock = segment * RELATION_SEGMENT_BLOCKS;
    let range: RangeTarget | undefined;
    if (streamed) {
      range = this.target.openRange();
      this.summary.streamedFiles += 1;
    }
    return this.pageSink(
      (index, page) => {
        const key = relBlockKey(tag, firstBlock + index);
        this.summary.relationPages += 1;
        if (range === undefined) return this.target.addSmall(key, page);
        return range.tryAdd(key, page) ? undefined : range.add(key, page);
      },
      async (pages, trailing) => {
        await range?.finish();
        if (trailing > 0) this.options.logger.warn({ tag, segment, trailing }, 'relation file ends with a partial page; ignored');
        const key = `${tag.spcNode}/${tag.dbNode}/${tag.relNode}/${tag.forkNumber}`;
        const known = this.forkSizes.get(key);
        this.forkSizes.set(key, { tag, blocks: Math.max(known?.blocks ?? 0, firstBlock + pages) });
      },
    );
  }

  private slruSink(slru: SlruKind, segment: number): FileSink {
    return this.pageSink(
      async (index, page) => {
        await this.target.addSmall(slruBlockKey(slru, segment, index), page);
        this.summary.slruPages += 1;
      },
      (pages) => {
        this.slruSegments.set(`${slru}/${segment}`, { slru, segment, blocks: pages });
        return Promise.resolve();
      },
    );
  }

  private wholeFileSink(path: string, onEnd: (bytes: Uint8Array) => Promise<void>): FileSink {
    const parts: Uint8Array[] = [];
    let total = 0;
    return {
      write: (bytes) => {
        total += bytes.length;
        this.summary.bytes += bytes.length;
        if (total > SMALL_FILE_BYTES_MAX) throw new StrataError('PS_ERR_BAD_REQUEST', `backup file ${path} is larger than ${SMALL_FILE_BYTES_MAX} bytes`);
        parts.push(bytes.slice());
        return Promise.resolve();
      },
      end: () => onEnd(Buffer.concat(parts)),
    };
  }

  private async putSmallFile(target: FileTarget, bytes: Uint8Array): Promise<void> {
    if (target.kind === 'control') {
      if (bytes.length < CONTROL_FILE_CHECKPOINT_OFFSET + CHECKPOINT_BYTES) throw new StrataError('PS_ERR_BAD_REQUEST', 'pg_control is too short');
      await this.target.addSmall(CONTROL_FILE_KEY, bytes);
      await this.target.addSmall(CHECKPOINT_KEY, bytes.subarray(CONTROL_FILE_CHECKPOINT_OFFSET, CONTROL_FILE_CHECKPOINT_OFFSET + CHECKPOINT_BYTES));
    } else if (target.kind === 'relmap') {
      await this.target.addSmall(relmapFileKey(target.spcNode, target.dbNode), bytes);
    } else if (target.kind === 'twoPhase') {
      // The on-disk state file ends with a CRC-32C; Strata stores the state data as the WAL carries it.
      assert(bytes.length >= 4, 'a two-phase state file holds at least its CRC');
      await this.target.addSmall(twoPhaseFileKey(target.xid), bytes.subarray(0, bytes.length - 4));
      this.twoPhaseXids.add(target.xid);
      this.summary.twoPhaseFiles += 1;
    }
  }

  /** Writes directories and sizes at the import LSN, then makes the import visible. */
  async finish(): Promise<ImportSummary> {
    const cache = new MetadataCache(this.target.metadataStore, this.options.lsn);
    for (const database of this.databases.values()) await cache.addDatabase(database.spcNode, database.dbNode);
    for (const { tag, blocks } of this.forkSizes.values()) await createFork(cache, tag, blocks);
    for (const { slru, segment, blocks } of this.slruSegments.values()) {
      (await cache.slruDir(slru)).add(segment);
      cache.touchSlruDir(slru);
      cache.setSlruSegmentSize(slru, segment, blocks);
    }
    const xids = await cache.twoPhaseXids();
    for (const xid of this.twoPhaseXids) xids.add(xid);
    cache.touchTwoPhaseDir();
    cache.flush(this.options.lsn);
    const committed = await this.target.commit();
    this.summary.imageLayerFiles = committed.imageLayerFiles;
    this.summary.spilledRuns = committed.spilledRuns;
    this.summary.relationForks = this.forkSizes.size;
    this.summary.databases = this.databases.size;
    return this.summary;
  }
}

/** Runs an import into `store` through its target; on failure the target removes what it wrote. */
async function runImport(store: TimelineStore, options: ImportOptions, feed: (importer: Importer) => Promise<void>): Promise<ImportSummary> {
  assert(options.lsn > 0, 'the import LSN must be valid');
  const target = await openImportTarget(store, options.lsn, options.sortBufferBytes === undefined ? {} : { sortBufferBytes: options.sortBufferBytes });
  try {
    const importer = new Importer(target, options);
    await feed(importer);
    return await importer.finish();
  } catch (error) {
    await target.abort();
    throw error;
  }
}

/** Imports BASE_BACKUP tar archives (one per tablespace). */
export async function importBaseBackup(
  store: TimelineStore,
  archives: AsyncIterable<{ tablespaceOid: number | undefined; chunks: AsyncIterable<Uint8Array> }>,
  options: ImportOptions,
): Promise<ImportSummary> {
  const summary = await runImport(store, options, async (importer) => {
    for await (const archive of archives) {
      let sink: FileSink | undefined;
      for await (const event of readTar(archive.chunks)) {
        if (event.kind === 'entry') {
          if (event.entry.type === 'directory') importer.noteDatabase(event.entry.path, archive.tablespaceOid);
          sink = event.entry.type === 'file' ? importer.open(event.entry.path, archive.tablespaceOid, event.entry.size) : undefined;
        } else if (event.kind === 'data') await sink?.write(event.bytes);
        else {
          await sink?.end();
          sink = undefined;
        }
      }
    }
  });
  options.logger.info({ ...summary, lsn: options.lsn }, 'imported base backup');
  return summary;
}

/** Imports a plain data directory (pg_basebackup -Fp); tablespaces are followed through pg_tblspc links. */
export async function importBaseBackupDirectory(store: TimelineStore, dataDirectory: string, options: ImportOptions): Promise<ImportSummary> {
  const summary = await runImport(store, options, async (importer) => {
    await importTree(importer, resolve(dataDirectory), undefined);
    const tablespaceLinks = join(dataDirectory, 'pg_tblspc');
    for (const name of await readdir(tablespaceLinks).catch(() => [] as string[])) {
      if (!/^\d+$/.test(name)) continue;
      const link = join(tablespaceLinks, name);
      const target = (await lstat(link)).isSymbolicLink() ? await realpath(resolve(tablespaceLinks, await readlink(link))) : link;
      await importTree(importer, target, Number(name));
    }
  });
  options.logger.info({ ...summary, lsn: options.lsn }, 'imported base backup directory');
  return summary;
}

/** Walks a directory tree iteratively (no recursion), streaming each regular file into its sink. */
async function importTree(importer: Importer, root: string, tablespaceOid: number | undefined): Promise<void> {
  const pending = [root];
  while (pending.length > 0) {
    const directory = pending.pop()!;
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      const path = join(directory, entry.name);
      const relativePath = relative(root, path);
      if (entry.isDirectory()) {
        if (tablespaceOid === undefined && relativePath === 'pg_tblspc') continue;
        importer.noteDatabase(relativePath, tablespaceOid);
        pending.push(path);
        continue;
      }
      if (!entry.isFile()) continue;
      const sink = importer.open(relativePath, tablespaceOid, (await stat(path)).size);
      if (sink === undefined) continue;
      for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) await sink.write(chunk as Buffer);
      await sink.end();
    }
  }
}
