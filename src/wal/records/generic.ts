/**
 * Typed decoder for the Generic WAL resource manager (access/generic_xlog.h of PostgreSQL 15).
 *
 * WHY: extensions (bloom, ...) log page changes as deltas: per block, a list of fragments
 * (OffsetNumber offset, OffsetNumber length, bytes). Redo copies them onto the page.
 */
import type { DecodedRecord } from '../types.js';
import { BodyReader } from './body-reader.js';

export interface GenericDelta { offset: number; data: Uint8Array }

export type GenericRecord = { type: 'generic'; blocks: { blockId: number; deltas: GenericDelta[] }[] };

export function decodeGenericDeltas(data: Uint8Array): GenericDelta[] {
  const reader = new BodyReader(data, 'generic delta');
  const deltas: GenericDelta[] = [];
  while (reader.remaining > 0) {
    const offset = reader.u16();
    const length = reader.u16();
    deltas.push({ offset, data: reader.slice(length) });
  }
  return deltas;
}

export function decodeGenericRecord(record: DecodedRecord): GenericRecord {
  return { type: 'generic', blocks: record.blocks.map((block) => ({ blockId: block.blockId, deltas: decodeGenericDeltas(block.data) })) };
}
