/**
 * SharedRing: a single-producer / single-consumer byte ring in a SharedArrayBuffer, the hot path
 * between the main thread and an actor worker (page requests and 8 KiB page replies), avoiding
 * postMessage's structured clone and event-loop hop.
 *
 * Layout (one SharedArrayBuffer):
 *
 *   header  Int32Array[4]: [0] head  bytes consumed (u32 counter, wraps at 2^32)
 *                          [1] tail  bytes produced (u32 counter, wraps at 2^32)
 *                          [2] closed flag   [3] unused
 *   data    capacity bytes (a power of two), records back to back:
 *           | u32 length | payload (length bytes) | pad to 4 |
 *
 * Counters only grow; `tail - head` (mod 2^32) is the bytes in use, and `counter & (capacity-1)`
 * is the position. Because capacity divides 2^32 the counters wrap cleanly. Records are 4-byte
 * aligned so a length prefix never straddles the end; a payload may, and is copied in two parts.
 *
 * Memory order: the producer writes the record with plain stores, then publishes it with
 * `Atomics.store(tail)` and wakes the consumer with `Atomics.notify(tail)`; the consumer reads
 * `tail` with `Atomics.load` before reading the record and releases space with
 * `Atomics.store(head)`. Atomics are sequentially consistent, which orders the plain accesses.
 *
 * Waiting: `waitForData` blocks with Atomics.wait (a thread doing nothing else, e.g. a benchmark
 * echo thread); `waitForDataAsync` uses Atomics.waitAsync and keeps the event loop free, which is
 * what actor threads use because their actors also do asynchronous I/O. A full ring or a message
 * above `messageBytesMax` makes `tryWrite` return false: the caller falls back to MessagePort.
 */
import { assert } from '../assert.js';
import { limits } from '../limits.js';

const HEAD = 0;
const TAIL = 1;
const CLOSED = 2;
const HEADER_BYTES = 16;
const LENGTH_BYTES = 4;

type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' | 'ok' } | { async: true; value: Promise<'ok' | 'timed-out'> };
type WaitAsync = (array: Int32Array, index: number, value: number, timeoutMs?: number) => WaitAsyncResult;
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

export class SharedRing {
  readonly buffer: SharedArrayBuffer;
  readonly capacityBytes: number;
  readonly messageBytesMax: number;
  readonly #header: Int32Array;
  readonly #data: Uint8Array;
  readonly #lengths: DataView;
  readonly #mask: number;

  private constructor(buffer: SharedArrayBuffer, messageBytesMax: number) {
    const capacityBytes = buffer.byteLength - HEADER_BYTES;
    assert(capacityBytes >= 64 && (capacityBytes & (capacityBytes - 1)) === 0, 'ring capacity is a power of two ≥ 64');
    assert(capacityBytes <= 1 << 30, 'ring capacity stays below 2^30 so u32 counters wrap cleanly');
    assert(messageBytesMax > 0 && recordBytes(messageBytesMax) <= capacityBytes, 'the largest message fits in the ring');
    this.buffer = buffer;
    this.capacityBytes = capacityBytes;
    this.messageBytesMax = messageBytesMax;
    this.#header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.#data = new Uint8Array(buffer, HEADER_BYTES, capacityBytes);
    this.#lengths = new DataView(buffer, HEADER_BYTES, capacityBytes);
    this.#mask = capacityBytes - 1;
  }

  /** A new, empty ring. */
  static create(capacityBytes: number = limits.ringCapacityBytes, messageBytesMax: number = limits.ringMessageBytesMax): SharedRing {
    return new SharedRing(new SharedArrayBuffer(HEADER_BYTES + capacityBytes), messageBytesMax);
  }

  /** The other end of a ring whose buffer crossed a thread boundary. */
  static attach(buffer: SharedArrayBuffer, messageBytesMax: number = limits.ringMessageBytesMax): SharedRing {
    return new SharedRing(buffer, messageBytesMax);
  }

