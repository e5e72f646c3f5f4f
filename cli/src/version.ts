// The CLI's version: package.json's, the one file the release gate (scripts/release-versions.ts)
// holds equal to the tag, the chart's appVersion and the image tag. It sits two folders above this
// module in the checkout (cli/src/), in the npm package (scripts/pack-cli.ts keeps that layout)
// and in the image (/app/cli/src/main.js, /app/package.json).
import { readFileSync } from 'node:fs';

export function cliVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  if (typeof pkg.version !== 'string') throw new Error('package.json beside the CLI has no version');
  return pkg.version;
}
