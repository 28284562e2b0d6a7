/**
 * `strata fullbackup`: a full backup of a timeline at an LSN (GET …/fullbackup, a tar stream),
 * written as a tar file or unpacked into a data directory a stock PostgreSQL 15 starts from.
 * `strata lsn-by-time`: get_lsn_by_timestamp.
 *
 * WHY unpack here rather than ask the server for a directory: the directory belongs to the user
 * running the CLI, possibly on another machine than the server.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, symlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { once } from 'node:events';
import { readTar } from '../ingest/tar.js';
import { parseLsn } from '../lsn.js';
import { CliFailure, type EndpointOptions, requestJson, requestStream, resolveEndpoint } from './client.js';

export interface FullbackupCliOptions extends EndpointOptions {
  tenant: string;
  timeline: string;
  lsn?: string;
  /** Unpack into this directory (must not exist or be empty). */
  pgdata?: string;
  /** Write the tar here ('-': stdout). */
  output?: string;
}

const BACKUP_TIMEOUT_MS = 24 * 3600 * 1000;

function timelinePath(options: { tenant: string; timeline: string }, what: string): string {
  return `/v1/tenant/${encodeURIComponent(options.tenant)}/timeline/${encodeURIComponent(options.timeline)}/${what}`;
}

export async function fullbackup(options: FullbackupCliOptions): Promise<void> {
  if ((options.pgdata === undefined) === (options.output === undefined)) throw new CliFailure('give exactly one of -D DIR or -o FILE.tar', 'usage', 2);
  if (options.lsn !== undefined) {
    try { parseLsn(options.lsn); } catch (error) { throw new CliFailure(`invalid --lsn: ${error instanceof Error ? error.message : String(error)}`, 'usage', 2); }
  }
  const base = await resolveEndpoint(options);
  const query = options.lsn === undefined ? '' : `?lsn=${encodeURIComponent(options.lsn)}`;
  const body = await requestStream(base, { method: 'GET', path: timelinePath(options, 'fullbackup') + query, timeoutMs: BACKUP_TIMEOUT_MS });
  if (options.output !== undefined) return writeTar(body, options.output);
  return unpack(body, resolve(options.pgdata!));
}

async function writeTar(body: AsyncIterable<Uint8Array>, output: string): Promise<void> {
  const out = output === '-' ? process.stdout : createWriteStream(output, { flags: 'wx' });
  for await (const chunk of body) if (!out.write(chunk)) await once(out, 'drain');
  if (out !== process.stdout) await new Promise<void>((done, fail) => out.end((error?: Error | null) => (error ? fail(error) : done())));
}

/** Unpacks the tar as it arrives; a path leaving the directory is refused. */
async function unpack(body: AsyncIterable<Uint8Array>, root: string): Promise<void> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  if ((await readdir(root)).length > 0) throw new CliFailure(`${root} is not empty`, 'PS_ERR_CONFLICT');
  let file: Awaited<ReturnType<typeof open>> | undefined;
  let complete = false;
  for await (const event of readTar(body)) {
    if (event.kind === 'entry') {
      const target = resolve(root, event.entry.path);
      if (target !== root && !target.startsWith(`${root}/`)) throw new CliFailure(`backup entry ${event.entry.path} leaves the directory`, 'PS_ERR_PROTOCOL');
      if (event.entry.type === 'directory') await mkdir(target, { recursive: true, mode: 0o700 });
      else if (event.entry.type === 'symlink') await symlink(event.entry.linkName, target);
      else if (event.entry.type === 'file') {
        await mkdir(dirname(target), { recursive: true, mode: 0o700 });
        file = await open(target, 'wx', 0o600);
        if (event.entry.path === 'global/pg_control') complete = true;
      }
    } else if (event.kind === 'data') {
      await file?.write(event.bytes);
    } else if (file !== undefined) {
      await file.close();
      file = undefined;
    }
  }
  // pg_control is the backup's last file: without it the stream was cut.
  if (!complete) throw new CliFailure(`the backup stream ended early: ${join(root, 'global/pg_control')} is missing`, 'PS_ERR_PROTOCOL');
}

export interface LsnByTimeOptions extends EndpointOptions {
  tenant: string;
  timeline: string;
  time: string;
}

export async function lsnByTime(options: LsnByTimeOptions): Promise<void> {
  const base = await resolveEndpoint(options);
  const reply = await requestJson(base, { method: 'GET', path: `${timelinePath(options, 'get_lsn_by_timestamp')}?timestamp=${encodeURIComponent(options.time)}` });
  process.stdout.write(`${JSON.stringify(reply)}\n`);
}
