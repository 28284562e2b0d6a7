/**
 * Builds expected protocol frames byte by byte for the pgwire codec tests, independently of the
 * serializer under test (so a serializer bug cannot hide behind a shared helper).
 */
export class BufferList {
  readonly #parts: Buffer[] = [];

  addInt16(value: number): this {
    const buffer = Buffer.alloc(2);
    buffer.writeInt16BE(value);
    return this.#add(buffer);
  }

  addInt32(value: number): this {
    const buffer = Buffer.alloc(4);
    buffer.writeInt32BE(value);
    return this.#add(buffer);
  }

  addUInt64(high: number, low: number): this {
    return this.addUInt32(high).addUInt32(low);
  }

  addUInt32(value: number): this {
    const buffer = Buffer.alloc(4);
    buffer.writeUInt32BE(value);
    return this.#add(buffer);
  }

  addInt64(value: bigint): this {
    const buffer = Buffer.alloc(8);
    buffer.writeBigInt64BE(value);
    return this.#add(buffer);
  }

  addByte(value: number): this {
    return this.#add(Buffer.from([value]));
  }

  addChar(character: string): this {
    return this.#add(Buffer.from(character, 'latin1'));
  }

  addCString(text: string): this {
    return this.#add(Buffer.from(`${text}\0`, 'utf8'));
  }

  add(bytes: Uint8Array): this {
    return this.#add(Buffer.from(bytes));
  }

  /** The body alone, or a framed message: code byte + i32 length (counting itself) + body. */
  join(code?: string): Buffer {
    const body = Buffer.concat(this.#parts);
    if (code === undefined) return body;
    const header = Buffer.alloc(5);
    header.write(code, 0, 'latin1');
    header.writeInt32BE(body.length + 4, 1);
    return Buffer.concat([header, body]);
  }

  #add(buffer: Buffer): this {
    this.#parts.push(buffer);
    return this;
  }
}
