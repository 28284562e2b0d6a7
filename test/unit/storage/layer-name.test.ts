/** The layer file-name grammar: format/parse pairs and key successors. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { formatLayerName, keySuccessor, parseLayerName, type LayerName } from '../../../src/storage/layer-name.js';

const documentedDelta = '000000067f00000005000004eb0000000000-000000067f00000005000004eb0100000000__00000000014E8A10-00000000014F0B28';

test('the documented delta example parses to its ranges and formats back', () => {
  const name = parseLayerName(documentedDelta);
  assert.equal(name, { kind: 'delta', keyStart: '000000067f00000005000004eb0000000000', keyEnd: '000000067f00000005000004eb0100000000', lsnStart: 0x14e8a10, lsnEnd: 0x14f0b28 });
  assert.is(formatLayerName(name!), documentedDelta);
});

test('image names round-trip', () => {
  const name: LayerName = { kind: 'image', keyStart: '00'.repeat(18), keyEnd: '01' + '00'.repeat(17), lsn: 2 ** 40 + 5 };
  const text = formatLayerName(name);
  assert.is(text, `${'00'.repeat(18)}-01${'00'.repeat(17)}__0000010000000005`);
  assert.equal(parseLayerName(text), name);
});

test('other file names are not layers', () => {
  for (const other of ['metadata', documentedDelta + '.abc.strata-temp', documentedDelta.toUpperCase(), documentedDelta.replace('__00000000014E8A10', '__00000000014F0B28')]) {
    assert.is(parseLayerName(other), undefined, other);
  }
});

test('keySuccessor carries across hex digits', () => {
  assert.is(keySuccessor('00'.repeat(17) + '0f'), '00'.repeat(17) + '10');
  assert.is(keySuccessor('00' + 'ff'.repeat(17)), '01' + '00'.repeat(17));
});

test.run();
