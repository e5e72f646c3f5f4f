// Round 10 review of masking across targets (adversarial), end to end through the REAL sidecar process: a real HTTP
// upstream, real PostgreSQL through psql, the real OpenSSH server with the real ssh client as the agent and the
// session record read back from the operator. Each `finding` test FAILS on the code as reviewed (070bd8c) for the
// reason its name states; each `control` passes and shows the same value masked in the form the engine reads. The
// engine-level counterparts and the reasoning: core/masking/masking-round10-attacks.test.ts.
//
// 1. JSON served under a label body.ts reads as text (application/x-ndjson, application/jsonl, text/event-stream,
//    text/json) is masked as text: the policy's field rules (an RG), built-in name rules (a CPF with a typo under
//    `cpf`) and JSON number reading (`52998224725.0`) do not apply, though the same line as application/json is
//    masked whole.
// 2. An integer written with a zero fraction or an exponent (`52998224725.0`, `5.2998224725E10`) is read as the
//    integer in JSON number tokens only: in a CSV (pandas to_csv of a float column), a log line or a text cell it
//    reaches the agent, and the record, whole.
// 3. Percent-encoded UTF-8 of a folded look-alike (`529%C2%A0982%C2%A0247%C2%A025`: a CPF pasted with no-break
//    spaces into a search form, as it lands in an access log or a Referer column) is not decoded.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../../e2e/harness/ports.ts';
import { startSshd, type SshdHandle } from '../../e2e/harness/sshd.ts';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { apply, grantSessionReaders } from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { operatorFixture, startOperator, waitServing, type OperatorProcess } from '../../e2e/support/operator-process.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { startContentMaskingHttp, type ContentMaskingHttp, type FixedBodies } from './content-masking-http.ts';
import { startPgScenario, type PgScenario } from './pg-scenario.ts';
import { fetchExport, mountCredentials, sidecarFixture, startSidecarProcess, type SidecarProcess, type TargetSpec } from './support.ts';

jest.setTimeout(120_000);

const CPF_DIGITS = '52998224725';
const RG = '12.345.678-9';
const CPF_TYPO = '529.982.247-20';
/** One exported customer, as a Python service writes it (json.dumps; the CPF column went float64 in pandas). */
const LINE = `{"nome":"Joao","rg":"${RG}","cpf":"${CPF_TYPO}","documento":${CPF_DIGITS}.0}`;
const ACCESS_LOG = '10.0.0.7 - - [06/Dec/2026:10:00:00 +0000] "GET /busca?cpf=529%C2%A0982%C2%A0247%C2%A025 HTTP/1.1" 200 512\n';
const ACCESS_LOG_CONTROL = '10.0.0.7 - - [06/Dec/2026:10:00:01 +0000] "GET /busca?cpf=529%20982%20247%2025 HTTP/1.1" 200 512\n';
const CSV = `nome,documento\nJoao,${CPF_DIGITS}.0\nMaria,5.2998224725E10\n`;

// ---- HTTP -------------------------------------------------------------------------------------------------------

