/**
 * The page service end to end (issue 11, first cut): a libpq client (Strata's own, src/pgwire)
 * speaks pagestream v3 and v2 to a Strata server following a real PostgreSQL 15 primary. Pages,
 * relation sizes and SLRU segments read over pagestream equal the HTTP API's answers at the same
 * LSN, and DbSize their sum; 40 pipelined requests are answered in order with their v3 echo;
 * failures are Error responses that leave the stream usable; a malformed message ends the
 * connection with 08P01.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { TimelineInfo } from '../../src/http/management-api.js';
import { parseLsn } from '../../src/lsn.js';
import {
  LATEST_LSN, parsePagestreamResponse, serializePagestreamRequest, type PagestreamRequest, type PagestreamResponse, type PagestreamVersion,
} from '../../src/pageservice/pagestream-codec.js';
import { PgConnection } from '../../src/pgwire/connection.js';
import { serializeCopyData } from '../../src/pgwire/frontend-serializer.js';
import { PostgresCluster } from '../helpers/postgres.js';
import { eventually, startTestServer, type TestServer } from '../helpers/strata-server.js';

async function openPagestream(server: TestServer, version: PagestreamVersion, tenant: string, timeline: string): Promise<PgConnection> {
  const [host, port] = server.server.pgAddress.split(':');
  const connection = await PgConnection.connect(`host=${host} port=${port} user=compute dbname=postgres`);
  connection.sendQuery(`pagestream_v${version} ${tenant} ${timeline}`);
  const answer = await connection.nextMessage();
  assert.is(answer.name, 'copyBothResponse', `pagestream_v${version} switches to CopyBoth`);
  return connection;
}

async function exchange(connection: PgConnection, version: PagestreamVersion, requests: readonly PagestreamRequest[]): Promise<PagestreamResponse[]> {
  for (const request of requests) connection.write(serializeCopyData(serializePagestreamRequest(request, version)));
  const responses: PagestreamResponse[] = [];
  for (const request of requests) {
    const message = await connection.nextMessage();
    assert.is(message.name, 'copyData');
    responses.push(parsePagestreamResponse((message as { data: Uint8Array }).data, version, request));
  }
  return responses;
}

test('pagestream v3 and v2 answer as the HTTP API does, in order, with coded failures', async () => {
  const cluster = await PostgresCluster.create();
  let server: TestServer | undefined;
  const connections: PgConnection[] = [];
  try {
    server = await startTestServer();
    const tenant = await server.post<{ id: string }>('/v1/tenant', {});
    const created = await server.post<TimelineInfo>(`/v1/tenant/${tenant.id}/timeline`, { from_primary: cluster.connectionString() });
    const base = `/v1/tenant/${tenant.id}/timeline/${created.timeline_id}`;
    await cluster.pgbench(['-i', '-s', '1', '-q']);
    const target = parseLsn(await cluster.sql('SELECT pg_current_wal_insert_lsn()'));
    const [relNode, size] = (await cluster.sql("SELECT pg_relation_filenode('pgbench_accounts'), pg_relation_size('pgbench_accounts') / 8192")).split('|');
    const info = await eventually(async () => {
      const current = await server!.get<TimelineInfo>(base);
      return parseLsn(current.last_record_lsn) >= target ? current : undefined;
    }, 60_000, 'Strata to ingest pgbench -i');
    const lsn = parseLsn(info.last_record_lsn);
    const rel = { spcNode: 1663, dbNode: 5, relNode: Number(relNode), forkNumber: 0 };
    const header = (reqid: number) => ({ reqid: BigInt(reqid), requestLsn: LATEST_LSN, notModifiedSince: lsn });

    const v3 = await openPagestream(server, 3, tenant.id, created.timeline_id);
    connections.push(v3);
    const blocks = Array.from({ length: 30 }, (_, index) => index);
    const requests: PagestreamRequest[] = [
      ...blocks.map((block) => ({ kind: 'getPage' as const, header: header(1000 + block), rel, blockNumber: block })),
      { kind: 'nblocks', header: header(1), rel },
      { kind: 'exists', header: header(2), rel },
      { kind: 'exists', header: header(3), rel: { ...rel, relNode: 999_999 } },
      { kind: 'nblocks', header: header(4), rel: { ...rel, forkNumber: 1, relNode: 999_999 } },
      { kind: 'getSlruSegment', header: header(5), slruKind: 0, segment: 0 },
      { kind: 'dbSize', header: header(6), dbNode: 5 },
      { kind: 'getPage', header: { reqid: 7n, requestLsn: lsn - 8, notModifiedSince: lsn }, rel, blockNumber: 0 },
      { kind: 'getPage', header: header(8), rel: { ...rel, relNode: 999_999 }, blockNumber: 0 },
      { kind: 'nblocks', header: { reqid: 9n, requestLsn: lsn, notModifiedSince: lsn }, rel },
      { kind: 'getPage', header: { reqid: 10n, requestLsn: lsn, notModifiedSince: 0 }, rel, blockNumber: 3 },
    ];
    const responses = await exchange(v3, 3, requests);
    assert.equal(responses.map((response) => (response.kind === 'error' ? response.header.reqid : response.request.header.reqid)), requests.map((request) => request.header.reqid), 'answered in order, each echoing its reqid');
    for (const block of blocks) {
      const response = responses[block]!;
      assert.is(response.kind, 'getPage');
      const http = await server.request('GET', `${base}/getpage?rel=1663/5/${relNode}&fork=main&blk=${block}&lsn=${info.last_record_lsn}`);
      assert.equal((response as { page: Uint8Array }).page, new Uint8Array(http.body as Uint8Array), `block ${block} equals the HTTP page`);
    }
    const [nblocks, exists, missing, missingFsm, slru, dbSize, badLsn, missingPage, nblocksAt, pageAt] = responses.slice(blocks.length);
    assert.equal(nblocks, { kind: 'nblocks', request: requests[blocks.length] as never, blocks: Number(size) });
    assert.is((exists as { exists: boolean }).exists, true);
    assert.is((missing as { exists: boolean }).exists, false);
    assert.is((missingFsm as { blocks: number }).blocks, 0, 'a missing FSM fork has no blocks');
    const clog = await server.request('GET', `${base}/slru?kind=clog&segment=0&lsn=${info.last_record_lsn}`);
    assert.equal((slru as { segmentBytes: Uint8Array }).segmentBytes, new Uint8Array(clog.body as Uint8Array));
    // DbSize is the sum of every fork's size of every relation of the database (Strata's sizes,
    // asked one by one over HTTP); it lies between the primary's WAL-logged forks (main, init) and
    // all its forks (FSM and VM pages are partly extended without WAL on the primary).
    const relations = (await cluster.sql(`SELECT pg_relation_filenode(c.oid) FROM pg_class c
      WHERE pg_relation_filenode(c.oid) IS NOT NULL AND NOT c.relisshared AND c.reltablespace = 0 AND c.relpersistence <> 't'`)).split('\n');
    let strataBytes = 0;
    for (const relation of relations) {
      for (const fork of ['main', 'fsm', 'vm', 'init']) {
        const answer = await server.request('GET', `${base}/relsize?rel=1663/5/${relation}&fork=${fork}&lsn=${info.last_record_lsn}`);
        if (answer.status === 200) strataBytes += (answer.body as { size: number }).size * 8192;
      }
    }
    const forkBytes = async (forks: string) => Number(await cluster.sql(`SELECT sum(pg_relation_size(c.oid, f)) FROM pg_class c, unnest(ARRAY[${forks}]) f
      WHERE pg_relation_filenode(c.oid) IS NOT NULL AND NOT c.relisshared AND c.reltablespace = 0 AND c.relpersistence <> 't'`));
    assert.equal(dbSize, { kind: 'dbSize', request: requests[blocks.length + 5] as never, bytes: strataBytes }, 'DbSize: the sum of every fork of every relation');
    const [logged, all] = [await forkBytes("'main','init'"), await forkBytes("'main','fsm','vm','init'")];
    assert.ok(strataBytes >= logged && strataBytes <= all, `DbSize ${strataBytes} between the primary's main+init ${logged} and all forks ${all}`);
    assert.is(badLsn!.kind, 'error');
    assert.match((badLsn as { message: string }).message, /invalid request/);
    assert.is(missingPage!.kind, 'error');
    assert.is((nblocksAt as { blocks: number }).blocks, Number(size));
    assert.equal((pageAt as { page: Uint8Array }).page, (responses[3] as { page: Uint8Array }).page);

    // v2: no echo, the same pages.
    const v2 = await openPagestream(server, 2, tenant.id, created.timeline_id);
    connections.push(v2);
    const [page2] = await exchange(v2, 2, [{ kind: 'getPage', header: header(0), rel, blockNumber: 2 }]);
    assert.equal((page2 as { page: Uint8Array }).page, (responses[2] as { page: Uint8Array }).page);

    // An unknown command is an ErrorResponse, and the session goes on.
    const [host, port] = server.server.pgAddress.split(':');
    const plain = await PgConnection.connect(`host=${host} port=${port} user=compute dbname=postgres`);
    connections.push(plain);
    await plain.simpleQuery('SELECT 1').then(() => assert.unreachable('accepted'), (error: { code?: string; message: string }) => assert.match(error.message, /unsupported command/));
    await plain.simpleQuery(`pagestream_v3 ${tenant.id} 00000000000000000000000000000000`).then(() => assert.unreachable('accepted'), (error: { message: string }) => assert.match(error.message, /not found|timeline/i));

    // A malformed pagestream message ends the connection with a FATAL protocol violation.
    const broken = await openPagestream(server, 3, tenant.id, created.timeline_id);
    connections.push(broken);
    broken.write(serializeCopyData(Uint8Array.of(42, 1, 2, 3)));
    const fatal = await broken.nextMessage().catch((error: unknown) => error);
    assert.match(String((fatal as { message?: string }).message ?? JSON.stringify(fatal)), /08P01|protocol|tag/);
    server.logs.assertClean();
  } finally {
    for (const connection of connections) connection.destroy();
    await server?.stop();
    await cluster.destroy();
  }
});

test.run();
