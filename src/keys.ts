/**
 * The key space: every PostgreSQL object Strata stores maps to an 18-byte key, compared bytewise.
 *
 *   byte  0     field1  kind of key (relation data, SLRU, two-phase, control)
 *   bytes 1-4   field2  u32 big-endian
 *   bytes 5-8   field3  u32
 *   bytes 9-12  field4  u32
 *   byte  13    field5  u8
 *   bytes 14-17 field6  u32
 *
 * Layout (same spirit as Neon's pageserver key space, so ranges of a kind are contiguous):
 *
 *   relation block    00 spcNode dbNode relNode fork blockNumber
 *   relation size     00 spcNode dbNode relNode fork FFFFFFFF
 *   relmap file       00 spcNode dbNode 00000000 00   00000000
 *   relation dir      00 spcNode dbNode 00000000 00   00000001
 *   database dir      00 00000000 00000000 00000000 00 00000000
 *   SLRU block        01 kind 00000001 segment 00 blockNumber    (kind: 0 clog, 1 members, 2 offsets)
 *   SLRU segment size 01 kind 00000001 segment 00 FFFFFFFF
 *   SLRU dir          01 kind 00000000 00000000 00 00000000
 *   two-phase dir     02 00000000 00000000 00000000 00 00000000
 *   two-phase file    02 00000000 00000000 00000000 00 xid
 *   control file      03 00000000 00000000 00000000 00 00000000
 *   checkpoint        03 00000000 00000000 00000000 00 00000001
 *
 * In memory a key is its 36-character lower-case hex string: Map-friendly, and string comparison of
 * equal-length hex orders exactly as the bytes do.
 */
import { assert } from './assert.js';
import type { RelFileNode } from './wal/types.js';

export type Key = string;

export const KEY_BYTES = 18;
export const KEY_HEX_LENGTH = 36;

export const enum KeyKind {
  Relation = 0x00,
  Slru = 0x01,
  TwoPhase = 0x02,
  Control = 0x03,
}

export const enum SlruKind {
  Clog = 0,
  MultiXactMembers = 1,
  MultiXactOffsets = 2,
}

export const SLRU_NAMES = ['pg_xact', 'pg_multixact/members', 'pg_multixact/offsets'] as const;

/** A relation fork: the unit relsize and getpage speak about. */
export interface RelTag extends RelFileNode {
  readonly forkNumber: number;
}

export interface KeyFields {
  field1: number;
  field2: number;
  field3: number;
  field4: number;
  field5: number;
  field6: number;
}

const HEX8 = (value: number) => (value >>> 0).toString(16).padStart(8, '0');
const HEX2 = (value: number) => (value & 0xff).toString(16).padStart(2, '0');

export function encodeKey(f: KeyFields): Key {
  assert(f.field1 >= 0 && f.field1 <= 0xff && f.field5 >= 0 && f.field5 <= 0xff, 'u8 key field out of range');
  return HEX2(f.field1) + HEX8(f.field2) + HEX8(f.field3) + HEX8(f.field4) + HEX2(f.field5) + HEX8(f.field6);
}

export function decodeKey(key: Key): KeyFields {
  assert(key.length === KEY_HEX_LENGTH, 'key must be 36 hex characters');
  return {
    field1: parseInt(key.slice(0, 2), 16),
    field2: parseInt(key.slice(2, 10), 16),
    field3: parseInt(key.slice(10, 18), 16),
    field4: parseInt(key.slice(18, 26), 16),
    field5: parseInt(key.slice(26, 28), 16),
    field6: parseInt(key.slice(28, 36), 16),
  };
}

export function keyToBytes(key: Key): Buffer {
  return Buffer.from(key, 'hex');
}