describe('HTTP: JSON under a text label (1), float spellings in text (2), percent-encoded UTF-8 (3)', () => {
  const POLICY = 'customers-api';
  const ns = `mask-r10-${suffix()}`;
  /** path → [content type, body, written in 3-byte pieces, each on its own turn (a streamed answer)]. */
  const BODIES: FixedBodies = {
    '/customers/export.json': ['application/json', `[${LINE}]`, true],
    '/customers/export.ndjson': ['application/x-ndjson', `${LINE}\n${LINE}\n`, true],
    '/customers/export.jsonl': ['application/jsonl', `${LINE}\n`, true],
    '/customers/stream': ['text/event-stream', `event: cliente\ndata: ${LINE}\n\n`, true],
    '/customers/legacy': ['text/json; charset=utf-8', `[${LINE}]`, true],
    '/customers/export.csv': ['text/csv; charset=utf-8', CSV, true],
    '/customers/access.log': ['text/plain; charset=utf-8', ACCESS_LOG, true],
    '/customers/access-control.log': ['text/plain; charset=utf-8', ACCESS_LOG_CONTROL, true],
  };
  let http: ContentMaskingHttp | undefined;
  const get = (path: string): ReturnType<ContentMaskingHttp['get']> => http!.get(path);

  beforeAll(async () => {
    // The policy's own rule for RG (README: "RG ... Add them as custom patterns if needed"; a field rule names its key).
    http = await startContentMaskingHttp(ns, POLICY, BODIES, { style: 'partial', fields: [{ names: ['rg'] }] });
  }, 180_000);

  afterAll(async () => { await http?.stop(); }, 60_000);

  it('control: the export as application/json: RG (field rule), CPF with a typo (name rule) and the float CPF are masked', async () => {
    const r = await get('/customers/export.json');
    expect(r.status).toBe(200);
    // The CPF with a typo is no valid CPF: masked whole under its name (review 24, core/masking/whole-value.ts).
    expect(r.json()).toEqual([{ nome: 'Joao', rg: '**.***.***-*', cpf: '***.***.***-**', documento: '*********25' }]);
  });

  it.each([
    ['application/x-ndjson', '/customers/export.ndjson'],
    ['application/jsonl', '/customers/export.jsonl'],
    ['text/event-stream', '/customers/stream'],
    ['text/json', '/customers/legacy'],
  ])('finding 1: the same records as %s reach the agent with the RG, the CPF under `cpf` and the float CPF in clear', async (_type, path) => {
    const r = await get(path);
    expect(r.status).toBe(200);
    expect(r.text).toContain('Joao');
    expect(r.text).not.toContain(RG);
    expect(r.text).not.toContain(CPF_TYPO);
    expect(r.text).not.toContain(CPF_DIGITS);
  });

  it('finding 2: a CSV written by pandas from a float column (`52998224725.0`) and by Java (`5.2998224725E10`) reaches the agent whole', async () => {
    const r = await get('/customers/export.csv');
    expect(r.status).toBe(200);
    expect(r.text).toContain('Maria');
    expect(r.text).not.toContain(CPF_DIGITS);
    expect(r.text).not.toContain('5.2998224725E10');
  });

  it('control: the access log line with the CPF\'s spaces percent-encoded as %20 is masked', async () => {
    const r = await get('/customers/access-control.log');
    expect(r.status).toBe(200);
    expect(r.text).toContain('GET /busca?cpf=');
    expect(r.text).not.toContain('529%20982');
  });

  it('finding 3: the same line with the no-break spaces a spreadsheet pasted (%C2%A0) reaches the agent whole', async () => {
    const r = await get('/customers/access.log');
    expect(r.status).toBe(200);
    expect(r.text).toContain('GET /busca?cpf=');
    expect(r.text).not.toContain('529%C2%A0982%C2%A0247');
  });
});

// ---- PostgreSQL -------------------------------------------------------------------------------------------------

