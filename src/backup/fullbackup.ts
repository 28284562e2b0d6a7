/**
 * A full backup of a timeline at LSN X: the files of a PostgreSQL 15 data directory that a stock
 * `postgres` starts from as if it had shut down cleanly at X.
 *
 * WHY "as if shut down cleanly": Strata holds every page at every LSN, but no WAL a server could
 * replay. So the backup is not "a base backup plus WAL to reach X" (pg_basebackup's) but the end
 * state itself: every relation page reconstructed at X (pd_lsn as PostgreSQL's redo leaves it),
 * the SLRUs, relation maps, prepared transactions, and a synthesized pg_control whose latest
 * checkpoint is a shutdown checkpoint record Strata writes into the one WAL segment of the backup
 * (`pg-files.ts`). PostgreSQL reads that record, finds nothing to redo, and starts.
 *
 *   manifest at X (one hop) ──► directories, PG_VERSION, config files
 *                          ──► per database: PG_VERSION + pg_filenode.map (where it has a map)
 *                          ──► every relation fork: pages at X in runs of ≤ 32 pages (a run may
 *                              span several small forks), `depth` runs in flight, written in
 *                              order, cut into 1 GiB segment files
 *                          ──► SLRU segments, pg_twophase/<XID> (+ CRC-32C)
 *                          ──► pg_wal/<segment> with the checkpoint record at L ≥ X
 *                          ──► global/pg_control last: an interrupted backup has none and never
 *                              starts
 *
 * Unlogged relations come back as crash recovery leaves them (ResetUnloggedRelations): the init
 * fork, and a main fork that is a copy of it; their other forks are left out. (Only the init fork is
 * WAL-logged, so Strata never has their data; a clean start would not reset them itself.)
 *
 * User tablespaces go inside the data directory (pg_tblspc/<oid> as a directory, PostgreSQL 15's
 * in-place tablespace) or, in a directory backup, under a mapped directory with a symlink, as
 * `pg_basebackup --tablespace-mapping` does; never at the primary's path.
 *
 * Memory: at most `depth` runs of pages (8 × 256 KiB) plus one WAL segment; never the database.
 * The source and the sink are interfaces: the tenant manager and a directory or tar stream in the
 * server, stand-ins in tests.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { SlruKind, type RelTag } from '../keys.js';
import { formatLsn, type Lsn } from '../lsn.js';
import type { BackupManifest, ManifestRelation, PageRun } from './types.js';
import { crc32c } from '../wal/crc32c.js';
import { BLCKSZ } from '../wal/types.js';
import { buildPgFiles, controlFileSettings } from './pg-files.js';

/** Where the pages come from (the tenant manager, across threads; a store in tests). */
export interface BackupSource {
  manifest(lsn: Lsn | undefined): Promise<BackupManifest>;
  /** Runs of consecutive pages at `lsn` (≤ PAGES_PER_RUN in all), concatenated. */
  readPageRuns(runs: readonly PageRun[], lsn: Lsn): Promise<Uint8Array>;
  readSlruSegment(kind: SlruKind, segment: number, lsn: Lsn): Promise<Uint8Array>;
}

/** Where the files go: a directory, or a tar stream. Paths are relative, '/'-separated. */
export interface BackupSink {
  directory(path: string): Promise<void>;
  /** A file of exactly `size` bytes, written by the returned writer in order. */
  file(path: string, size: number): Promise<BackupFileWriter>;
  /** pg_tblspc/<oid> → a mapped tablespace directory (directory sinks only). */
  symlink(path: string, target: string): Promise<void>;
  /** A directory outside the data directory (a tablespace mapping target), made if missing. */
  externalDirectory?(absolutePath: string): Promise<void>;
  /** A file under a mapped tablespace directory (absolute path). */
  externalFile?(absolutePath: string, size: number): Promise<BackupFileWriter>;
  finish(): Promise<void>;
}

