// The README install block as e2e/kind/readme.ts runs it on kind, without a cluster: every line
// of the README in order, only the helm install line changed (kind's webhook client
// authentication and the image CI built), and each line marked for the failure message.
import { describe, expect, it } from '@jest/globals';
import { installCommands } from '../support/readme.ts';
import { kindHelmValues, kindScript } from './readme.ts';

describe('the README install block on kind', () => {
  const commands = installCommands();
  const script = kindScript(commands, 'guarita:e2e');
  const lines = script.split('\n').filter((l) => !l.startsWith('echo "::line '));

  it('runs every README line, in order, changing only the helm install', () => {
    expect(lines).toHaveLength(commands.length);
    const changed = lines.map((l, i) => (l === commands[i] ? undefined : i)).filter((i) => i !== undefined);
    expect(changed).toEqual([commands.findIndex((c) => c.startsWith('helm install '))]);
  });

  it('gives the webhook kind\'s client authentication and the loaded image instead of the README\'s CA file', () => {
    const helm = lines.find((l) => l.startsWith('helm install ')) ?? '';
    expect(helm).not.toContain('--set-file webhook.clientAuth.caBundle');
    expect(helm).toContain(kindHelmValues('guarita:e2e').join(' '));
    expect(helm).toContain("--set 'sidecar.rbac.namespaces[0].create=true'");
    expect(kindHelmValues('registry.local:5000/guarita:ci-1')).toContain('--set image.repository=registry.local:5000/guarita');
    expect(kindHelmValues('registry.local:5000/guarita:ci-1')).toContain('--set image.tag=ci-1');
  });

  it('refuses a README without the helm install line it substitutes', () => {
    expect(() => kindScript(commands.filter((c) => !c.startsWith('helm install ')), 'guarita:e2e')).toThrow('one helm install line');
  });
});