describe('PostgreSQL (psql): float spellings (2) and percent-encoded UTF-8 (3) in a text column', () => {
  /** id → the `notes` column (text; no name rule covers it), as an application wrote it. */
  const ROWS: Record<number, string> = {
    1001: `importado de planilha: documento=${CPF_DIGITS}.0`,
    1002: 'origem https://loja.example.com.br/busca?cpf=529%C2%A0982%C2%A0247%C2%A025',
    1003: 'origem https://loja.example.com.br/busca?cpf=529%20982%20247%2025',
    1004: `importado de planilha: documento=${CPF_DIGITS}`,
  };
  let s: PgScenario;
  let token: string;

  beforeAll(async () => {
    s = await startPgScenario({ spec: (spec) => { delete (spec.masking as Record<string, unknown>).detectors; } });
    token = await s.token('support-agent');
    await s.insertNotes('Round10', ROWS);
  }, 180_000);

  afterAll(async () => { await s?.stop(); }, 60_000);

  const notes = async (id: number): Promise<string> => {
    const r = await s.psql(token, ['-A', '-t', '-c', `SELECT notes FROM customers WHERE id = ${id}`]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    return r.stdout.trim();
  };

  it('control: the integer and the %20-encoded CPF are masked', async () => {
    expect(await notes(1004)).toBe('importado de planilha: documento=*********25');
    expect(await notes(1003)).not.toContain('529%20982');
  });

  it('finding 2: `52998224725.0` in the cell reaches the agent whole', async () => {
    expect(await notes(1001)).not.toContain(CPF_DIGITS);
  });

  it('finding 3: `529%C2%A0982%C2%A0247%C2%A025` in the cell reaches the agent whole', async () => {
    expect(await notes(1002)).not.toContain('529%C2%A0982%C2%A0247');
  });
});

// ---- SSH, with the session record -------------------------------------------------------------------------------

describe('SSH: what the agent and the record get for (1), (2) and (3) in files', () => {
  const id = suffix();
  const ns = `sc-mr10-${id}`;
  const opNs = `sc-mr10op-${id}`;
  const POLICY = 'files-host';
  const PURPOSE = 'ops';
  let op: OperatorProcess;
  let sshd: SshdHandle;
  let sidecar: SidecarProcess;
  let work: string;
  let data: string;
  let sshConfig: string;
  let agentEnv: NodeJS.ProcessEnv;

  const ssh = (command: string): Promise<{ code: number | null; stdout: string; stderr: string }> => new Promise((resolve) => {
    const child = spawn('ssh', ['-F', sshConfig, `${PURPOSE}@${POLICY}`, command], { env: agentEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString('utf8'); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), `guarita-mr10-${id}-`));
    data = join(work, 'data');
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'export.csv'), CSV);
    writeFileSync(join(data, 'access.log'), ACCESS_LOG);
    writeFileSync(join(data, 'app.log'), `2026-12-06 10:00:00 INFO cadastro {'nome': 'Joao', 'documento': ${CPF_DIGITS}.0}\n`);
    writeFileSync(join(data, 'control.log'), `2026-12-06 10:00:00 INFO cadastro {'nome': 'Joao', 'documento': ${CPF_DIGITS}}\n`);

    sshd = await startSshd(join(work, 'sshd'));
    await installCrds();
    const opFx = await operatorFixture(opNs);
    await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }]);
    await grantSessionReaders(ns, { kind: 'User', name: 'audrey' });
    op = await startOperator({ ...opFx, watchNamespaces: [ns] });
    await waitServing(op);
    const credentials = { username: sshd.user, 'ssh-privatekey': sshd.clientKey, known_hosts: sshd.knownHosts };
    const [listenPort = 0] = await freePorts(1);
    await apply([{ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${POLICY}-credentials`, namespace: ns }, stringData: credentials }, {
      apiVersion: 'guarita.io/v1alpha1', kind: 'AccessPolicy', metadata: { name: POLICY, namespace: ns },
      spec: {
        podSelector: { matchLabels: { app: 'support-agent' } },
        target: { name: POLICY, protocol: 'ssh', endpoint: `127.0.0.1:${sshd.port}`, listenPort, credentialsSecretRef: { name: `${POLICY}-credentials` } },
        identity: { oidc: { issuer: requireIdp().issuer, audiences: ['guarita'] } },
        subjects: [{ kind: 'Group', name: 'support' }],
        purposes: [{ name: PURPOSE }],
        rules: [{ name: 'ops-exec', purposes: [PURPOSE], match: { ssh: { requests: ['exec'] } }, action: 'allow' }],
        masking: { style: 'partial' },
      },
    }]);
    const fx = await sidecarFixture(ns);
    mountCredentials(fx, POLICY, credentials);
    const sshDir = join(fx.dir, 'ssh');
    sidecar = await startSidecarProcess(fx, {
      targets: [{ policy: POLICY, target: POLICY, protocol: 'ssh', listenPort } as unknown as TargetSpec], operatorUrl: op.url,
      env: { GUARITA_SSH_DIR: sshDir },
    });
    sshConfig = join(sshDir, POLICY, 'ssh_config');
    const tokenFile = join(work, 'token');
    writeFileSync(tokenFile, await getToken({ clientId: 'support-agent', audience: 'guarita' }), { mode: 0o600 });
    const askpass = join(work, 'askpass.sh');
    writeFileSync(askpass, `#!/bin/sh\nexec cat ${tokenFile}\n`, { mode: 0o700 });
    agentEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: work, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' };
  }, 240_000);

  afterAll(async () => {
    await sidecar?.stop();
    await Promise.all([op?.stop(), sshd?.stop()]);
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  /** What the session records hold of the output so far (stream frames on stdout), once `marker` has been recorded `times` times. */
  const recorded = (marker: string, times: number): Promise<string> => eventually('the stream records at the operator', async () => {
    const exported = await fetchExport(op.url, ns);
    const shown = exported.records.filter((x) => x.type === 'stream').flatMap((x) => x.frames ?? []).filter((f) => f.ch === 'o').map((f) => f.data).join('');
    return shown.split(marker).length - 1 >= times ? shown : undefined;
  }, 30_000, 500);

  it('control: a Python log line with the CPF as an integer is masked', async () => {
    const r = await ssh(`cat ${data}/control.log`);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toContain("'documento': *********25}");
  });

  it('finding 2: the same log line with the CPF as a float (`52998224725.0`) reaches the agent whole', async () => {
    const r = await ssh(`cat ${data}/app.log`);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toContain('INFO cadastro');
    expect(r.stdout).not.toContain(CPF_DIGITS);
  });

  it('finding 2: cat of a pandas/Java CSV export reaches the agent whole', async () => {
    const r = await ssh(`cat ${data}/export.csv`);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toContain('Maria');
    expect(r.stdout).not.toContain(CPF_DIGITS);
    expect(r.stdout).not.toContain('5.2998224725E10');
  });

  it('finding 3: cat of an access log with a percent-encoded no-break-spaced CPF reaches the agent whole', async () => {
    const r = await ssh(`cat ${data}/access.log`);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toContain('GET /busca?cpf=');
    expect(r.stdout).not.toContain('529%C2%A0982%C2%A0247');
  });

  it('findings 2 and 3: the session record holds what the agent got (the same values in clear)', async () => {
    // Runs after the commands above: their output is in the record (the control's masked CPF, then the leaks).
    const shown = await recorded('GET /busca?cpf=', 1);
    expect(shown).toContain("'documento': *********25}"); // control
    expect(shown).not.toContain(CPF_DIGITS);
    expect(shown).not.toContain('5.2998224725E10');
    expect(shown).not.toContain('529%C2%A0982%C2%A0247');
  });
});
