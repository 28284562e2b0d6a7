/**
 * `concurrent` messages: a read that waits for later state does not block the sequential
 * messages behind it, and shutdown waits for it (it honours the abort signal).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ActorRegistry } from '../../../src/actor/registry.js';
import type { Behavior } from '../../../src/actor/types.js';
import { silentLogger } from '../../../src/observability/log.js';

type Message = { kind: 'ingest'; value: number } | { kind: 'waitFor'; value: number };

function waitingReader(): Behavior<Message> {
  let latest = 0;
  const waiters: { value: number; wake: () => void }[] = [];
  return {
    concurrent: (message) => message.kind === 'waitFor',
    async receive(message, context) {
      if (message.kind === 'ingest') {
        latest = message.value;
        for (const waiter of waiters.splice(0)) if (waiter.value <= latest) waiter.wake(); else waiters.push(waiter);
        return latest;
      }
      if (latest < message.value) {
        await new Promise<void>((resolve, reject) => {
          waiters.push({ value: message.value, wake: resolve });
          context.signal.addEventListener('abort', () => reject(context.signal.reason), { once: true });
        });
      }
      return `saw ${latest}`;
    },
  };
}

test('a concurrent read waiting for later state lets sequential messages pass', async () => {
  const registry = new ActorRegistry({ logger: silentLogger() });
  await registry.spawn<Message>({ address: 'test/timeline', factory: waitingReader });
  const read = registry.ask('test/timeline', { kind: 'waitFor', value: 3 });
  assert.is(await registry.ask('test/timeline', { kind: 'ingest', value: 1 }), 1);
  assert.is(await registry.ask('test/timeline', { kind: 'ingest', value: 3 }), 3);
  assert.is(await read, 'saw 3');
  await registry.stopAll();
});

test('shutdown aborts and waits for a concurrent read still waiting', async () => {
  const registry = new ActorRegistry({ logger: silentLogger() });
  await registry.spawn<Message>({ address: 'test/timeline', factory: waitingReader });
  const read = registry.ask('test/timeline', { kind: 'waitFor', value: 9 }).then(() => 'resolved', () => 'rejected');
  await new Promise((resolve) => setImmediate(resolve));
  await registry.stopAll();
  assert.is(await read, 'rejected');
});

test.run();
