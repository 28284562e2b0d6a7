/**
 * Fan-out of PackedRecords batches to consumer threads through MessagePorts, with credits: the
 * sending side of the port protocol of wal-decode-protocol.ts (WalDecodePortMessage out,
 * WalDecodePortAnswer back). Every batch goes to every port, and only when each port has a credit
 * left, so no consumer ever has more than `credits` batches waiting.
 *
 * Used by the WAL decode thread (a files session delivering to ports) and by a replay worker that
 * decodes the stream itself and hands it on to the other workers (replay-pool.ts).
 *
 * A consumer whose thread died closes its port: `ready` then throws, so the producer stops
 * decoding for nobody. The consumer closes its port once it has `end` or `failed` (closing here
 * could drop that last message).
 */
import type { MessagePort } from 'node:worker_threads';
import { StrataError, type SerializedStrataError } from '../errors.js';
import { packedTransferList, type PackedRecords } from './packed-records.js';
import type { WalDecodePortAnswer, WalDecodePortMessage } from './wal-decode-protocol.js';

export class BatchFanout {
  readonly #ports: readonly MessagePort[];
  readonly #left: number[];
  #wake: (() => void) | undefined;
  #consumerGone: number | undefined;
  #cancelled = false;
  #finished = false;

  constructor(ports: readonly MessagePort[], credits: number) {
    this.#ports = ports;
    this.#left = ports.map(() => credits);
    for (const [index, consumer] of ports.entries()) {
      consumer.once('close', () => {
        this.#consumerGone ??= index;
        this.#wakeUp();
      });
      consumer.on('message', (answer: WalDecodePortAnswer) => {
        if (answer?.kind !== 'credit') return;
        this.#left[index]! += 1;
        this.#wakeUp();
      });
    }
  }

  /**
   * Resolves when every port has a credit (and takes one from each); false when the producer's
   * session was cancelled meanwhile. Throws PS_ERR_IO when a consumer closed its port.
   */
  async ready(): Promise<boolean> {
    while (this.#left.some((count) => count === 0) && !this.#cancelled && this.#consumerGone === undefined) {
      await new Promise<void>((resolve) => { this.#wake = resolve; });
    }
    if (this.#consumerGone !== undefined) {
      throw new StrataError('PS_ERR_IO', `consumer ${this.#consumerGone} of the WAL batches closed its port before the end`);
    }
    if (this.#cancelled) return false;
    for (let index = 0; index < this.#left.length; index++) this.#left[index]! -= 1;
    return true;
  }

  /**
   * Posts `batch` to every port. The columns are cloned for each, except that with `transferLast`
   * the last port gets them transferred (the sender must not read them afterwards); the WAL bytes
   * are SharedArrayBuffers, shared by all.
   */
  send(batch: PackedRecords, transferLast: boolean): void {
    const message: WalDecodePortMessage = { kind: 'batch', batch };
    const last = this.#ports.length - 1;
    for (let index = 0; index < last; index++) this.#ports[index]!.postMessage(message);
    this.#ports[last]!.postMessage(message, transferLast ? packedTransferList(batch) : []);
  }

  end(records: number): void {
    this.#finish({ kind: 'end', records });
  }

  fail(error: SerializedStrataError): void {
    this.#finish({ kind: 'failed', error });
  }

  /** Stops waiting in `ready` (it resolves false); consumers that got no last message hear `failed`. */
  cancel(reason: string): void {
    this.#cancelled = true;
    this.#wakeUp();
    this.fail(new StrataError('PS_ERR_IO', reason).toJSON());
  }

  #finish(message: WalDecodePortMessage): void {
    if (this.#finished) return;
    this.#finished = true;
    for (const consumer of this.#ports) {
      consumer.removeAllListeners('message');
      consumer.postMessage(message);
    }
  }

  #wakeUp(): void {
    this.#wake?.();
    this.#wake = undefined;
  }
}
