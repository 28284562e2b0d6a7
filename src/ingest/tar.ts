/**
 * A streaming tar reader (ustar, pax extended headers, GNU long names) over an async iterable of
 * byte chunks, as PostgreSQL's BASE_BACKUP sends archives.
 *
 * WHY streaming: a base backup is as large as the database; the reader holds at most one 512-byte
 * header, and file contents pass through as subarrays of the input chunks. Only pax and GNU
 * long-name payloads are buffered, bounded by TAR_METADATA_BYTES_MAX.
 *
 *   chunks ──► readTar() ──► { kind:'entry', entry } { kind:'data', bytes }* { kind:'entryEnd' } … end
 *
 * Format: 512-byte header blocks (name[100] mode[8] uid[8] gid[8] size[12] mtime[12] chksum[8]
 * typeflag[1] linkname[100] magic[6] version[2] uname[32] gname[32] devmajor[8] devminor[8]
 * prefix[155]), content padded to 512, archive ends with two zero blocks. The header checksum is
 * verified; a bad one is PS_ERR_PROTOCOL (the archive came over the wire).
 */
import { StrataError } from '../errors.js';

export const TAR_BLOCK_BYTES = 512;
export const TAR_METADATA_BYTES_MAX = 1024 * 1024;

export type TarEntryType = 'file' | 'directory' | 'symlink' | 'other';

export interface TarEntry {
  path: string;
  size: number;
  type: TarEntryType;
  linkName: string;
  mode: number;
}

export type TarEvent =
  | { kind: 'entry'; entry: TarEntry }
  | { kind: 'data'; bytes: Uint8Array }
  | { kind: 'entryEnd'; entry: TarEntry };

function field(header: Uint8Array, offset: number, length: number): string {
  let end = offset;
  while (end < offset + length && header[end] !== 0) end++;
  return Buffer.from(header.buffer, header.byteOffset + offset, end - offset).toString('utf8');
}

