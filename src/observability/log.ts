/**
 * Logging: pino JSON, one destination per process, children carry `tenant_id`/`timeline_id`.
 *
 * The root logger is created once by whoever owns the process (server main, CLI, a test) and passed
 * down explicitly; modules never import a global logger. Worker threads create their own root with
 * `createLogger({ destinationFd })` on the same file descriptor so all lines land in one stream.
 *
 * Secrets never reach a log line: connection strings go through `redactConnectionString`, and
 * pino's `redact` removes authorization headers and tokens.
 */
import pino, { type Logger, type DestinationStream } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level?: pino.LevelWithSilent;
  /** File descriptor to write to (default 1, stdout). */
  destinationFd?: number;
  /** Or any stream (tests capture lines this way). */
  destination?: DestinationStream;
  /** Synchronous writes (tests and short CLI runs); the server uses async writes. */
  sync?: boolean;
  name?: string;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const destination =
    options.destination ?? pino.destination({ fd: options.destinationFd ?? 1, sync: options.sync ?? true });
  return pino(
    {
      level: options.level ?? 'info',
      ...(options.name === undefined ? {} : { name: options.name }),
      base: { pid: process.pid },
      redact: {
        paths: ['authorization', 'headers.authorization', 'token', 'jwt', 'password', '*.password', '*.token'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

export function tenantLogger(parent: Logger, tenantId: string): Logger {
  return parent.child({ tenant_id: tenantId });
}

export function timelineLogger(parent: Logger, tenantId: string, timelineId: string): Logger {
  return parent.child({ tenant_id: tenantId, timeline_id: timelineId });
}

/** A logger that drops everything (pure unit tests that do not check logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * Removes passwords from a libpq connection string, in both URI and key=value forms, so the string
 * can be logged or shown in the API.
 */
export function redactConnectionString(connectionString: string): string {
  if (/^postgres(ql)?:\/\//.test(connectionString)) {
    return connectionString
      .replace(/(\/\/[^:/@]*):[^@]*@/, '$1:[redacted]@')
      .replace(/([?&]password=)[^&]*/gi, '$1[redacted]');
  }
  return connectionString.replace(/(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)/gi, '$1[redacted]');
}

const boundLoggers = new WeakMap<Logger, Logger>();

/**
 * A child of `parent` with fixed bindings, created once per parent (an actor incarnation's logger)
 * and reused, so hot paths do not build a child logger per message. Use one binding set per parent.
 */
export function boundLogger(parent: Logger, bindings: Record<string, string>): Logger {
  let child = boundLoggers.get(parent);
  if (child === undefined) {
    child = parent.child(bindings);
    boundLoggers.set(parent, child);
  }
  return child;
}
