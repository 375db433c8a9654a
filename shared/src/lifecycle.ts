import type { Logger } from './logger';
import { ConfigError, MplpError } from './errors';
import type { Env } from './config';

/** Something that can be started and stopped: every worker's create…() returns one. */
export interface Service {
  start(): Promise<void>;
  /** Finish the in-flight batch, commit, disconnect. Must honour the signal's deadline. */
  stop(signal?: AbortSignal): Promise<void>;
  /**
   * Settles with the error when the service failed for good (a non-retriable Kafka consumer
   * crash): the harness then stops it and exits non-zero, so an orchestrator restarts it.
   */
  readonly failure?: Promise<Error>;
}

/**
 * Runs promise-returning steps with a deadline: resolves when they finish or rejects with a
 * timeout, so shutdown never hangs forever on a broker that went away.
 */
export async function withDeadline<T>(ms: number, what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctrl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ctrl.abort();
      reject(new MplpError('deadline', `${what} did not finish within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([fn(ctrl.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface RunOptions {
  name: string;
  /** Builds the service from the environment; throws ConfigError on a bad setting. */
  create: (env: Env) => Promise<{ service: Service; logger: Logger; shutdownDeadlineMs: number }>;
}

/**
 * The process entry harness: the one place that reads process.env, exits the process and
 * handles signals. A bad setting prints one line naming it and exits 2; SIGTERM/SIGINT stop
 * the service within its deadline, then exit 0 (1 when the deadline passed); a failure of the
 * service (Service.failure, a failed start, an unhandled rejection) stops it the same way and
 * exits 1, so an orchestrator restarts it (a restart policy of on-failure included).
 */
export function runProcess(opts: RunOptions): void {
  void (async () => {
    let built: Awaited<ReturnType<RunOptions['create']>>;
    try {
      built = await opts.create(process.env);
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(`${opts.name}: invalid setting ${err.message}\n`);
        process.exit(2);
      }
      process.stderr.write(`${opts.name}: failed to start: ${(err as Error).message}\n`);
      process.exit(1);
    }
    const { service, logger, shutdownDeadlineMs } = built;
    let stopping = false;
    const stop = async (reason: string, exitCode = 0) => {
      if (stopping) return;
      stopping = true;
      logger.info({ reason, deadlineMs: shutdownDeadlineMs }, 'shutting down');
      try {
        await withDeadline(shutdownDeadlineMs, 'shutdown', (signal) => service.stop(signal));
        logger.info('stopped');
        logger.flush?.();
        process.exit(exitCode);
      } catch (err) {
        logger.error({ err }, 'shutdown did not complete cleanly');
        logger.flush?.();
        process.exit(1);
      }
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
    void service.failure?.then((err) => {
      logger.error({ err }, 'unrecoverable failure; stopping with a non-zero exit so the process is restarted');
      void stop('failure', 1);
    });
    process.on('unhandledRejection', (err) => {
      logger.error({ err }, 'unhandled rejection');
      void stop('unhandledRejection', 1);
    });
    try {
      await service.start();
    } catch (err) {
      if (err instanceof ConfigError) {
        process.stderr.write(`${opts.name}: invalid setting ${err.message}\n`);
        process.exit(2);
      }
      logger.error({ err }, 'failed to start');
      await stop('start failed', 1);
    }
  })();
}