/** Octal ASCII (space/NUL padded), or GNU base-256 when the high bit of the first byte is set. */
function numeric(header: Uint8Array, offset: number, length: number): number {
  if (header[offset]! & 0x80) {
    let value = header[offset]! & 0x7f;
    for (let index = 1; index < length; index++) value = value * 256 + header[offset + index]!;
    return value;
  }
  const text = field(header, offset, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new StrataError('PS_ERR_PROTOCOL', `tar: bad numeric field '${text}'`);
  return parseInt(text, 8);
}

function checksumMatches(header: Uint8Array): boolean {
  let sum = 0;
  for (let index = 0; index < TAR_BLOCK_BYTES; index++) sum += index >= 148 && index < 156 ? 0x20 : header[index]!;
  return sum === numeric(header, 148, 8);
}

function typeOf(flag: number): TarEntryType {
  if (flag === 0 || flag === 0x30 || flag === 0x37) return 'file';
  if (flag === 0x35) return 'directory';
  if (flag === 0x32) return 'symlink';
  return 'other';
}

/** Parses pax records `<length> <key>=<value>\n`. */
export function parsePax(bytes: Uint8Array): Map<string, string> {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  const records = new Map<string, string>();
  let position = 0;
  while (position < text.length) {
    const space = text.indexOf(' ', position);
    if (space < 0) break;
    const length = parseInt(text.slice(position, space), 10);
    if (!(length > 0)) throw new StrataError('PS_ERR_PROTOCOL', 'tar: bad pax record length');
    const record = text.slice(space + 1, position + length - 1);
    const equals = record.indexOf('=');
    if (equals > 0) records.set(record.slice(0, equals), record.slice(equals + 1));
    position += length;
  }
  return records;
}

/** Reads a tar stream; each entry's data events must be consumed before the next entry arrives. */
export async function* readTar(chunks: AsyncIterable<Uint8Array>): AsyncGenerator<TarEvent> {
  const header = new Uint8Array(TAR_BLOCK_BYTES);
  let headerFill = 0;
  let current: TarEntry | undefined;
  let dataRemaining = 0;
  let paddingRemaining = 0;
  let metadataKind: 'pax' | 'globalPax' | 'longName' | undefined;
  let metadata: Uint8Array[] = [];
  let pendingPax = new Map<string, string>();
  let pendingLongName: string | undefined;
  let zeroBlocks = 0;

  for await (const chunk of chunks) {
    let offset = 0;
    while (offset < chunk.length) {
      if (current !== undefined || metadataKind !== undefined) {
        if (dataRemaining > 0) {
          const take = Math.min(dataRemaining, chunk.length - offset);
          const bytes = chunk.subarray(offset, offset + take);
          offset += take;
          dataRemaining -= take;
          if (metadataKind !== undefined) metadata.push(bytes.slice());
          else yield { kind: 'data', bytes };
          if (dataRemaining > 0) continue;
        }
        if (paddingRemaining > 0) {
          const skip = Math.min(paddingRemaining, chunk.length - offset);
          offset += skip;
          paddingRemaining -= skip;
          if (paddingRemaining > 0) continue;
        }
        if (metadataKind !== undefined) {
          const payload = Buffer.concat(metadata);
          if (metadataKind === 'pax') pendingPax = parsePax(payload);
          else if (metadataKind === 'longName') pendingLongName = field(payload, 0, payload.length);
          metadataKind = undefined;
          metadata = [];
        } else {
          yield { kind: 'entryEnd', entry: current! };
          current = undefined;
        }
        continue;
      }
      const take = Math.min(TAR_BLOCK_BYTES - headerFill, chunk.length - offset);
      header.set(chunk.subarray(offset, offset + take), headerFill);
      headerFill += take;
      offset += take;
      if (headerFill < TAR_BLOCK_BYTES) continue;
      headerFill = 0;
      if (header.every((byte) => byte === 0)) {
        zeroBlocks += 1;
        if (zeroBlocks >= 2) return;
        continue;
      }
      zeroBlocks = 0;
      if (!checksumMatches(header)) throw new StrataError('PS_ERR_PROTOCOL', 'tar: header checksum mismatch');
      const flag = header[156]!;
      const size = numeric(header, 124, 12);
      dataRemaining = size;
      paddingRemaining = (TAR_BLOCK_BYTES - (size % TAR_BLOCK_BYTES)) % TAR_BLOCK_BYTES;
      if (flag === 0x78 || flag === 0x67 || flag === 0x4c) {
        if (size > TAR_METADATA_BYTES_MAX) throw new StrataError('PS_ERR_PROTOCOL', `tar: metadata entry of ${size} bytes`);
        // Global pax headers ('g') carry nothing PostgreSQL archives need: read and ignored.
        metadataKind = flag === 0x4c ? 'longName' : flag === 0x67 ? 'globalPax' : 'pax';
        continue;
      }
      const prefix = field(header, 345, 155);
      const name = field(header, 0, 100);
      let path = pendingLongName ?? (prefix ? `${prefix}/${name}` : name);
      path = pendingPax.get('path') ?? path;
      const paxSize = pendingPax.get('size');
      if (paxSize !== undefined) {
        dataRemaining = Number(paxSize);
        paddingRemaining = (TAR_BLOCK_BYTES - (dataRemaining % TAR_BLOCK_BYTES)) % TAR_BLOCK_BYTES;
      }
      current = {
        path, size: dataRemaining, type: typeOf(flag), linkName: pendingPax.get('linkpath') ?? field(header, 157, 100),
        mode: numeric(header, 100, 8),
      };
      pendingPax = new Map();
      pendingLongName = undefined;
      yield { kind: 'entry', entry: current };
      if (dataRemaining === 0 && paddingRemaining === 0) {
        yield { kind: 'entryEnd', entry: current };
        current = undefined;
      }
    }
  }
  if (current !== undefined && dataRemaining === 0 && paddingRemaining === 0) {
    yield { kind: 'entryEnd', entry: current };
    current = undefined;
  }
  if (current !== undefined || dataRemaining > 0) throw new StrataError('PS_ERR_PROTOCOL', 'tar: archive ends inside an entry');
}
