/**
 * Messages between a LayerFlushWorker (flush-worker.ts, on the ingest thread) and its thread
 * (workers/layer-flush-thread.ts). Typed so both sides agree; errors cross as
 * SerializedStrataError (errors.ts) because structured clone drops the class.
 */
import type { SerializedStrataError } from '../errors.js';
import type { DeltaLayerSnapshot } from './delta-layer-snapshot.js';
import type { FinishedLayerFile } from './layer-file-writer.js';

/** Write `snapshot` as a delta layer file in `directory`, through the temp file `tempPath`. */
export interface WriteDeltaRequest {
  kind: 'writeDelta';
  id: number;
  directory: string;
  tempPath: string;
  snapshot: DeltaLayerSnapshot;
}

/**
 * Apply a failpoint spec in the flush thread (failpoints.ts "Scope"): the current configuration
 * when the thread starts, then every reconfiguration of the thread that owns it. Applied on
 * arrival, not queued behind writes: it must be able to release a write paused at a failpoint.
 */
export interface ConfigureFailpointsRequest {
  kind: 'failpoints';
  spec: string;
}

export type FlushWorkerRequest = WriteDeltaRequest | ConfigureFailpointsRequest;

export type FlushWorkerResponse =
  | { kind: 'written'; id: number; finished: FinishedLayerFile }
  | { kind: 'failed'; id: number; error: SerializedStrataError };