  /** Bytes in use, including length prefixes and padding. */
  get usedBytes(): number {
    return (Atomics.load(this.#header, TAIL) - Atomics.load(this.#header, HEAD)) >>> 0;
  }

  get isClosed(): boolean {
    return Atomics.load(this.#header, CLOSED) !== 0;
  }

  hasData(): boolean {
    return Atomics.load(this.#header, TAIL) !== Atomics.load(this.#header, HEAD);
  }

  /** Appends one message; false when it is too large or does not fit now. Producer side only. */
  tryWrite(message: Uint8Array): boolean {
    return this.tryWriteParts(message, undefined);
  }

  /** Appends `first` followed by `second` as ONE message (header + payload without a copy). */
  tryWriteParts(first: Uint8Array, second: Uint8Array | undefined): boolean {
    const length = first.byteLength + (second?.byteLength ?? 0);
    if (length > this.messageBytesMax || this.isClosed) return false;
    const tail = Atomics.load(this.#header, TAIL) >>> 0;
    const used = (tail - (Atomics.load(this.#header, HEAD) >>> 0)) >>> 0;
    assert(used <= this.capacityBytes, 'a ring never holds more than its capacity');
    const needed = recordBytes(length);
    if (used + needed > this.capacityBytes) return false;
    const position = tail & this.#mask;
    this.#lengths.setUint32(position, length, true);
    let offset = (position + LENGTH_BYTES) & this.#mask;
    offset = this.#copyIn(first, offset);
    if (second !== undefined) this.#copyIn(second, offset);
    Atomics.store(this.#header, TAIL, (tail + needed) | 0);
    Atomics.notify(this.#header, TAIL);
    return true;
  }

  /** Removes and returns the oldest message (a fresh copy), or undefined. Consumer side only. */
  read(): Uint8Array | undefined {
    const head = Atomics.load(this.#header, HEAD) >>> 0;
    const tail = Atomics.load(this.#header, TAIL) >>> 0;
    if (head === tail) return undefined;
    const position = head & this.#mask;
    const length = this.#lengths.getUint32(position, true);
    assert(length <= this.messageBytesMax, 'a ring record length is within bounds');
    assert(recordBytes(length) <= ((tail - head) >>> 0), 'a ring record was published whole');
    const message = new Uint8Array(length);
    const start = (position + LENGTH_BYTES) & this.#mask;
    const firstPart = Math.min(length, this.capacityBytes - start);
    message.set(this.#data.subarray(start, start + firstPart), 0);
    if (firstPart < length) message.set(this.#data.subarray(0, length - firstPart), firstPart);
    Atomics.store(this.#header, HEAD, (head + recordBytes(length)) | 0);
    return message;
  }

  /** Blocks the calling thread until data arrives, the ring closes or `timeoutMs` passes. */
  waitForData(timeoutMs: number): boolean {
    assert(timeoutMs >= 0, 'a wait timeout is never negative');
    const tail = Atomics.load(this.#header, TAIL);
    if (tail !== Atomics.load(this.#header, HEAD) || this.isClosed) return this.hasData();
    Atomics.wait(this.#header, TAIL, tail, timeoutMs);
    return this.hasData();
  }

  /** Like `waitForData` without blocking the event loop. Resolves true when data is available. */
  async waitForDataAsync(timeoutMs: number): Promise<boolean> {
    assert(timeoutMs >= 0, 'a wait timeout is never negative');
    const tail = Atomics.load(this.#header, TAIL);
    if (tail !== Atomics.load(this.#header, HEAD) || this.isClosed) return this.hasData();
    const result = waitAsync(this.#header, TAIL, tail, timeoutMs);
    if (result.async) await result.value;
    return this.hasData();
  }

  /** Refuses further writes and wakes any waiter (shutdown). */
  close(): void {
    Atomics.store(this.#header, CLOSED, 1);
    Atomics.notify(this.#header, TAIL);
  }

  #copyIn(part: Uint8Array, offset: number): number {
    const firstPart = Math.min(part.byteLength, this.capacityBytes - offset);
    this.#data.set(firstPart === part.byteLength ? part : part.subarray(0, firstPart), offset);
    if (firstPart < part.byteLength) this.#data.set(part.subarray(firstPart), 0);
    return (offset + part.byteLength) & this.#mask;
  }
}

/** Bytes a record of `length` payload bytes takes: prefix plus payload padded to 4. */
function recordBytes(length: number): number {
  return LENGTH_BYTES + ((length + 3) & ~3);
}
