/**
 * Every failpoint the code knows: its name and, in one line, the step of the code it sits at.
 *
 * Why a table: a failpoint is only useful if the name a test sets is the name the code evaluates.
 * With free-form names, a typo on either side silently turns a crash test into a test of nothing.
 * So the registry (failpoints.ts) refuses to configure a name that is not here (PS_ERR_BAD_REQUEST
 * naming it), and evaluating one that is not here is a programmer error (an assert); the type
 * `FailpointName` makes most such typos compile errors already. `GET /v1/failpoints` lists this
 * table and the server logs its names at startup.
 *
 * A neutral module (no imports) so any layer can name its failpoints without pulling in the rest.
 * Names are kebab-case `<where>-<step>`. Entries marked "reserved" are registered for code that
 * is being written: they are accepted by the registry, but nothing evaluates them yet.
 *
 * Crash-relevant steps of a layer flush, in order (what a crash between two of them leaves):
 *
 *   timeline-flush ─► delta-layer-mid-write ─► delta-layer-before-rename ─►
 *   delta-layer-before-directory-fsync ─► timeline-flush-before-metadata ─►
 *   metadata-before-rename ─► metadata-before-directory-fsync ─► (next flush)
 */

export const FAILPOINT_NAMES = {
  // Attach and ingest.
  'attach-before-base-backup': 'attach: the replication slot exists, the base backup has not started',
  'walreceiver-before-ingest': 'walreceiver: a decoded batch of records is about to be handed to the timeline',
  // A flush of the open in-memory layer (timeline.ts, flush-worker / layer-flush-thread, delta-layer.ts).
  'timeline-flush': 'timeline flush: the open layer is about to be frozen and written',
  'delta-layer-mid-write': 'delta layer write: the values are appended to the temp file, the index and header are not',
  'delta-layer-before-rename': 'delta layer write: the temp file is complete and fsynced, not yet renamed to its layer name',
  'delta-layer-before-directory-fsync': 'delta layer write: renamed to its layer name, the directory not yet fsynced',
  'timeline-flush-before-metadata': 'timeline flush: the layer files are durable, the timeline metadata is not yet written',
  // The timeline metadata file (timeline-metadata.ts): every flush and the end of an attach.
  'metadata-before-rename': 'metadata write: the temp file is complete and fsynced, not yet renamed to metadata',
  'metadata-before-directory-fsync': 'metadata write: renamed to metadata, the directory not yet fsynced',
  // Image layer files (image-layer.ts), written by LayeredTimelineStore.importImages. The base
  // backup import of an attach does not use it today (it puts images and flushes a delta layer,
  // so an attach passes the delta-layer and metadata failpoints).
  'image-layer-before-rename': 'image layer write: a file is complete and fsynced, not yet renamed to its layer name',
  'image-layer-before-directory-fsync': 'image layer write: renamed to its layer name, the directory not yet fsynced',
  'image-layer-after-file': 'image layer write: a file is published; the next file (or the end of the import) has not started',
  // Storage maintenance (layered-timeline-store.ts, through the timeline actor's checkpoint hook).
  'compaction-before-write': 'compaction wrote its crash marker and chose its input L0 layers; no output file is written yet',
  'compaction-after-write-before-swap': 'compaction output files are durable, its marker still names them, the layer map still holds the inputs',
  'compaction-mid-delete': 'compaction removed its marker, swapped the layer map and deleted one, not all, of its input files',
  'gc-mid-delete': 'garbage collection persisted its cutoff and deleted one, not all, of the layer files it chose',
  'image-creation-before-write': 'image layer creation chose its key range and LSN, no file is written yet',
  // The base backup import (image-import.ts, image-layer.ts).
  'import-between-image-layers': 'base backup import: an image layer file is complete (under its temp name), the next not started',
  'import-before-publish': 'base backup import: every image layer file is written and fsynced under a temp name, none published yet',
} as const satisfies Readonly<Record<string, string>>;

/** A failpoint name the code may evaluate: a key of FAILPOINT_NAMES. */
export type FailpointName = keyof typeof FAILPOINT_NAMES;

/** A table of known names and their descriptions (FAILPOINT_NAMES, or a test's own). */
export type FailpointNameTable = Readonly<Record<string, string>>;

export function isFailpointName(name: string): name is FailpointName {
  return Object.hasOwn(FAILPOINT_NAMES, name);
}
