/**
 * Entry point of a WAL decode thread (src/wal/wal-decode-stage.ts spawns it): the first stage of
 * the ingest pipeline. It validates and decodes WAL (page headers, CRC-32C, record headers, block
 * references) into PackedRecords whose bytes lie in SharedArrayBuffers, so the ingest thread gets
 * each batch without a copy and without decoding anything itself.
 *
 * Sessions are independent: a stream session owns a WalStreamDecoder fed by `decode` requests (the
 * walreceiver's XLogData bytes), answered in order; a files session reads segment files and sends
 * batches as long as it has credits (the consumer returns one per batch it took), so at most
 * `credits` batches wait on the other side. A files session may instead deliver its batches
 * straight to consumer threads through MessagePorts it was given (the redo replay workers), each
 * port returning its own credits, so the batches do not pass through main. A failure fails only
 * its session.
 */
import { parentPort, type MessagePort } from 'node:worker_threads';
import { assert } from '../src/assert.js';
import { isStrataError, StrataError, type SerializedStrataError } from '../src/errors.js';
import { BatchFanout } from '../src/wal/batch-fanout.js';
import { PackedRecordsBuilder, packedTransferList, type PackedRecords } from '../src/wal/packed-records.js';
import { readWalFilePackedBatches } from '../src/wal/segment-reader.js';
import { SourceIdAssigner } from '../src/wal/source-identity.js';
import { WalStreamDecoder } from '../src/wal/wal-decoder.js';
import type { WalDecodeRequest, WalDecodeResponse } from '../src/wal/wal-decode-protocol.js';

assert(parentPort !== null, 'wal-decode-thread.js runs as a worker thread');
const port = parentPort;

interface StreamSession {
  kind: 'stream';
  decoder: WalStreamDecoder;
  builder: PackedRecordsBuilder;
  sourceIds: SourceIdAssigner;
}

interface FilesSession {
  kind: 'files';
  credits: number;
  wake: (() => void) | undefined;
  closed: boolean;
  /** Set when the session delivers to consumer ports. */
  fanout?: BatchFanout;
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
    send({ kind: 'decoded', session: request.session, id: request.id, batch, sourceIds: session.sourceIds.idsOf(batch.sources) }, batch);
  } catch (error) {
    sessions.delete(request.session);
    send({ kind: 'failed', session: request.session, id: request.id, error: serialize(error) });
  }
}

/** Where a files session's batches go: back to main, or straight to consumer ports. */
interface BatchSink {
  /** Resolves when the next batch may be sent (false: the session was closed meanwhile). */
  ready(): Promise<boolean>;
  send(batch: PackedRecords): void;
  end(records: number): void;
  fail(error: SerializedStrataError): void;
  /** After the session: tells consumers that have not had end or failed that it was closed. */
  close(): void;
}

function mainSink(session: FilesSession, id: number): BatchSink {
  const sourceIds = new SourceIdAssigner();
  return {
    async ready() {
      while (session.credits === 0 && !session.closed) await new Promise<void>((resolve) => { session.wake = resolve; });
      if (session.closed) return false;
      session.credits -= 1;
      return true;
    },
    send(batch) { send({ kind: 'batch', session: id, batch, sourceIds: sourceIds.idsOf(batch.sources) }, batch); },
    end(records) { send({ kind: 'end', session: id, records }); },
    fail(error) { send({ kind: 'failed', session: id, id: undefined, error }); },
    close() { /* main closed the session itself */ },
  };
}

/** Consumer ports (src/wal/batch-fanout.ts): every batch to every port, within each port's credits. */
function portsSink(session: FilesSession, ports: MessagePort[], credits: number): BatchSink {
  const fanout = new BatchFanout(ports, credits);
  session.fanout = fanout;
  return {
    ready: () => fanout.ready(),
    send(batch) { fanout.send(batch, true); },
    end(records) { fanout.end(records); },
    fail(error) { fanout.fail(error); },
    close() { fanout.cancel('the WAL decode session was closed'); },
  };
}

async function readFiles(request: Extract<WalDecodeRequest, { kind: 'files' }>): Promise<void> {
  const session: FilesSession = { kind: 'files', credits: request.credits, wake: undefined, closed: false };
  sessions.set(request.session, session);
  const main = mainSink(session, request.session);
  const sink = request.ports === undefined || request.ports.length === 0 ? main : portsSink(session, request.ports, request.credits);
  let records = 0;
  try {
    const batches = readWalFilePackedBatches(request.paths, {
      ...(request.startLsn === undefined ? {} : { startLsn: request.startLsn }),
      ...(request.endLsn === undefined ? {} : { endLsn: request.endLsn }),
      segmentSize: request.segmentSize, sharedMemory: true,
    });
    for await (const batch of batches) {
      if (!(await sink.ready())) return;
      records += batch.count;
      sink.send(batch);
    }
    sink.end(records);
    if (sink !== main) main.end(records);
  } catch (error) {
    const serialized = serialize(error);
    sink.fail(serialized);
    if (sink !== main) main.fail(serialized);
  } finally {
    sink.close();
    sessions.delete(request.session);
  }
}

port.on('message', (request: WalDecodeRequest) => {
  switch (request.kind) {
    case 'open':
      sessions.set(request.session, {
        kind: 'stream', decoder: new WalStreamDecoder(request.startLsn, { segmentSize: request.segmentSize, sharedMemory: true }),
        builder: new PackedRecordsBuilder(), sourceIds: new SourceIdAssigner(),
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
        session.fanout?.cancel('the WAL decode session was closed');
      }
      sessions.delete(request.session);
      return;
    }
  }
});

port.postMessage({ kind: 'ready' } satisfies WalDecodeResponse);
