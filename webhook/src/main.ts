// Entry point of the webhook process: `node webhook/src/main.ts [--flag value ...]`.
// Configuration comes from the environment (GUARITA_*), each setting overridable by a flag;
// `--help` lists them. Exits 2 on a configuration error, 1 when startup fails.
import { startWebhook } from './app.ts';
import { ConfigError, loadConfig, usage } from './config.ts';

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(usage());
    return 0;
  }
  let config;
  try {
    config = loadConfig(argv, process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 2;
  }
  const webhook = await startWebhook(config);
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      process.stderr.write(`guarita webhook: ${signal}, shutting down\n`);
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await webhook.stop();
  return 0;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (err: unknown) => {
  process.stderr.write(`guarita webhook failed to start: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
