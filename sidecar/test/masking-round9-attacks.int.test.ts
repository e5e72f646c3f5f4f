// Round 9 review of masking across targets (adversarial), end to end through the REAL sidecar process: real
// PostgreSQL (psql and node-pg), a real HTTP upstream, the real OpenSSH server (e2e/harness/sshd.ts) with the
// real ssh client as the agent. Every finding test here failed on the code as reviewed (135e089) and checks the
// fix's exact output where it is deterministic; the engine-level counterparts and the reasoning are in
// core/masking/masking-round9-attacks.test.ts.
//
// 1. Integral JSON numbers written with a fraction or an exponent (`52998224725.0` from Python's json.dumps
//    and pandas, `5.2998224725E10` from Java's Double.toString / Jackson) pass unmasked in HTTP JSON bodies
//    (jsonStream) and in PostgreSQL cells holding JSON (maskCell: jsonb keeps the numeric's scale), though
//    maskJson, which the Kubernetes path uses, masks the same document.
// 2. SSH exec output: a run of more than 1,024 characters without whitespace (minified JSON) that pauses
//    longer than the 30 ms idle flush inside an identifier reaches the agent, and its record, in two
//    unmasked halves that the terminal shows as one CPF.
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePorts } from '../../e2e/harness/ports.ts';
import { startSshd, type SshdHandle } from '../../e2e/harness/sshd.ts';
import { getToken, requireIdp } from '../../e2e/harness/state.ts';
import { apply, grantSessionReaders } from '../../e2e/support/kube-apply.ts';
import { installCrds, suffix } from '../../e2e/support/kubectl.ts';
import { operatorFixture, startOperator, waitServing, type OperatorProcess } from '../../e2e/support/operator-process.ts';
import { eventually } from '../../e2e/support/wait.ts';
import { startContentMaskingHttp, type ContentMaskingHttp, type FixedBodies } from './content-masking-http.ts';
import { PURPOSE_OPTIONS, startPgScenario, type PgScenario } from './pg-scenario.ts';
import { fetchExport, mountCredentials, sidecarFixture, startSidecarProcess, type SidecarFixture, type SidecarProcess, type TargetSpec } from './support.ts';

jest.setTimeout(120_000);

const CPF_DIGITS = '52998224725';
const CNPJ_DIGITS = '11222333000181';

// ---- 1. PostgreSQL: JSON in a cell ------------------------------------------------------------------------------