export interface BackupFileWriter {
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export interface FullbackupBuildOptions {
  lsn?: Lsn | undefined;
  tablespaceMapping?: ReadonlyMap<number, string> | undefined;
  /** Page runs read ahead of the writer. */
  depth?: number;
  /** Seconds since 1970 for pg_control and the checkpoint (injected: tests pin it). */
  nowSeconds?: number;
  /** Pages a read asks for at most: 32 when pages cross threads (one ring-sized message), more when they do not. */
  pagesPerRun?: number;
  /** Blocks per relation segment file: PostgreSQL's RELSEG_SIZE, 131072 (1 GiB); tests shrink it. */
  segmentBlocks?: number;
}

export interface FullbackupSummary {
  lsn: Lsn;
  checkpointLsn: Lsn;
  files: number;
  bytes: number;
  relationPages: number;
}

export const GLOBAL_TABLESPACE_OID = 1664;
export const DEFAULT_TABLESPACE_OID = 1663;
const FORK_MAIN = 0;
const FORK_INIT = 3;
const FORK_SUFFIX = ['', '_fsm', '_vm', '_init'] as const;
/** RELSEG_SIZE: blocks per relation segment file (1 GiB). */
const BLOCKS_PER_SEGMENT = 131_072;
const PAGES_PER_RUN = 32;
const DEPTH_DEFAULT = 8;
const PG_VERSION = '15\n';
const SLRU_DIRECTORIES: Record<SlruKind, string> = {
  [SlruKind.Clog]: 'pg_xact',
  [SlruKind.MultiXactMembers]: 'pg_multixact/members',
  [SlruKind.MultiXactOffsets]: 'pg_multixact/offsets',
};

/** Every directory initdb makes that a server expects to find (and some it would make itself). */
const DATA_DIRECTORIES = [
  'base', 'global', 'pg_commit_ts', 'pg_dynshmem', 'pg_logical', 'pg_logical/mappings', 'pg_logical/snapshots',
  'pg_multixact', 'pg_multixact/members', 'pg_multixact/offsets', 'pg_notify', 'pg_replslot', 'pg_serial',
  'pg_snapshots', 'pg_stat', 'pg_stat_tmp', 'pg_subtrans', 'pg_tblspc', 'pg_twophase', 'pg_wal',
  'pg_wal/archive_status', 'pg_xact',
] as const;

const encoder = new TextEncoder();

/** Path of a database directory (or of `global`) inside the data directory. */
function databasePath(spcNode: number, dbNode: number, catalogVersion: number): string {
  if (spcNode === GLOBAL_TABLESPACE_OID) return 'global';
  if (spcNode === DEFAULT_TABLESPACE_OID) return `base/${dbNode}`;
  return `${tablespaceVersionPath(spcNode, catalogVersion)}/${dbNode}`;
}

/** TABLESPACE_VERSION_DIRECTORY under pg_tblspc/<oid>. */
function tablespaceVersionPath(spcNode: number, catalogVersion: number): string {
  return `pg_tblspc/${spcNode}/PG_15_${catalogVersion}`;
}

function relationFileName(relNode: number, forkNumber: number, segment: number): string {
  return `${relNode}${FORK_SUFFIX[forkNumber]}${segment === 0 ? '' : `.${segment}`}`;
}

function slruFileName(segment: number): string {
  return segment.toString(16).toUpperCase().padStart(4, '0');
}

export async function buildFullbackup(source: BackupSource, sink: BackupSink, options: FullbackupBuildOptions = {}): Promise<FullbackupSummary> {
  const manifest = await source.manifest(options.lsn);
  if (manifest.controlFile === undefined || manifest.checkpoint === undefined) {
    throw new StrataError('PS_ERR_CONFLICT',
      `the timeline has no pg_control or checkpoint at ${formatLsn(manifest.lsn)}: it was not created from a base backup, so no server can start from it`);
  }
  const pgFiles = buildPgFiles({
    controlFile: manifest.controlFile,
    checkpoint: manifest.checkpoint,
    lsn: manifest.lsn,
    nowSeconds: options.nowSeconds ?? Math.floor(Date.now() / 1000),
  });
  const writer = new BackupWriter(source, sink, manifest.lsn, options.depth ?? DEPTH_DEFAULT, options.pagesPerRun ?? PAGES_PER_RUN);

  for (const directory of DATA_DIRECTORIES) await sink.directory(directory);
  await writer.text('PG_VERSION', PG_VERSION);
  await writer.text('postgresql.conf', postgresqlConf(manifest.controlFile));
  await writer.text('postgresql.auto.conf', '# Do not edit this file manually!\n# It will be overwritten by the ALTER SYSTEM command.\n');
  await writer.text('pg_hba.conf', PG_HBA_CONF);
  await writer.text('pg_ident.conf', '# MAPNAME       SYSTEM-USERNAME         PG-USERNAME\n');

  // Tablespaces: every one that holds a database directory.
  const tablespaces = new Set(manifest.databases.map((db) => db.spcNode).filter((spc) => spc !== GLOBAL_TABLESPACE_OID && spc !== DEFAULT_TABLESPACE_OID));
  const mapping = options.tablespaceMapping ?? new Map<number, string>();
  for (const spcNode of [...tablespaces].sort((a, b) => a - b)) {
    const mapped = mapping.get(spcNode);
    if (mapped === undefined) {
      await sink.directory(`pg_tblspc/${spcNode}`);
      await sink.directory(tablespaceVersionPath(spcNode, pgFiles.catalogVersion));
    } else {
      if (sink.externalDirectory === undefined) throw new StrataError('PS_ERR_BAD_REQUEST', 'tablespace mapping needs a directory backup, not a tar stream');
      await sink.externalDirectory(mapped);
      await sink.externalDirectory(`${mapped}/PG_15_${pgFiles.catalogVersion}`);
      await sink.symlink(`pg_tblspc/${spcNode}`, mapped);
    }
  }
  const placeOf = (spcNode: number, dbNode: number): { path: string; external: boolean } => {
    const mapped = mapping.get(spcNode);
    if (mapped !== undefined && spcNode !== GLOBAL_TABLESPACE_OID && spcNode !== DEFAULT_TABLESPACE_OID) {
      return { path: `${mapped}/PG_15_${pgFiles.catalogVersion}/${dbNode}`, external: true };
    }
    return { path: databasePath(spcNode, dbNode, pgFiles.catalogVersion), external: false };
  };

  for (const db of manifest.databases) {
    const place = placeOf(db.spcNode, db.dbNode);
    if (db.spcNode !== GLOBAL_TABLESPACE_OID) await writer.directory(place.path, place.external);
    if (db.relmap === undefined) continue;
    // A database's default tablespace directory holds its map and PG_VERSION (ValidatePgVersion).
    if (db.spcNode !== GLOBAL_TABLESPACE_OID) await writer.bytes(`${place.path}/PG_VERSION`, encoder.encode(PG_VERSION), place.external);
    await writer.bytes(`${place.path}/pg_filenode.map`, db.relmap, place.external);
  }

  const files: RelationFile[] = [];
  for (const group of unloggedAware(manifest.relations)) {
    const place = placeOf(group.rel.spcNode, group.rel.dbNode);
    files.push(...relationFiles(place.path, group.rel, group.fileFork, place.external, options.segmentBlocks ?? BLOCKS_PER_SEGMENT));
  }
  await writer.relationFiles(files);

  for (const slru of manifest.slruSegments) {
    const bytes = await source.readSlruSegment(slru.kind, slru.segment, manifest.lsn);
    assert(bytes.length === slru.blocks * BLCKSZ, 'an SLRU segment read has the size the manifest gave');
    await writer.bytes(`${SLRU_DIRECTORIES[slru.kind]}/${slruFileName(slru.segment)}`, bytes);
  }

  for (const { xid, state } of manifest.twoPhase) {
    // The state file is the PREPARE record's data followed by its CRC-32C (RecreateTwoPhaseFile).
    const file = new Uint8Array(state.length + 4);
    file.set(state);
    new DataView(file.buffer).setUint32(state.length, crc32c(state, 0, state.length), true);
    await writer.bytes(`pg_twophase/${xid.toString(16).toUpperCase().padStart(8, '0')}`, file);
  }

  await writer.bytes(`pg_wal/${pgFiles.walSegmentName}`, pgFiles.walSegment);
  await writer.bytes('global/pg_control', pgFiles.controlFile);
  await sink.finish();
  return { lsn: manifest.lsn, checkpointLsn: pgFiles.checkpointLsn, files: writer.files, bytes: writer.totalBytes, relationPages: writer.relationPages };
}

/**
 * The relation forks to write, with unlogged relations as crash recovery leaves them: for a
 * relation with an init fork, only the init fork and a main fork copied from it.
 */
function* unloggedAware(relations: readonly ManifestRelation[]): Generator<{ rel: ManifestRelation; fileFork: number }> {
  const unlogged = new Set<string>();
  const id = (rel: RelTag) => `${rel.spcNode}/${rel.dbNode}/${rel.relNode}`;
  for (const rel of relations) if (rel.forkNumber === FORK_INIT) unlogged.add(id(rel));
  for (const rel of relations) {
    if (!unlogged.has(id(rel))) {
      yield { rel, fileFork: rel.forkNumber };
    } else if (rel.forkNumber === FORK_INIT) {
      yield { rel, fileFork: FORK_INIT };
      yield { rel, fileFork: FORK_MAIN };
    }
  }
}

class BackupWriter {
  files = 0;
  totalBytes = 0;
  relationPages = 0;

