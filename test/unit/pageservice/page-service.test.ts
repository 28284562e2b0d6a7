/**
 * The page service's flow control, with a stand-in backend: a client that sends many requests and
 * does not read the answers stops having its requests read (the server keeps at most
 * `inFlightMax` answers in flight and writes only while the socket drains), and once it reads,
 * every answer arrives, in request order. Also: the LSN rule for Lsn::MAX and not_modified_since.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RelTag } from '../../../src/keys.js';
import type { Lsn } from '../../../src/lsn.js';
import { silentLogger } from '../../../src/observability/log.js';
import { startPageService, type PageServiceBackend } from '../../../src/pageservice/page-service.js';
import { BLCKSZ, LATEST_LSN, parsePagestreamResponse, serializePagestreamRequest, type PagestreamRequest } from '../../../src/pageservice/pagestream-codec.js';
import { PgConnection } from '../../../src/pgwire/connection.js';
import { serializeCopyData } from '../../../src/pgwire/frontend-serializer.js';

const rel: RelTag = { spcNode: 1663, dbNode: 5, relNode: 16384, forkNumber: 0 };

class StubBackend implements PageServiceBackend {
  readonly reads: { blockNumber: number; lsn: Lsn }[] = [];
  lastRecordLsnValue = 0x5000;
  async lastRecordLsn(): Promise<Lsn> { return this.lastRecordLsnValue; }
  async relSize(): Promise<number> { return 10; }
  async getPage(_tenant: string, _timeline: string, _rel: RelTag, blockNumber: number, lsn: Lsn): Promise<Uint8Array> {
    this.reads.push({ blockNumber, lsn });
    return new Uint8Array(BLCKSZ).fill(blockNumber & 0xff);
  }
  async getSlruSegment(): Promise<Uint8Array> { return new Uint8Array(BLCKSZ); }
  async dbSize(): Promise<number> { return 0; }
}

async function open(port: number): Promise<PgConnection> {
  const connection = await PgConnection.connect(`host=127.0.0.1 port=${port} user=compute dbname=postgres`);
  connection.sendQuery('pagestream_v3 t tl');
  assert.is((await connection.nextMessage()).name, 'copyBothResponse');
  return connection;
}

test('a client that does not read stops having its requests read; then every answer arrives in order', async () => {
  const backend = new StubBackend();
  const service = await startPageService({ address: '127.0.0.1:0', backend, logger: silentLogger(), inFlightMax: 8, messageBytesMax: 64 * 1024 });
  const connection = await open(service.port);
  try {
    const count = 20_000; // 160 MB of answers: far more than socket buffers and the client's queue hold
    const requests: PagestreamRequest[] = Array.from({ length: count }, (_, index) => ({
      kind: 'getPage', header: { reqid: BigInt(index), requestLsn: LATEST_LSN, notModifiedSince: 0x1000 }, rel, blockNumber: index,
    }));
    connection.write(Buffer.concat(requests.map((request) => serializeCopyData(serializePagestreamRequest(request, 3)))));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const readWhileBlocked = backend.reads.length;
    assert.ok(readWhileBlocked < count / 4, `requests read while the client read nothing: ${readWhileBlocked} of ${count}`);
    for (let index = 0; index < count; index++) {
      const message = await connection.nextMessage();
      assert.is(message.name, 'copyData');
      const response = parsePagestreamResponse((message as { data: Uint8Array }).data, 3, requests[index]!);
      if (response.kind !== 'getPage' || response.request.header.reqid !== BigInt(index) || response.page[0] !== (index & 0xff)) {
        assert.unreachable(`answer ${index} out of order or wrong: ${response.kind}`);
      }
    }
    assert.is(backend.reads.length, count);
  } finally {
    connection.destroy();
    await service.close();
  }
});

test('the LSN a request is read at: Lsn::MAX is the last record; not_modified_since ahead of it is waited for', async () => {
  const backend = new StubBackend();
  const service = await startPageService({ address: '127.0.0.1:0', backend, logger: silentLogger(), inFlightMax: 8, messageBytesMax: 64 * 1024 });
  const connection = await open(service.port);
  try {
    const ask = async (requestLsn: Lsn, notModifiedSince: Lsn) => {
      const request: PagestreamRequest = { kind: 'getPage', header: { reqid: 1n, requestLsn, notModifiedSince }, rel, blockNumber: 1 };
      connection.write(serializeCopyData(serializePagestreamRequest(request, 3)));
      const message = await connection.nextMessage();
      return parsePagestreamResponse((message as { data: Uint8Array }).data, 3, request);
    };
    await ask(LATEST_LSN, 0x1000);
    await ask(0x3000, 0x1000);
    backend.lastRecordLsnValue = 0x9000;
    await ask(0x8000, 0x7000); // ahead of the connection's known last record: asked again, 0x9000
    await ask(0xa000, 0xa000); // ahead of the timeline too: read at not_modified_since (waits)
    assert.equal(backend.reads.map((read) => read.lsn), [0x5000, 0x3000, 0x8000, 0xa000]);
    const bad = await ask(0x1000, 0x2000);
    assert.is(bad.kind, 'error');
  } finally {
    connection.destroy();
    await service.close();
  }
});

test.run();
