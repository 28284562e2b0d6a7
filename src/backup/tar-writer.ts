/**
 * A ustar (POSIX.1-1988) writer: header blocks, content padding and the end-of-archive marker,
 * for streaming a full backup as tar, the format PostgreSQL's BASE_BACKUP and Neon's fullbackup
 * speak.
 *
 * WHY hand-written and this small: an archive entry is a 512-byte header, the content, zeros to a
 * 512-byte boundary; the backup streams contents from the page store and never holds a file, so
 * all it needs from a tar library are the header bytes. The reader is src/ingest/tar.ts (shared
 * constants); the writer's output is byte-compared with GNU tar's `--format=ustar
 * --numeric-owner` (test/unit/backup/tar-writer.test.ts).
 *
 *   offset  field        offset  field          Numbers are zero-padded octal ASCII ending in
 *   0       name[100]    156     typeflag       NUL (mode/uid/gid 7 digits, size/mtime 11);
 *   100     mode[8]      157     linkname[100]  chksum is 6 digits, NUL, space (GNU's form):
 *   108     uid[8]       257     magic "ustar\0" the byte sum of the header with chksum read as
 *   116     gid[8]       263     version "00"   eight spaces. uname/gname stay empty (numeric
 *   124     size[12]     265     uname[32]      owners); devmajor/devminor are "0000000\0".
 *   136     mtime[12]    297     gname[32]
 *   148     chksum[8]    329     devmajor[8], 337 devminor[8], 345 prefix[155]
 *
 * Long names: a path longer than 100 bytes is split at a '/' into prefix (≤ 155 bytes) and name
 * (≤ 100), at the last '/' the prefix field allows, as GNU tar splits. A path that cannot be split (more than 256 bytes, or no suitable '/')
 * is a PS_ERR_BAD_REQUEST: ustar has no room for it, and PostgreSQL data directories do not have
 * such paths (tablespace mappings might). Sizes are limited to 11 octal digits (< 8 GiB), more
 * than PostgreSQL's 1 GiB relation segments.
 */
import { assert } from '../assert.js';
import { StrataError } from '../errors.js';
import { TAR_BLOCK_BYTES } from '../ingest/tar.js';

export { TAR_BLOCK_BYTES };

const NAME_BYTES = 100;
const PREFIX_BYTES = 155;
const LINKNAME_BYTES = 100;
/** The largest size the 11-digit octal field holds. */
export const TAR_FILE_BYTES_MAX = 8 ** 11 - 1;

/** The end-of-archive marker: two zero blocks. */
export const TAR_END: Uint8Array = new Uint8Array(2 * TAR_BLOCK_BYTES);

export type TarWriteType = 'file' | 'directory' | 'symlink';

export interface TarHeaderOptions {
  /** Path inside the archive, '/'-separated, relative; a directory's trailing '/' is added. */
  name: string;
  /** Content bytes (0 for directories and symlinks). */
  size: number;
  /** Permission bits (e.g. 0o600). */
  mode: number;
  /** Modification time, seconds since the Unix epoch. */
  mtime: number;
  type: TarWriteType;
  /** Symlink target (type 'symlink' only). */
  linkname?: string;
  uid?: number;
  gid?: number;
}

const TYPE_FLAGS: Record<TarWriteType, number> = { file: 0x30, directory: 0x35, symlink: 0x32 };

function writeText(header: Uint8Array, offset: number, length: number, bytes: Uint8Array): void {
  assert(bytes.length <= length, 'text fits its field');
  header.set(bytes, offset);
}

/** Zero-padded octal in `length - 1` digits followed by NUL. */
function writeOctal(header: Uint8Array, offset: number, length: number, value: number, what: string): void {
  const digits = length - 1;
  if (!Number.isSafeInteger(value) || value < 0 || value >= 8 ** digits) {
    throw new StrataError('PS_ERR_BAD_REQUEST', `tar: ${what} ${value} does not fit ${digits} octal digits`, { value });
  }
  header.set(Buffer.from(value.toString(8).padStart(digits, '0'), 'latin1'), offset);
  header[offset + digits] = 0;
}

/** [prefix, name] for a path, splitting at a '/' when longer than the name field. */
function splitPath(path: Buffer): [Buffer, Buffer] {
  if (path.length <= NAME_BYTES) return [Buffer.alloc(0), path];
  // The last '/' that leaves a prefix of at most 155 bytes and a non-empty name (GNU tar's
  // split_long_name): the shortest name part, so if it does not fit, no split does.
  for (let index = Math.min(PREFIX_BYTES, path.length - 2); index > 0; index--) {
    if (path[index] !== 0x2f) continue;
    if (path.length - index - 1 > NAME_BYTES) break;
    return [path.subarray(0, index), path.subarray(index + 1)];
  }
  throw new StrataError('PS_ERR_BAD_REQUEST', `tar: path of ${path.length} bytes cannot be split into ustar prefix and name`, {
    path: path.toString('utf8'),
  });
}

/** The 512-byte ustar header of one entry. */
export function tarHeader(options: TarHeaderOptions): Uint8Array {
  const { type } = options;
  assert(options.name.length > 0 && !options.name.startsWith('/'), 'a tar path is relative and non-empty');
  assert(type === 'file' || options.size === 0, 'only files have content');
  assert((type === 'symlink') === (options.linkname !== undefined), 'a linkname exactly for symlinks');
  const name = type === 'directory' && !options.name.endsWith('/') ? `${options.name}/` : options.name;
  const [prefix, shortName] = splitPath(Buffer.from(name, 'utf8'));
  const linkname = Buffer.from(options.linkname ?? '', 'utf8');
  if (linkname.length > LINKNAME_BYTES) {
    throw new StrataError('PS_ERR_BAD_REQUEST', `tar: symlink target of ${linkname.length} bytes exceeds ${LINKNAME_BYTES}`, { linkname: options.linkname });
  }
  const header = new Uint8Array(TAR_BLOCK_BYTES);
  writeText(header, 0, NAME_BYTES, shortName);
  writeOctal(header, 100, 8, options.mode & 0o7777, 'mode');
  writeOctal(header, 108, 8, options.uid ?? 0, 'uid');
  writeOctal(header, 116, 8, options.gid ?? 0, 'gid');
  writeOctal(header, 124, 12, options.size, 'size');
  writeOctal(header, 136, 12, Math.floor(options.mtime), 'mtime');
  header[156] = TYPE_FLAGS[type];
  writeText(header, 157, LINKNAME_BYTES, linkname);
  header.set(Buffer.from('ustar\u000000', 'latin1'), 257);
  writeOctal(header, 329, 8, 0, 'devmajor');
  writeOctal(header, 337, 8, 0, 'devminor');
  writeText(header, 345, PREFIX_BYTES, prefix);
  header.fill(0x20, 148, 156);
  let sum = 0;
  for (let index = 0; index < TAR_BLOCK_BYTES; index++) sum += header[index]!;
  writeOctal(header, 148, 7, sum, 'checksum'); // six digits and NUL; the eighth byte stays a space
  return header;
}

/** The zero bytes that follow `size` bytes of content to the next block boundary. */
export function tarPadding(size: number): Uint8Array {
  assert(Number.isSafeInteger(size) && size >= 0, 'a size is a non-negative integer');
  return new Uint8Array((TAR_BLOCK_BYTES - (size % TAR_BLOCK_BYTES)) % TAR_BLOCK_BYTES);
}