  constructor(
    private readonly source: BackupSource,
    private readonly sink: BackupSink,
    private readonly lsn: Lsn,
    private readonly depth: number,
    private readonly pagesPerRun: number,
  ) {
    assert(depth >= 1, 'at least one page run in flight');
    assert(pagesPerRun >= 1, 'a run holds at least one page');
  }

  async directory(path: string, external = false): Promise<void> {
    if (!external) return this.sink.directory(path);
    assert(this.sink.externalDirectory !== undefined, 'external paths only with a directory sink');
    return this.sink.externalDirectory(path);
  }

  text(path: string, text: string): Promise<void> {
    return this.bytes(path, encoder.encode(text));
  }

  async bytes(path: string, bytes: Uint8Array, external = false): Promise<void> {
    const file = await this.open(path, bytes.length, external);
    if (bytes.length > 0) await file.write(bytes);
    await file.close();
  }

  private async open(path: string, size: number, external: boolean): Promise<BackupFileWriter> {
    this.files += 1;
    this.totalBytes += size;
    if (!external) return this.sink.file(path, size);
    assert(this.sink.externalFile !== undefined, 'external paths only with a directory sink');
    return this.sink.externalFile(path, size);
  }

  /**
   * Writes every relation file: the pages of all of them as one stream of runs of at most
   * PAGES_PER_RUN pages (a run may span several small files, so a catalog of a thousand tiny
   * relations costs tens of hops, not a thousand), `depth` runs read ahead, written in order.
   */
  async relationFiles(files: readonly RelationFile[]): Promise<void> {
    const batches: { parts: BatchPart[]; pages: Promise<Uint8Array> }[] = [];
    let fileIndex = 0;
    let nextBlock = 0; // within files[fileIndex], relative to its first block
    const issue = (): boolean => {
      const parts: BatchPart[] = [];
      let pages = 0;
      while (fileIndex < files.length && pages < this.pagesPerRun) {
        const file = files[fileIndex]!;
        const count = Math.min(this.pagesPerRun - pages, file.blocks - nextBlock);
        parts.push({ file, offset: nextBlock, count });
        pages += count;
        nextBlock += count;
        if (nextBlock === file.blocks) { fileIndex += 1; nextBlock = 0; }
      }
      if (parts.length === 0) return false;
      const runs = parts.filter((part) => part.count > 0).map((part) => ({ rel: part.file.rel, firstBlock: part.file.firstBlock + part.offset, count: part.count }));
      const read = runs.length === 0 ? Promise.resolve(new Uint8Array(0)) : this.source.readPageRuns(runs, this.lsn);
      // Handled now, awaited in turn: a later run failing first must not be an unhandled rejection.
      read.catch(() => undefined);
      batches.push({ parts, pages: read });
      return true;
    };
    let open: BackupFileWriter | undefined;
    try {
      while (batches.length < this.depth && issue());
      while (batches.length > 0) {
        const batch = batches.shift()!;
        const pages = await batch.pages;
        let at = 0;
        for (const part of batch.parts) {
          if (part.offset === 0) open = await this.open(part.file.path, part.file.blocks * BLCKSZ, part.file.external);
          if (part.count > 0) {
            await open!.write(pages.subarray(at, at + part.count * BLCKSZ));
            at += part.count * BLCKSZ;
            this.relationPages += part.count;
          }
          if (part.offset + part.count === part.file.blocks) {
            await open!.close();
            open = undefined;
          }
        }
        assert(at === pages.length, 'a batch of runs is as long as its parts');
        issue();
      }
    } finally {
      // Reads already issued are awaited so none rejects unobserved.
      await Promise.allSettled(batches.map((batch) => batch.pages));
    }
  }
}

/** One segment file of a relation fork: `blocks` pages of `rel` from `firstBlock`. */
interface RelationFile {
  path: string;
  external: boolean;
  rel: RelTag;
  firstBlock: number;
  blocks: number;
}

interface BatchPart {
  file: RelationFile;
  /** First page of the part within the file. */
  offset: number;
  count: number;
}

/** The segment files of the fork `rel` names, written as files of fork `fileFork` (they differ for an unlogged main). */
function relationFiles(directory: string, rel: ManifestRelation, fileFork: number, external: boolean, segmentBlocks: number): RelationFile[] {
  assert(Number.isInteger(segmentBlocks) && segmentBlocks > 0, 'a relation segment holds at least one block');
  const segments = Math.max(1, Math.ceil(rel.blocks / segmentBlocks));
  const files: RelationFile[] = [];
  for (let segment = 0; segment < segments; segment++) {
    const firstBlock = segment * segmentBlocks;
    files.push({
      path: `${directory}/${relationFileName(rel.relNode, fileFork, segment)}`, external,
      rel: { spcNode: rel.spcNode, dbNode: rel.dbNode, relNode: rel.relNode, forkNumber: rel.forkNumber },
      firstBlock, blocks: Math.min(segmentBlocks, rel.blocks - firstBlock),
    });
  }
  return files;
}

const PG_HBA_CONF = `# Written by Strata's full backup: trust on loopback and the local socket, as initdb -A trust.
# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             all                                     trust
host    all             all             127.0.0.1/32            trust
host    all             all             ::1/128                 trust
local   replication     all                                     trust
host    replication     all             127.0.0.1/32            trust
host    replication     all             ::1/128                 trust
`;

/**
 * Settings a server started from the backup needs: the parameters pg_control records must not be
 * lower than the primary's (a hot standby refuses to start otherwise), and wal_level as the
 * primary had it.
 */
function postgresqlConf(controlFile: Uint8Array): string {
  const settings = controlFileSettings(controlFile);
  return [
    '# Written by Strata\'s full backup. The settings PostgreSQL checks against pg_control',
    '# (the primary\'s values); everything else is PostgreSQL\'s default.',
    `max_connections = ${settings.maxConnections}`,
    `max_worker_processes = ${settings.maxWorkerProcesses}`,
    `max_wal_senders = ${settings.maxWalSenders}`,
    `max_prepared_transactions = ${settings.maxPreparedTransactions}`,
    `max_locks_per_transaction = ${settings.maxLocksPerTransaction}`,
    `wal_level = ${settings.walLevel}`,
    `wal_log_hints = ${settings.walLogHints ? 'on' : 'off'}`,
    `track_commit_timestamp = ${settings.trackCommitTimestamp ? 'on' : 'off'}`,
    '',
  ].join('\n');
}
