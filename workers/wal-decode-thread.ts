/**
 * Entry point of a WAL decode thread (src/wal/wal-decode-stage.ts spawns it): the first stage of
 * the ingest pipeline. It validates and decodes WAL (page headers, CRC-32C, record headers, block
 * references) into PackedRecords whose bytes lie in SharedArrayBuffers, so the ingest thread gets
 * each batch without a copy and without decoding anything itself.
 *
 * Sessions are independent: a stream session owns a WalStreamDecoder fed by `decode` requests (the
 * walreceiver's XLogData bytes), answered in order; a files session reads segment files and sends
 * batches as long as it has credits (the consumer returns one per batch it took), so at most
 * `credits` batches wait on the other side. A failure fails only its session.
 */
import { parentPort } from 'node:worker_threads';
import { assert } from '../src/assert.js';
import { isStrataError, StrataError, type SerializedStrataError } from '../src/errors.js';
import { PackedRecordsBuilder, packedTransferList, type PackedRecords } from '../src/wal/packed-records.js';
import { readWalFilePackedBatches } from '../src/wal/segment-reader.js';
import { WalStreamDecoder } from '../src/wal/wal-decoder.js';
import type { WalDecodeRequest, WalDecodeResponse } from '../src/wal/wal-decode-protocol.js';

assert(parentPort !== null, 'wal-decode-thread.js runs as a worker thread');
const port = parentPort;

interface StreamSession {
  kind: 'stream';
  decoder: WalStreamDecoder;
  builder: PackedRecordsBuilder;
}

interface FilesSession {
  kind: 'files';
  credits: number;
  wake: (() => void) | undefined;
  closed: boolean;
}

const sessions = new Map<number, StreamSession | FilesSession>();

function serialize(error: unknown): SerializedStrataError {
  if (isStrataError(error)) return error.toJSON();
  const reason = error instanceof Error ? error.message : String(error);
  return new StrataError('PS_ERR_IO', `WAL decode thread failed: ${reason}`).toJSON();
}

function send(response: WalDecodeResponse, batch?: PackedRecords): void {
  port.postMessage(response, batch === undefined ? [] : packedTransferList(batch));
}

function decode(request: Extract<WalDecodeRequest, { kind: 'decode' }>): void {
  const session = sessions.get(request.session);
  try {
    if (session === undefined || session.kind !== 'stream') throw new StrataError('PS_ERR_BAD_REQUEST', `no WAL stream session ${request.session}`);
    session.decoder.feed(new Uint8Array(request.bytes));
    while (session.decoder.nextInto(session.builder)) { /* drained into the builder */ }
    const batch = session.builder.finish();
    send({ kind: 'decoded', session: request.session, id: request.id, batch }, batch);
  } catch (error) {
    sessions.delete(request.session);
    send({ kind: 'failed', session: request.session, id: request.id, error: serialize(error) });
  }
}

async function readFiles(request: Extract<WalDecodeRequest, { kind: 'files' }>): Promise<void> {
  const session: FilesSession = { kind: 'files', credits: request.credits, wake: undefined, closed: false };
  sessions.set(request.session, session);
  try {
    const batches = readWalFilePackedBatches(request.paths, {
      ...(request.startLsn === undefined ? {} : { startLsn: request.startLsn }),
      ...(request.endLsn === undefined ? {} : { endLsn: request.endLsn }),
      segmentSize: request.segmentSize, sharedMemory: true,
    });
    for await (const batch of batches) {
      while (session.credits === 0 && !session.closed) await new Promise<void>((resolve) => { session.wake = resolve; });
      if (session.closed) return;
      session.credits -= 1;
      send({ kind: 'batch', session: request.session, batch }, batch);
    }
    send({ kind: 'end', session: request.session });
  } catch (error) {
    send({ kind: 'failed', session: request.session, id: undefined, error: serialize(error) });
  } finally {
    sessions.delete(request.session);
  }
}

port.on('message', (request: WalDecodeRequest) => {
  switch (request.kind) {
    case 'open':
      sessions.set(request.session, {
        kind: 'stream', decoder: new WalStreamDecoder(request.startLsn, { segmentSize: request.segmentSize, sharedMemory: true }),
        builder: new PackedRecordsBuilder(),
      });
      return;
    case 'decode':
      return decode(request);
    case 'files':
      void readFiles(request);
      return;
    case 'credit': {
      const session = sessions.get(request.session);
      if (session?.kind === 'files') {
        session.credits += 1;
        session.wake?.();
        session.wake = undefined;
      }
      return;
    }
    case 'close': {
      const session = sessions.get(request.session);
      if (session?.kind === 'files') {
        session.closed = true;
        session.wake?.();
      }
      sessions.delete(request.session);
      return;
    }
  }
});

port.postMessage({ kind: 'ready' } satisfies WalDecodeResponse);
