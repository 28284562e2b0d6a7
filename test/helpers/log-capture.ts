/**
 * A logger for tests that records every line and fails the test on any unexpected WARN or ERROR.
 * Pass `allow` patterns (matched against `msg`) for lines the test provokes on purpose.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Logger } from '../../src/observability/log.js';

export interface CapturedLine { level: number; msg: string; [field: string]: unknown }

export class LogCapture {
  readonly lines: CapturedLine[] = [];
  readonly logger: Logger;
  private readonly allow: RegExp[];

  constructor(allow: RegExp[] = [], level: pino.LevelWithSilent = 'debug') {
    this.allow = allow;
    const sink = new Writable({
      write: (chunk, _encoding, callback) => {
        for (const text of String(chunk).split('\n')) {
          if (text.trim()) this.lines.push(JSON.parse(text) as CapturedLine);
        }
        callback();
      },
    });
    this.logger = pino({ level }, sink);
  }

  /** Lines at WARN (40) or above that no allow pattern matches. */
  unexpected(): CapturedLine[] {
    return this.lines.filter((line) => line.level >= 40 && !this.allow.some((pattern) => pattern.test(line.msg)));
  }

  /** Throws when an unexpected WARN/ERROR was logged; call at the end of every test. */
  assertClean(): void {
    const bad = this.unexpected();
    if (bad.length > 0) throw new Error(`unexpected WARN/ERROR log lines:\n${bad.map((line) => JSON.stringify(line)).join('\n')}`);
  }
}