describe('PostgreSQL (findings 1 and 3): JSON numbers with a fraction or exponent, and PHP-escaped slashes, in cells', () => {
  /** id → JSON the application stored in `notes` (a text column no name rule covers), as its serialiser wrote it. */
  const ROWS: Record<number, string> = {
    941: `{"nome": "Joao", "documento": ${CPF_DIGITS}.0}`, // Python json.dumps of a float / pandas
    942: `{"nome": "Maria", "documento": 5.2998224725E10}`, // Java Double.toString (Jackson)
    943: `{"empresa": "ACME", "inscricao": 1.1222333000181E13}`,
    // Finding 3: PHP's json_encode escapes '/' (a log line holding a payload; a document with a JSON string inside).
    944: 'pedido criado payload={"razao":"ACME","doc":"11.222.333\\/0001-81"}',
    945: '{"evento": "pedido", "payload": "{\\"doc\\":\\"11.222.333\\\\\\/0001-81\\"}"}',
  };
  const IDS = '941, 942, 943';
  let s: PgScenario;
  let token: string;
  let client: pg.Client | undefined;

  beforeAll(async () => {
    s = await startPgScenario({ spec: (spec) => { delete (spec.masking as Record<string, unknown>).detectors; } });
    token = await s.token('support-agent');
    await s.insertNotes('Round9', ROWS);
  }, 180_000);

  afterAll(async () => {
    await client?.end().catch(() => undefined);
    await s?.stop();
  }, 60_000);

  it('control: a plain integer in the same JSON is masked (psql)', async () => {
    const r = await s.psql(token, ['-A', '-t', '-c', `SELECT '{"documento": ${CPF_DIGITS}}'::jsonb AS dados`]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('{"documento": "*********25"}');
  });

  it('finding 1 (psql): jsonb keeps `52998224725.0`; the cell is masked as the integer is', async () => {
    const r = await s.psql(token, ['-A', '-t', '-c', `SELECT '{"documento": ${CPF_DIGITS}.0}'::jsonb AS dados`]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain(CPF_DIGITS);
    expect(r.stdout.trim()).toBe('{"documento": "*********25"}');
  });

  it('finding 1 (psql): JSON documents stored in a text column (Python / Java serialisers) are masked', async () => {
    const r = await s.psql(token, ['-A', '-t', '-F', '|', '-c', `SELECT id, notes FROM customers WHERE id IN (${IDS}) ORDER BY id`]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain(`${CPF_DIGITS}.0`);
    expect(r.stdout).not.toContain('5.2998224725E10');
    expect(r.stdout).not.toContain('1.1222333000181E13');
    expect(r.stdout.trim().split('\n')).toEqual([
      '941|{"nome": "Joao", "documento": "*********25"}', '942|{"nome": "Maria", "documento": "*********25"}', '943|{"empresa": "ACME", "inscricao": "************81"}',
    ]);
  });

  it('finding 1: node-pg (extended protocol): the same', async () => {
    client = new pg.Client({ host: '127.0.0.1', port: s.port, user: 'agent', password: token, database: s.database, options: PURPOSE_OPTIONS });
    client.on('error', () => undefined);
    await client.connect();
    const res = await client.query<{ id: number; notes: string }>('SELECT id, notes FROM customers WHERE id = ANY($1::int[]) ORDER BY id', [[941, 942, 943]]);
    const text = res.rows.map((row) => row.notes).join('\n');
    expect(text).not.toContain(CPF_DIGITS);
    expect(text).not.toContain('5.2998224725E10');
    expect(res.rows.map((row) => JSON.parse(row.notes) as unknown)).toEqual([
      { nome: 'Joao', documento: '*********25' }, { nome: 'Maria', documento: '*********25' }, { empresa: 'ACME', inscricao: '************81' },
    ]);
  });

  it('finding 3 (psql): a CNPJ written by PHP\'s json_encode (`11.222.333\\/0001-81`) in a log line and in JSON inside a JSON string', async () => {
    const r = await s.psql(token, ['-A', '-t', '-F', '|', '-c', 'SELECT id, notes FROM customers WHERE id IN (944, 945) ORDER BY id']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(2);
    expect(r.stdout).not.toContain('11.222.333');
    // The mask keeps the slash escaped as the text had it, at both levels (round 10: the document inside the string is
    // read as JSON, and each level's string is re-escaped as it was written, `\\\/` as in the cell).
    expect(r.stdout).toContain('944|pedido criado payload={"razao":"ACME","doc":"**.***.***\\/****-81"}');
    expect(r.stdout).toContain('945|{"evento": "pedido", "payload": "{\\"doc\\":\\"**.***.***\\\\\\/****-81\\"}"}');
    // Still JSON that reads as the masked CNPJ at both levels.
    const cell = r.stdout.split('\n').find((l) => l.startsWith('945|'))?.slice(4) ?? '';
    expect(JSON.parse((JSON.parse(cell) as { payload: string }).payload)).toEqual({ doc: '**.***.***/****-81' });
  });

  it('finding 3 (control, psql): the same with the slash escaped as \\u002f is masked', async () => {
    const r = await s.psql(token, ['-A', '-t', '-c', `SELECT 'payload={"doc":"11.222.333\\u002f0001-81"}' AS linha`]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('11.222.333');
  });
});

// ---- 1. HTTP: JSON bodies ---------------------------------------------------------------------------------------

describe('HTTP (findings 1 and 3): JSON numbers with a fraction or exponent, and PHP-escaped slashes, in bodies', () => {
  const POLICY = 'customers-api';
  const ns = `mask-r9-${suffix()}`;
  let http: ContentMaskingHttp;
  const BODIES: FixedBodies = {
    '/customers/int.json': ['application/json', `{"nome":"Joao","documento":${CPF_DIGITS}}`, false],
    '/customers/python.json': ['application/json', `[{"nome": "Joao", "documento": ${CPF_DIGITS}.0}, {"nome": "Ana", "documento": null}]`, true],
    '/customers/jackson.json': ['application/json', `{"nome":"Maria","documento":5.2998224725E10,"empresa":{"inscricao":1.1222333000181E13}}`, false],
    // Finding 3: PHP's `echo json_encode($rows)` without a header is served as text/html; and a JSON event whose payload is JSON encoded again.
    '/customers/clientes.php': ['text/html; charset=UTF-8', '[{"razao":"ACME Ltda","doc":"11.222.333\\/0001-81"},{"razao":"Nova","doc":"12.ABC.345\\/01DE-35"}]', true],
    '/customers/events.json': ['application/json', '{"evento":"pedido","payload":"{\\"doc\\":\\"11.222.333\\\\\\/0001-81\\"}"}', false],
    '/customers/u002f.php': ['text/html; charset=UTF-8', '[{"razao":"ACME Ltda","doc":"11.222.333\\u002f0001-81"}]', false],
    '/customers/export.ndjson': ['application/json', `{"nome":"Joao","documento":${CPF_DIGITS}.0}\n{"nome":"ACME","documento":${CNPJ_DIGITS}.0}\n`, true],
  };

  beforeAll(async () => { http = await startContentMaskingHttp(ns, POLICY, BODIES); }, 180_000);
  afterAll(async () => { await http?.stop(); }, 60_000);

  it('control: the integer is masked', async () => {
    const r = await http.get('/customers/int.json');
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ nome: 'Joao', documento: '*********25' });
  });

  it('finding 1: Python json.dumps of a float (`52998224725.0`), written three bytes at a time, is masked as the integer is', async () => {
    const r = await http.get('/customers/python.json');
    expect(r.status).toBe(200);
    expect(r.text).not.toContain(CPF_DIGITS);
    expect(r.json()).toEqual([{ nome: 'Joao', documento: '*********25' }, { nome: 'Ana', documento: null }]);
  });

  it('finding 1: Jackson doubles (`5.2998224725E10`, `1.1222333000181E13`) are masked', async () => {
    const r = await http.get('/customers/jackson.json');
    expect(r.status).toBe(200);
    expect(r.text).not.toContain('5.2998224725E10');
    expect(r.text).not.toContain('1.1222333000181E13');
    expect(r.json()).toEqual({ nome: 'Maria', documento: '*********25', empresa: { inscricao: '************81' } });
  });

  it('finding 1: NDJSON export of a float column is masked', async () => {
    const r = await http.get('/customers/export.ndjson');
    expect(r.status).toBe(200);
    expect(r.text).not.toContain(CPF_DIGITS);
    expect(r.text).not.toContain(CNPJ_DIGITS);
    expect(r.text).toBe('{"nome":"Joao","documento":"*********25"}\n{"nome":"ACME","documento":"************81"}\n');
  });

  it('finding 3 (control): a PHP answer with the slash escaped as \\u002f is masked', async () => {
    const r = await http.get('/customers/u002f.php');
    expect(r.status).toBe(200);
    expect(r.text).not.toContain('11.222.333');
  });

  it('finding 3: a PHP endpoint\'s `echo json_encode($rows)` (text/html, slashes escaped) is masked, its slashes still escaped', async () => {
    const r = await http.get('/customers/clientes.php');
    expect(r.status).toBe(200);
    expect(r.text).not.toContain('11.222.333');
    expect(r.text).not.toContain('12.ABC.345');
    expect(r.text).toBe('[{"razao":"ACME Ltda","doc":"**.***.***\\/****-81"},{"razao":"Nova","doc":"**.***.***\\/****-35"}]');
  });

  it('finding 3: JSON encoded twice inside a JSON body is masked', async () => {
    const r = await http.get('/customers/events.json');
    expect(r.status).toBe(200);
    expect(r.text).not.toContain('11.222.333');
    expect(JSON.parse((r.json() as { payload: string }).payload)).toEqual({ doc: '**.***.***/****-81' });
  });
});

// ---- 2. SSH: long words cut by the idle flush -------------------------------------------------------------------

describe('SSH (findings 2 and 3): a long word cut by the idle flush; a PHP-escaped slash in a file', () => {
  const id = suffix();
  const ns = `sc-mr9-${id}`;
  const opNs = `sc-mr9op-${id}`;
  const POLICY = 'files-host';
  const PURPOSE = 'ops';
  const CPF = '529.982.247-25';
  let op: OperatorProcess;
  let sshd: SshdHandle;
  let fx: SidecarFixture;
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

  /** A minified JSON array (no whitespace) over 1,024 characters whose last record's CPF is cut after `529.982.`. */
  const record = (i: number): string => `{"id":${i},"nome":"Cliente${i}","status":"ativo","plano":"premium"}`;
  const head = ((): string => {
    let out = '[';
    for (let i = 0; out.length < 1100; i++) out += `${record(i)},`;
    return `${out}{"id":99,"cpf":"529.982.`;
  })();
  const tail = '247-25"}]';

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), `guarita-mr9-${id}-`));
    data = join(work, 'data');
    mkdirSync(data, { recursive: true });
    // What a slow producer with a block-buffered stdout does (curl of a slow API, jq -c, an export): one block,
    // a pause, the next block; here the block boundary falls inside the CPF.
    writeFileSync(join(data, 'head.json'), head);
    writeFileSync(join(data, 'tail.json'), `${tail}\n`);
    writeFileSync(join(data, 'whole.json'), `${head}${tail}\n`);
    writeFileSync(join(data, 'slow-export.sh'), `#!/bin/sh\ncat ${data}/head.json\nsleep 0.3\ncat ${data}/tail.json\n`, { mode: 0o755 });
    writeFileSync(join(data, 'slow-short.sh'), `#!/bin/sh\nprintf '%s' '{"id":99,"cpf":"529.982.'\nsleep 0.3\ncat ${data}/tail.json\n`, { mode: 0o755 });
    // Finding 3: a file a PHP application wrote with json_encode (slashes escaped).
    writeFileSync(join(data, 'clientes.json'), '[{"razao":"ACME Ltda","doc":"11.222.333\\/0001-81"}]\n');

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
    fx = await sidecarFixture(ns);
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

  it('control: the same output in one piece is masked', async () => {
    const r = await ssh(`cat ${data}/whole.json`);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('"cpf":"***.***.***-25"');
  });

  it('control: a short line paused at the same place is masked (the partial word is kept back)', async () => {
    const r = await ssh(`${data}/slow-short.sh`);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toContain('"cpf":"***.***.***-25"');
  });

  it('finding 2: the long line paused 300 ms after `529.982.` reaches the agent masked (it reached it with the CPF whole)', async () => {
    const r = await ssh(`${data}/slow-export.sh`);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout.length).toBeGreaterThan(1100);
    expect(r.stdout).not.toContain(CPF);
    expect(r.stdout).toContain('"cpf":"***.***.***-25"');
  });

  it('finding 2: the session record, replayed, shows it masked too', async () => {
    const frames = await eventually('the stream records at the operator', async () => {
      const exported = await fetchExport(op.url, ns);
      const all = exported.records.filter((x) => x.type === 'stream').flatMap((x) => x.frames ?? []);
      const shownSoFar = all.filter((f) => f.ch === 'o').map((f) => f.data).join('');
      // The three commands above each printed the record with id 99 once, ending in `-25"}]` (masked or not).
      return shownSoFar.split('-25"}]').length - 1 >= 3 ? all : undefined;
    }, 30_000, 500);
    const shown = frames.filter((f) => f.ch === 'o').map((f) => f.data).join('');
    expect(shown).not.toContain(CPF);
    expect(shown).toContain('"cpf":"***.***.***-25"');
  });

  it('finding 3: cat of a JSON file PHP wrote (`11.222.333\\/0001-81`) shows the CNPJ masked (it showed it whole)', async () => {
    const r = await ssh(`cat ${data}/clientes.json`);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect(r.stdout).toContain('ACME Ltda');
    expect(r.stdout).not.toContain('11.222.333');
    expect(r.stdout).toContain('**.***.***\\/****-81');
  });
});
