/**
 * Typed decoder for the BRIN resource manager (access/brin_xlog.h of PostgreSQL 15).
 *
 * WHY: redo of BRIN pages needs the main data; the summary tuple of INSERT/UPDATE/SAMEPAGE_UPDATE
 * is the block data of block 0.
 */
import type { DecodedRecord } from '../types.js';
import { BodyReader, unsupportedRecord } from './body-reader.js';

export const XLOG_BRIN_CREATE_INDEX = 0x00;
export const XLOG_BRIN_INSERT = 0x10;
export const XLOG_BRIN_UPDATE = 0x20;
export const XLOG_BRIN_SAMEPAGE_UPDATE = 0x30;
export const XLOG_BRIN_REVMAP_EXTEND = 0x40;
export const XLOG_BRIN_DESUMMARIZE = 0x50;
export const XLOG_BRIN_OPMASK = 0x70;
export const XLOG_BRIN_INIT_PAGE = 0x80;

export interface BrinInsert { heapBlock: number; pagesPerRange: number; offsetNumber: number }

export type BrinRecord =
  | { type: 'createIndex'; pagesPerRange: number; version: number }
  | ({ type: 'insert'; initPage: boolean } & BrinInsert)
  | { type: 'update'; initPage: boolean; oldOffsetNumber: number; insert: BrinInsert }
  | { type: 'samepageUpdate'; offsetNumber: number }
  | { type: 'revmapExtend'; targetBlock: number }
  | { type: 'desummarize'; pagesPerRange: number; heapBlock: number; regularOffset: number };

function readInsert(reader: BodyReader): BrinInsert {
  return { heapBlock: reader.u32(), pagesPerRange: reader.u32(), offsetNumber: reader.u16() };
}

export function decodeBrinRecord(record: DecodedRecord): BrinRecord {
  const reader = new BodyReader(record.mainData, 'brin');
  const initPage = (record.info & XLOG_BRIN_INIT_PAGE) !== 0;
  switch (record.info & XLOG_BRIN_OPMASK) {
    case XLOG_BRIN_CREATE_INDEX: return { type: 'createIndex', pagesPerRange: reader.u32(), version: reader.u16() };
    case XLOG_BRIN_INSERT: return { type: 'insert', initPage, ...readInsert(reader) };
    case XLOG_BRIN_UPDATE: return { type: 'update', initPage, oldOffsetNumber: reader.u16(), insert: readInsert(reader.seek(4)) };
    case XLOG_BRIN_SAMEPAGE_UPDATE: return { type: 'samepageUpdate', offsetNumber: reader.u16() };
    case XLOG_BRIN_REVMAP_EXTEND: return { type: 'revmapExtend', targetBlock: reader.u32() };
    case XLOG_BRIN_DESUMMARIZE: return { type: 'desummarize', pagesPerRange: reader.u32(), heapBlock: reader.u32(), regularOffset: reader.u16() };
    default: throw unsupportedRecord('BRIN', record.info);
  }
}
