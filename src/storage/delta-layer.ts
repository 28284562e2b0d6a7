/**
 * L0 delta layer files: every version a frozen in-memory layer holds, for its key range
 * [keyStart, keyEnd) and LSN range [lsnStart, lsnEnd), written once and never modified.
 *
 * Format: layer-file-format.ts (header | value blobs | index | footer, CRC-32C on each part and
 * each blob). Name: layer-name.ts, e.g.
 * `000000067f00000005000004eb0000000000-000000067f00000005000004eb0100000000__00000000014E8A10-00000000014F0B28`.
 * Reading: layer-file-reader.ts (index in memory, values by positioned reads).
 */
import { assert } from '../assert.js';
import type { FileHandleCache } from './file-handle-cache.js';
import type { Fs } from './fs.js';
import type { InMemoryLayer } from './in-memory-layer.js';
import { LayerFileKind } from './layer-file-format.js';
import { LayerFileReader } from './layer-file-reader.js';
import { LayerFileWriter, type FinishedLayerFile } from './layer-file-writer.js';
import type { LayerName } from './layer-name.js';

/** Writes a frozen, non-empty in-memory layer as a delta layer file in `directory` (crash-safe). */
export async function writeDeltaLayer(options: { fs: Fs; directory: string; layer: InMemoryLayer }): Promise<FinishedLayerFile> {
  const { layer } = options;
  assert(layer.isFrozen, 'only a frozen layer is written');
  assert(!layer.isEmpty, 'an empty layer has nothing to write');
  const writer = await LayerFileWriter.create(options.fs, options.directory, LayerFileKind.Delta);
  try {
    for (const entry of layer.entries()) await writer.add(entry.key, entry.lsn, entry.encoded);
  } catch (error) {
    await writer.abort();
    throw error;
  }
  const finished = await writer.finish({ lsnStart: layer.lsnStart, lsnEnd: layer.lsnEnd, keyStart: layer.keyStart, keyEnd: layer.keyEnd });
  assert(finished.entryCount === layer.versionCount, 'the file holds every version of the layer');
  return finished;
}

/** Opens and verifies a delta layer file whose name parsed as `name`. */
export async function openDeltaLayer(path: string, name: LayerName, handles: FileHandleCache): Promise<LayerFileReader> {
  assert(name.kind === 'delta', 'openDeltaLayer needs a delta layer name');
  const reader = await LayerFileReader.open(path, name, handles);
  assert(!reader.isImage, 'a verified delta file has the delta kind');
  return reader;
}
