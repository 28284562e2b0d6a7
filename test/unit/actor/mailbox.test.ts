/**
 * Bounded mailboxes: a full mailbox rejects with PS_ERR_MAILBOX_FULL naming the actor, both on
 * the Mailbox itself and through an actor whose receive is blocked.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Mailbox } from '../../../src/actor/mailbox.js';
import { ActorRegistry } from '../../../src/actor/registry.js';
import { StrataError, isStrataError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/observability/log.js';

test('a mailbox keeps FIFO order across wrap-around and refuses the item past capacity', () => {
  const mailbox = new Mailbox<number>({ address: 'test/fifo', capacity: 3 });
  mailbox.enqueue(1);
  mailbox.enqueue(2);
  assert.is(mailbox.dequeue(), 1);
  mailbox.enqueue(3);
  mailbox.enqueue(4);
  try {
    mailbox.enqueue(5);
    assert.unreachable('enqueue past capacity must throw');
  } catch (error) {
    assert.ok(isStrataError(error, 'PS_ERR_MAILBOX_FULL'), String(error));
    assert.is((error as StrataError).context['actor'], 'test/fifo');
  }
  assert.equal(mailbox.drain(), [2, 3, 4]);
  assert.is(mailbox.size, 0);
});

test('telling an actor whose mailbox is full throws PS_ERR_MAILBOX_FULL', async () => {
  const registry = new ActorRegistry({ logger: silentLogger() });
  let release: () => void = () => undefined;
  const blocked = new Promise<void>((resolve) => { release = resolve; });
  const handled: number[] = [];
  await registry.spawn<number>({
    address: 'test/slow',
    mailboxCapacity: 2,
    behavior: { async receive(message) { await blocked; handled.push(message); } },
  });
  registry.tell('test/slow', 1); // taken by receive at once (in flight)
  await Promise.resolve();
  registry.tell('test/slow', 2);
  registry.tell('test/slow', 3);
  assert.throws(() => registry.tell('test/slow', 4), (error: unknown) => isStrataError(error, 'PS_ERR_MAILBOX_FULL'));
  release();
  await registry.stopAll();
  assert.equal(handled, [1]); // 2 and 3 were queued at shutdown: rejected, not drained
});

test.run();
