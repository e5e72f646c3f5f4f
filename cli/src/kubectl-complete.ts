#!/usr/bin/env node
// kubectl_complete-guarita: kubectl (1.26+) runs it to complete `kubectl guarita ...`, passing the
// words typed so far; it prints the candidates and cobra's directive (guarita completion __complete).
import { realIo } from './io.ts';
import { main } from './main.ts';
import { inertError } from './inert.ts';

main(['completion', '__complete', ...process.argv.slice(2)], realIo())
  .then((code) => { process.exitCode = code; })
  .catch((err: unknown) => {
    process.stderr.write(`kubectl_complete-guarita: ${inertError(err)}\n`);
    process.exitCode = 1;
  });
