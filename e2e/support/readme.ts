// The README's install block (between <!-- install:begin --> and <!-- install:end -->) as commands,
// for the tests that run it: e2e/readme-install.int.test.ts on the local control plane and
// e2e/kind/readme.ts on a real cluster.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const README_PATH = join(import.meta.dirname, '../../README.md');

/** Lines that need nodes (kubelet, controllers, the webhook and operator running): only a real cluster runs them. */
export const NEEDS_NODES: readonly RegExp[] = [/ rollout status /, /clientConfig\.caBundle/, / wait --for=condition=complete /, / logs /, / port-forward /, /^guarita /];

/** The install block's commands: comments dropped, continuation lines joined. */
export function installCommands(readme: string = readFileSync(README_PATH, 'utf8')): string[] {
  const block = /<!-- install:begin -->\s*```sh\n([\s\S]*?)```\s*<!-- install:end -->/.exec(readme)?.[1];
  if (block === undefined) throw new Error('README.md has no <!-- install:begin --> ```sh ... ``` <!-- install:end --> block');
  return block.replace(/\\\n\s*/g, '').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

export function needsNodes(command: string): boolean {
  return NEEDS_NODES.some((re) => re.test(command));
}
