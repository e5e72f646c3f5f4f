// guarita-proxy: the enforcement sidecar. `node sidecar/src/main.ts` (the image runs it from /app).
// Configuration comes from the environment the admission webhook injects (docs/sidecar.md).
import { ConfigError, loadConfig } from './config.ts';
import { missingEnvironment, missingV8Flags, reexecArgs } from './v8-flags.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`guarita-proxy: invalid configuration: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  // Flags V8 takes only on its command line and allocator settings read at process start (see
  // v8-flags.ts): the process replaces itself with the same one run with them, before it has
  // started or even loaded anything else (same PID and descriptors; the environment plus those).
  // An operator's own choice of a flag (on the command line or in NODE_OPTIONS) is kept as given.
  const flags = missingV8Flags(config.targets, [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]);
  const env = missingEnvironment(process.env);
  if ((flags.length > 0 || Object.keys(env).length > 0) && typeof process.execve === 'function') {
    process.execve(process.execPath, reexecArgs(process.execPath, flags, process.execArgv, process.argv), { ...process.env, ...env });
  }
  // Loaded only now: a process about to re-execute itself would load the whole sidecar twice.
  const [{ createLogger, errorMessage }, { startSidecar }] = await Promise.all([import('./log.ts'), import('./sidecar.ts')]);
  const logger = createLogger({ level: config.logLevel, namespace: config.namespace, pod: config.podName });
  const sidecar = await startSidecar(config, logger);
  let signals = 0;
  const onSignal = (signal: string): void => {
    if (++signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    sidecar.shutdown(signal).then(() => process.exit(0), (err: unknown) => {
      logger.error({ err: errorMessage(err) }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  await sidecar.ready;
}

main().catch((err: unknown) => {
  process.stderr.write(`guarita-proxy: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
