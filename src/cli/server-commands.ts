/**
 * `strata init` and `strata start`: the commands that own a workdir rather than talk to a server.
 *
 * `start` loads the config (strata.toml < FAILPOINTS env < -c flags), creates the root logger from
 * it, configures the main thread's failpoints (listed in the log), and runs `startServer` from
 * ../server.js until SIGINT or SIGTERM, then stops it. A second signal during the stop exits at
 * once with status 1.
 */
import { openSync } from 'node:fs';
import { assert } from '../assert.js';
import { type StrataConfig, initConfig, loadConfig } from '../config.js';
import { type Logger, createLogger } from '../observability/log.js';
import { CliFailure } from './client.js';
import { writeStdout } from './commands.js';

interface ServerModule {
  startServer(config: StrataConfig, options: { logger: Logger }): Promise<{ stop(): Promise<void>; httpUrl: string }>;
}

/** Time given to leftover handles after a clean stop before the process exits anyway. */
const EXIT_GRACE_MS = 2_000;

export async function init(options: { workdir: string; config: string[] }): Promise<void> {
  const config = await initConfig(options.workdir, options.config);
  await writeStdout(`initialized ${config.workdir}/strata.toml (id ${config.id})\n`);
}

async function importServer(): Promise<ServerModule> {
  // A variable specifier: the CLI must build before the server module exists.
  const specifier = '../server.js';
  try {
    return (await import(specifier)) as ServerModule;
  } catch (error) {
    throw new CliFailure(`cannot load the server: ${(error as Error).message}`, 'PS_ERR_IO');
  }
}

function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.once('SIGINT', () => process.exit(1));
      process.once('SIGTERM', () => process.exit(1));
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

export async function start(options: { workdir: string; config: string[] }): Promise<void> {
  const config = await loadConfig(options.workdir, { overrides: options.config, environment: process.env });
  const destinationFd = config.logFile === undefined ? 1 : openSync(config.logFile, 'a');
  const logger = createLogger({ level: config.logLevel, destinationFd, name: 'strata' });
  // startServer configures failpoints (here and in every actor thread) and logs them.
  const { startServer } = await importServer();
  assert(typeof startServer === 'function', '../server.js must export startServer');
  const signalReceived = waitForSignal();
  const server = await startServer(config, { logger });
  const signal = await signalReceived;
  logger.info({ signal }, 'stopping on signal');
  await server.stop();
  setTimeout(() => process.exit(process.exitCode ?? 0), EXIT_GRACE_MS).unref();
}
