/**
 * The bounded message queue: pauses the producer above its bound, resumes below half, and delivers
 * queued messages before a failure.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MessageQueue } from '../../../src/pgwire/message-queue.js';
import type { BackendMessage } from '../../../src/pgwire/messages.js';

const data = (bytes: number): BackendMessage => ({ name: 'copyData', length: bytes + 4, data: new Uint8Array(bytes) });

test('pauses above the bound and resumes below half', async () => {
  const events: string[] = [];
  const queue = new MessageQueue({ bytesMax: 100, pause: () => events.push('pause'), resume: () => events.push('resume') });
  for (let index = 0; index < 5; index++) queue.push(data(26)); // 30 bytes each
  assert.equal(events, ['pause']);
  assert.is(queue.queuedBytes, 150);
  await queue.next();
  await queue.next();
  assert.equal(events, ['pause']);
  await queue.next(); // 60 left
  assert.equal(events, ['pause']);
  await queue.next(); // 30 left, below half
  assert.equal(events, ['pause', 'resume']);
});

test('a waiting consumer gets the next message directly', async () => {
  const queue = new MessageQueue({ bytesMax: 100, pause: () => undefined, resume: () => undefined });
  const pending = queue.next();
  queue.push({ name: 'copyDone', length: 4 });
  assert.is((await pending).name, 'copyDone');
  assert.is(queue.queuedBytes, 0);
});

test('delivers queued messages before the failure', async () => {
  const queue = new MessageQueue({ bytesMax: 100, pause: () => undefined, resume: () => undefined });
  queue.push({ name: 'copyDone', length: 4 });
  queue.fail(new Error('socket closed'));
  assert.is((await queue.next()).name, 'copyDone');
  try {
    await queue.next();
    assert.unreachable('expected the failure');
  } catch (error) {
    assert.is((error as Error).message, 'socket closed');
  }
});

test('a waiting consumer is rejected by a failure', async () => {
  const queue = new MessageQueue({ bytesMax: 100, pause: () => undefined, resume: () => undefined });
  const pending = queue.next();
  queue.fail(new Error('gone'));
  try {
    await pending;
    assert.unreachable('expected the failure');
  } catch (error) {
    assert.is((error as Error).message, 'gone');
  }
});

test.run();
