/**
 * Every bound in one place, checked against each other when the module loads.
 *
 * Names carry their unit last (…Bytes, …Ms, …Max). A limit that is also a config key has its
 * default here and its validation in config.ts.
 */
import { assert } from './assert.js';

export const limits = {
  /** Messages an actor mailbox holds before `tell` fails with PS_ERR_MAILBOX_FULL. */
  mailboxCapacityMax: 1024,
  /** Default bound for `ask` replies. */
  askTimeoutMsDefault: 30_000,
  /** Restarts a supervisor grants a child within `restartWindowMs` before marking it broken. */
  restartsMax: 3,
  restartWindowMs: 60_000,
  /** Bytes in one SharedArrayBuffer ring (a power of two). */
  ringCapacityBytes: 1 << 20,
  /** Largest single message on a ring; larger ones fall back to MessagePort. */
  ringMessageBytesMax: 256 * 1024,
  /**
   * An open layer older than this is flushed even below checkpoint_distance, so disk_consistent_lsn
   * (and with it the primary's slot) moves under light load too. Neon uses 10 min; Strata flushes
   * sooner because the slot pins the primary's WAL until then.
   */
  checkpointTimeoutMsDefault: 60_000,
  /** How long a read at an LSN above last_record_lsn waits before PS_ERR_TIMEOUT. */
  waitLsnTimeoutMsDefault: 10_000,
  /** Decoded WAL records queued between walreceiver and ingest. */
  ingestQueueRecordsMax: 65_536,
  /** A WAL record larger than this is treated as corrupt (PostgreSQL's own cap is 1 GiB). */
  walRecordBytesMax: 1024 * 1024 * 1024,
  /** Reconnect backoff of the walreceiver. */
  reconnectDelayMsMin: 100,
  reconnectDelayMsMax: 10_000,
  /** HTTP request bodies. */
  httpBodyBytesMax: 1024 * 1024,
  /** Young-generation size of each actor thread's heap (V8 semi-spaces), in MiB. */
  actorThreadYoungGenerationMb: 64,
  /** Tenants per server and timelines per tenant. */
  tenantsMax: 10_000,
  timelinesPerTenantMax: 1_000,
  /** Actors one thread's registry hosts (actor runtime). */
  actorsPerThreadMax: 100_000,
  /** Requests (asks, spawns, controls) awaiting a reply from one actor worker thread. */
  actorThreadPendingMax: 65_536,
  /** Largest backend message the pgwire client accepts; longer frames are a protocol error. */
  pgwireMessageBytesMax: 64 * 1024 * 1024,
  /** Bytes of parsed backend messages a connection queues before it pauses its socket. */
  pgwireReceiveQueueBytesMax: 4 * 1024 * 1024,
  /** Page service: largest client message (pagestream requests are under 64 bytes). */
  pageServiceMessageBytesMax: 64 * 1024,
  /** Page service: requests of one connection being answered at once before its socket pauses. */
  pageServiceInFlightMax: 32,
  /** Storage: bytes of one append-only chunk of an in-memory layer (larger values get their own). */
  inMemoryLayerChunkBytes: 1024 * 1024,
  /** Storage: frozen in-memory layers waiting for their flush before flush() refuses more. */
  frozenLayersMax: 8,
  /** Storage: open layer-file handles a timeline keeps cached. */
  layerFileHandlesMax: 64,
  /** Bytes of layer file indexes a timeline keeps in memory (48 per version); the rest are re-read. */
  layerIndexBytesMax: 64 * 1024 * 1024,
  /** Storage: target size of one image layer file written by a bulk import. */
  imageLayerBytesTarget: 256 * 1024 * 1024,
  /**
   * Import: bytes of small images (small files, SLRU pages, relation sizes and directories) a base
   * backup import sorts in memory before it spills a sorted run to a temp file (image-sorter.ts).
   */
  importSortBufferBytes: 64 * 1024 * 1024,
  /**
   * Import: relation files at least this large stream straight into image layer files of their
   * own; smaller ones are sorted together, so a database of many small tables makes few files.
   */
  importStreamedFileBytesMin: 8 * 1024 * 1024,
  /** Storage: default open-layer size past which the timeline should flush (checkpoint_distance). */
  checkpointDistanceBytesDefault: 256 * 1024 * 1024,
  /** Computes (PostgreSQL processes) one server runs at once: the default of `max_computes`. */
  computesMaxDefault: 8,
  /** Upper bound of `max_computes`: each compute is a postmaster with its own shared memory. */
  computesMaxLimit: 64,
  /** Stopped and Failed computes kept in the registry (with their log tail) for inspection. */
  computesFinishedKeptMax: 16,
  /** `pg_ctl start -w -t` and `pg_ctl stop -w -t`: how long a compute may take to start or stop. */
  computePgCtlTimeoutMs: 60_000,
  /** Lines of a compute's PostgreSQL log its status carries when it failed. */
  computeLogTailLines: 20,
  /** How often running computes' postmasters are checked for life. */
  computeLivenessPeriodMs: 1_000,
} as const;

assert(Number.isInteger(Math.log2(limits.ringCapacityBytes)), 'ring capacity must be a power of two');
assert(limits.ringMessageBytesMax * 4 <= limits.ringCapacityBytes, 'a ring must hold several largest messages');
assert(limits.reconnectDelayMsMin < limits.reconnectDelayMsMax, 'reconnect backoff must grow');
assert(limits.pgwireReceiveQueueBytesMax <= limits.pgwireMessageBytesMax, 'a pgwire queue pauses before one max message');
assert(limits.restartsMax >= 1, 'a supervisor grants at least one restart');
assert(limits.inMemoryLayerChunkBytes <= limits.checkpointDistanceBytesDefault, 'an open layer holds at least one chunk before it flushes');
assert(limits.importStreamedFileBytesMin <= limits.importSortBufferBytes, 'a file too small to stream fits the sort buffer alone');
assert(limits.computesMaxDefault <= limits.computesMaxLimit, 'the default compute bound is within its limit');