export function keyFromBytes(bytes: Uint8Array): Key {
  assert(bytes.length === KEY_BYTES, 'key must be 18 bytes');
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export const RELATION_SIZE_BLOCK = 0xffffffff;
/** Largest valid block number (InvalidBlockNumber is 0xFFFFFFFF). */
export const MAX_BLOCK_NUMBER = 0xfffffffe;

export function relBlockKey(rel: RelTag, blockNumber: number): Key {
  assert(blockNumber >= 0 && blockNumber <= MAX_BLOCK_NUMBER, 'block number out of range');
  return encodeKey({ field1: KeyKind.Relation, field2: rel.spcNode, field3: rel.dbNode, field4: rel.relNode, field5: rel.forkNumber, field6: blockNumber });
}

export function relSizeKey(rel: RelTag): Key {
  return encodeKey({ field1: KeyKind.Relation, field2: rel.spcNode, field3: rel.dbNode, field4: rel.relNode, field5: rel.forkNumber, field6: RELATION_SIZE_BLOCK });
}

/** [start, end) of all block keys of a relation fork (size key excluded). */
export function relBlockRange(rel: RelTag): readonly [Key, Key] {
  return [relBlockKey(rel, 0), relSizeKey(rel)];
}

export function relmapFileKey(spcNode: number, dbNode: number): Key {
  return encodeKey({ field1: KeyKind.Relation, field2: spcNode, field3: dbNode, field4: 0, field5: 0, field6: 0 });
}

export function relDirKey(spcNode: number, dbNode: number): Key {
  return encodeKey({ field1: KeyKind.Relation, field2: spcNode, field3: dbNode, field4: 0, field5: 0, field6: 1 });
}

export const DB_DIR_KEY: Key = encodeKey({ field1: KeyKind.Relation, field2: 0, field3: 0, field4: 0, field5: 0, field6: 0 });

export function slruBlockKey(kind: SlruKind, segment: number, blockNumber: number): Key {
  return encodeKey({ field1: KeyKind.Slru, field2: kind, field3: 1, field4: segment, field5: 0, field6: blockNumber });
}

export function slruSegmentSizeKey(kind: SlruKind, segment: number): Key {
  return encodeKey({ field1: KeyKind.Slru, field2: kind, field3: 1, field4: segment, field5: 0, field6: RELATION_SIZE_BLOCK });
}

export function slruDirKey(kind: SlruKind): Key {
  return encodeKey({ field1: KeyKind.Slru, field2: kind, field3: 0, field4: 0, field5: 0, field6: 0 });
}

export const TWO_PHASE_DIR_KEY: Key = encodeKey({ field1: KeyKind.TwoPhase, field2: 0, field3: 0, field4: 0, field5: 0, field6: 0 });

export function twoPhaseFileKey(xid: number): Key {
  assert(xid !== 0, 'two-phase xid must be valid');
  return encodeKey({ field1: KeyKind.TwoPhase, field2: 0, field3: 0, field4: 0, field5: 0, field6: xid });
}

export const CONTROL_FILE_KEY: Key = encodeKey({ field1: KeyKind.Control, field2: 0, field3: 0, field4: 0, field5: 0, field6: 0 });
export const CHECKPOINT_KEY: Key = encodeKey({ field1: KeyKind.Control, field2: 0, field3: 0, field4: 0, field5: 0, field6: 1 });

export function isRelBlockKey(key: Key): boolean {
  const fields = decodeKey(key);
  return fields.field1 === KeyKind.Relation && fields.field4 !== 0 && fields.field6 !== RELATION_SIZE_BLOCK;
}

export function isSlruBlockKey(key: Key): boolean {
  const fields = decodeKey(key);
  return fields.field1 === KeyKind.Slru && fields.field3 === 1 && fields.field6 !== RELATION_SIZE_BLOCK;
}

export function formatRelTag(rel: RelTag): string {
  return `${rel.spcNode}/${rel.dbNode}/${rel.relNode}` + (rel.forkNumber === 0 ? '' : `_${['main', 'fsm', 'vm', 'init'][rel.forkNumber] ?? rel.forkNumber}`);
}

/** SLRU pages per segment file (SLRU_PAGES_PER_SEGMENT). */
export const SLRU_PAGES_PER_SEGMENT = 32;
