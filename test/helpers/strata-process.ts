/**
 * The Strata server as a real, separate process (`node bin/strata start --workdir DIR`), for tests
 * that must kill it: SIGKILL from outside, or a failpoint's `exit` from inside, ends it as a crash
 * would (no exit handlers, no final flush), which an in-process server cannot simulate.
 *
 * Every run of the same workdir appends to one record: its pino JSON lines from stdout (parsed),
 * its stderr text, its exit code and signal. A line a SIGKILL cut in the middle is kept apart
 * (`cutLines`), not parsed. Always `kill()` in finally.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: dist/test/helpers/ is three levels below it. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const STRATA_BIN = join(ROOT, 'bin', 'strata');

export interface ServerLogLine { level: number; msg: string; [field: string]: unknown }

export interface ServerRun {
  readonly index: number;
  readonly pid: number;
  /** Lines of this run, parsed. */
  readonly lines: ServerLogLine[];
  stderr: string;
  /** Set when the process has exited. */
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export class StrataProcess {
  readonly runs: ServerRun[] = [];
  /** stdout lines that were not JSON, with their run index. */
  readonly unparsed: string[] = [];
  /** The unterminated last stdout line of runs that were killed. */
  readonly cutLines: string[] = [];
  #child: ChildProcess | undefined;

  get current(): ServerRun | undefined {
    const run = this.runs.at(-1);
    return run?.exit === undefined ? run : undefined;
  }

  /** Every parsed line of every run. */
  get lines(): ServerLogLine[] {
    return this.runs.flatMap((run) => run.lines);
  }

  start(workdir: string, environment: Record<string, string> = {}): ServerRun {
    if (this.current !== undefined) throw new Error('one server at a time');
    const child = spawn(process.execPath, [STRATA_BIN, 'start', '--workdir', workdir], {
      cwd: ROOT, env: { ...process.env, FAILPOINTS: '', ...environment }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid === undefined) throw new Error('strata start did not spawn');
    let pending = '';
    const lines: ServerLogLine[] = [];
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('close', (code, signal) => {
        if (pending.trim() !== '') this.cutLines.push(`run ${run.index}: ${pending}`);
        run.exit = { code, signal };
        resolve(run.exit);
      });
    });
    const run: ServerRun = { index: this.runs.length, pid: child.pid, lines, stderr: '', exit: undefined, exited };
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (pending + chunk).split('\n');
      pending = parts.pop() ?? '';
      for (const part of parts) {
        if (part.trim() === '') continue;
        try {
          lines.push(JSON.parse(part) as ServerLogLine);
        } catch {
          this.unparsed.push(`run ${run.index}: ${part}`);
        }
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => { run.stderr += chunk; });
    this.#child = child;
    this.runs.push(run);
    return run;
  }

  /** Polls `GET /v1/status` until the server answers; fails if it exits or `timeoutMs` passes. */
  async waitReady(url: string, timeoutMs = 30_000): Promise<void> {
    const run = this.current;
    if (run === undefined) throw new Error('no server is running');
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (run.exit !== undefined) throw new Error(`server exited (${JSON.stringify(run.exit)}) before it was ready: ${run.stderr}`);
      try {
        const response = await fetch(`${url}/v1/status`);
        if (response.ok) return;
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`server did not answer ${url}/v1/status within ${timeoutMs} ms`);
  }

  /** Waits for the running server to exit by itself (a failpoint's `exit`); undefined on timeout. */
  async waitExit(timeoutMs: number): Promise<ServerRun['exit']> {
    const run = this.runs.at(-1);
    if (run === undefined) throw new Error('no server was started');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), timeoutMs); });
    const result = await Promise.race([run.exited, timeout]);
    clearTimeout(timer);
    return result;
  }

  /** SIGKILL (a crash) and wait until the process is gone. Does nothing when none runs. */
  async kill(): Promise<void> {
    const run = this.current;
    if (run === undefined || this.#child === undefined) return;
    this.#child.kill('SIGKILL');
    await run.exited;
  }

  /** SIGTERM (a clean stop) and wait; returns the exit. */
  async terminate(timeoutMs = 60_000): Promise<ServerRun['exit']> {
    const run = this.current;
    if (run === undefined || this.#child === undefined) return this.runs.at(-1)?.exit;
    this.#child.kill('SIGTERM');
    const exit = await this.waitExit(timeoutMs);
    if (exit === undefined) await this.kill();
    return exit;
  }
}
