/**
 * A process the image import crash test kills: it opens a layered store in the directory given as
 * its argument and starts an import of 30 pages (image files of 8 pages) that pauses at the
 * failpoint between image layer files, where the test sends SIGKILL.
 */
import { configureFailpoints } from '../../src/failpoints.js';
import { relBlockKey } from '../../src/keys.js';
import { silentLogger } from '../../src/observability/log.js';
import { IMPORT_BETWEEN_IMAGE_LAYERS_FAILPOINT } from '../../src/storage/image-layer.js';
import { LayeredTimelineStore } from '../../src/storage/layered-timeline-store.js';

const directory = process.argv[2];
if (directory === undefined) throw new Error('usage: import-crash-child.js DIRECTORY');
configureFailpoints(`${IMPORT_BETWEEN_IMAGE_LAYERS_FAILPOINT}=pause`);
const store = await LayeredTimelineStore.open({ directory, logger: silentLogger(), imageLayerBytesTarget: 8 * 8192 });
const imageImport = await store.beginImageImport(Number(process.argv[3] ?? 0x3000028));
await imageImport.addSmall(relBlockKey({ spcNode: 1663, dbNode: 5, relNode: 16200, forkNumber: 0 }, 0), new Uint8Array(8192).fill(1));
const range = imageImport.openRange();
for (let block = 0; block < 30; block++) {
  await range.add(relBlockKey({ spcNode: 1663, dbNode: 5, relNode: 16400, forkNumber: 0 }, block), new Uint8Array(8192).fill(block));
}
await imageImport.commit();
process.stdout.write('committed\n');
