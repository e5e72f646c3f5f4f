// Round 9, A (sidecar half) for the PostgreSQL target: the listener never connects upstream to its
// own pod (sidecar/src/upstream-address.ts; docs/security-model.md, "Round 9"). In a pod, the
// kubelet's /etc/hosts maps the pod's hostname to the pod IP; a target named like it reached an
// agent container listening there, which asked for a cleartext password and got the database's.
// The real sidecar process with GUARITA_POD_IPS holding the address the endpoint's name resolves to
// (`localhost` stands for the pod's hostname: both are /etc/hosts lines) refuses the connection.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { requirePostgres } from '../../e2e/harness/state.ts';
import { startPgScenario, type PgScenario } from './pg-scenario.ts';

jest.setTimeout(120_000);

let s: PgScenario;

beforeAll(async () => {
  const pg = requirePostgres();
  s = await startPgScenario({
    env: { GUARITA_POD_IPS: '127.0.0.1' },
    spec: (spec) => { (spec.target as Record<string, unknown>).endpoint = `localhost:${pg.port}`; },
  });
}, 240_000);

afterAll(async () => {
  await s?.stop();
});

describe('the PostgreSQL listener never connects upstream to its own pod', () => {
  it('refuses an endpoint whose name resolves to one of GUARITA_POD_IPS, naming the host, the address and /etc/hosts', async () => {
    const r = await s.psql(await s.token('support-agent'), ['-c', 'SELECT 1'], { onErrorStop: false, timeoutMs: 30_000 });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("localhost resolves to 127.0.0.1, this pod's own address");
    expect(r.stderr).toContain('/etc/hosts');
  });
});
