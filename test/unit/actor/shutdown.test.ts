/**
 * Graceful shutdown of local actors: abort the signal, let the in-flight message finish, reject
 * queued messages with PS_ERR_SHUTTING_DOWN (they are NOT drained), wait for gate holders, call
 * stop(), and resolve.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Gate } from '../../../src/actor/gate.js';
import { ActorRegistry } from '../../../src/actor/registry.js';
import { isStrataError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/observability/log.js';

test('stop with messages in flight: in-flight completes, queued ones are rejected, stop resolves', async () => {
  const registry = new ActorRegistry({ logger: silentLogger() });
  const events: string[] = [];
  let sawAbort = false;
  await registry.spawn<number>({
    address: 'test/busy',
    behavior: {
      async receive(message, context) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        sawAbort ||= context.signal.aborted;
        events.push(`done ${message}`);
        return message;
      },
      stop() { events.push('stop'); },
    },
  });
  const first = registry.ask('test/busy', 1);
  const queued = [2, 3].map((message) => registry.ask('test/busy', message).then(() => 'resolved', (error: unknown) => error));
  await new Promise((resolve) => setTimeout(resolve, 10));
  await registry.stopAll();
  assert.is(await first, 1);
  for (const outcome of await Promise.all(queued)) {
    assert.ok(isStrataError(outcome, 'PS_ERR_SHUTTING_DOWN'), String(outcome));
  }
  assert.equal(events, ['done 1', 'stop']);
  assert.ok(sawAbort, 'the in-flight message sees the aborted signal');
  await registry.ask('test/busy', 4).then(() => assert.unreachable('no actor after stop'), (error: unknown) => assert.ok(isStrataError(error, 'PS_ERR_NOT_FOUND')));
});

test('shutdown waits for gate holders (I/O started by the actor)', async () => {
  const registry = new ActorRegistry({ logger: silentLogger() });
  let ioFinished = false;
  await registry.spawn({
    address: 'test/io',
    behavior: {
      receive(_message, context) {
        void context.gate.run(async () => {
          await new Promise((resolve) => setTimeout(resolve, 60));
          ioFinished = true;
        });
        return 'started';
      },
    },
  });
  assert.is(await registry.ask('test/io', 'go'), 'started');
  await registry.stopAll();
  assert.ok(ioFinished, 'stop resolved only after the gate holder left');
});

test('a closed gate refuses entry with PS_ERR_SHUTTING_DOWN', async () => {
  const gate = new Gate('test gate');
  const guard = gate.enter();
  const closed = gate.close();
  assert.throws(() => gate.enter(), (error: unknown) => isStrataError(error, 'PS_ERR_SHUTTING_DOWN'));
  assert.is(gate.holders, 1);
  guard.leave();
  await closed;
  assert.is(gate.holders, 0);
});

test.run();
