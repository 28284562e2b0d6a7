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

export type FlushWorkerRequest = WriteDeltaRequest;

export type FlushWorkerResponse =
  | { kind: 'written'; id: number; finished: FinishedLayerFile }
  | { kind: 'failed'; id: number; error: SerializedStrataError };
