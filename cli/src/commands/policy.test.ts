import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fakeIo } from '../../test/fake-io.ts';
import { run } from './policy.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SQL_POLICY = join(ROOT, 'examples/lgpd-orders/accesspolicy.yaml');
const HTTP_POLICY = join(ROOT, 'examples/lgpd-orders/accesspolicy-http.yaml');
const WHO = ['--subject', 'ana', '--group', 'support', '--purpose', 'customer-support'];

interface Result { code: number; stdout: string; stderr: string }

async function cli(argv: string[], stdin = ''): Promise<Result> {
  const io = fakeIo({ stdin });
  const code = await run(argv, io);
  return { code, stdout: io.out(), stderr: io.err() };
}

const json = (s: string): Record<string, unknown>[] => s.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'guarita-policy-cli-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('guarita policy eval', () => {
  it('prints one JSON decision for --sql and exits 0 whatever the decision', async () => {
    const r = await cli(['eval', '--policy', SQL_POLICY, '--sql', 'DELETE FROM customers', ...WHO]);
    expect(r.code).toBe(0);
    const [d] = json(r.stdout);
    expect(d).toMatchObject({ decision: 'deny', rule: 'deny-unbounded-writes', code: 'RuleDenied' });
    expect(typeof d?.reason).toBe('string');
    expect(d?.statements).toEqual([{ kind: 'delete', traits: ['unboundedWrite', 'writesData'], tables: ['customers'], functions: [], verdict: 'deny', rule: 'deny-unbounded-writes' }]);
  });

  it('shows which personal column the sensitive-column guard saw used, how and where', async () => {
    const r = await cli(['eval', '--policy', SQL_POLICY, '--sql', "SELECT id, md5(cpf) FROM customers WHERE email LIKE 'a%'", ...WHO]);
    expect(r.code).toBe(0);
    const [d] = json(r.stdout);
    expect(d).toMatchObject({ decision: 'requireApproval', rule: 'exports-need-dpo', code: 'ApprovalRequired' });
    expect(d?.sensitiveColumns).toEqual([
      { column: 'public.customers.cpf', use: 'function argument md5()', path: 'select list item 2', statement: 1 },
      { column: 'public.customers.email', use: 'comparison LIKE', path: 'WHERE', statement: 1 },
    ]);
    expect(d?.reason).toContain('public.customers.cpf as function argument md5() (select list item 2)');
    const plain = json((await cli(['eval', '--policy', SQL_POLICY, '--sql', 'SELECT c.cpf AS doc FROM customers c WHERE c.id = 1', ...WHO])).stdout)[0];
    expect(plain).toMatchObject({ decision: 'allow', rule: 'allow-the-rest' });
    expect(plain?.sensitiveColumns).toBeUndefined();
  });

  it('prints rule null when no rule decided', async () => {
    const r = await cli(['eval', '--policy', SQL_POLICY, '--sql', 'selec 1', ...WHO]);
    expect(json(r.stdout)[0]).toMatchObject({ decision: 'deny', rule: null, code: 'Unparseable' });
  });

  it('reports the built-in refusal of settings that change how the server reads text, and reads text as under the pinned settings', async () => {
    const lines = [
      "SET standard_conforming_strings = off; SELECT 'a\\' AS x, ' ; DELETE FROM orders; --'",
      "UPDATE pg_settings SET setting = 'off' WHERE name = 'standard_conforming_strings'",
      "SELECT 'a\\' AS x, ' ; DELETE FROM orders; --'",
      "UPDATE pg_settings SET setting = 'x' WHERE name = 'role'",
    ];
    const r = await cli(['eval', '--policy', SQL_POLICY, '--sql-file', '-', ...WHO], `${lines.join('\n')}\n`);
    const [scs, view, issue, role] = json(r.stdout);
    expect(scs).toMatchObject({ decision: 'deny', rule: null, code: 'Unparseable', reason: expect.stringMatching(/^refused whatever the policy says: statement 1: SET sets standard_conforming_strings/) });
    expect(view).toMatchObject({ decision: 'deny', code: 'Unparseable', reason: expect.stringContaining('UPDATE pg_settings sets standard_conforming_strings') });
    // With standard_conforming_strings on (pinned by the sidecar), the issue's text is one harmless SELECT.
    expect(issue).toMatchObject({ decision: 'allow', statements: [{ kind: 'select', traits: [] }] });
    expect(role).toMatchObject({ decision: 'deny', rule: 'deny-role-changes' });
  });

  it('evaluates --http requests with a JSON body', async () => {
    const r = await cli(['eval', '--policy', HTTP_POLICY, '--http', 'GET /customers/export?format=csv', '--body', '{"a":1}', ...WHO]);
    expect(r.code).toBe(0);
    expect(json(r.stdout)[0]).toMatchObject({ decision: 'requireApproval', rule: 'export-needs-dpo', approval: { approverGroups: ['dpo'], minApprovals: 1, ttlSeconds: 900 } });
  });

  it('denies subjects and purposes the policy does not list', async () => {
    const stranger = await cli(['eval', '--policy', SQL_POLICY, '--sql', 'SELECT 1', '--subject', 'eve', '--purpose', 'customer-support']);
    expect(json(stranger.stdout)[0]).toMatchObject({ decision: 'deny', code: 'SubjectNotAllowed', rule: null });
    const noPurpose = await cli(['eval', '--policy', SQL_POLICY, '--sql', 'SELECT 1', '--subject', 'ana', '--group', 'support']);
    expect(json(noPurpose.stdout)[0]).toMatchObject({ decision: 'deny', code: 'PurposeMissing' });
  });

  it('evaluates --sql-file line by line, skipping blank lines', async () => {
    const file = join(dir, 'statements.sql');
    writeFileSync(file, "SELECT * FROM orders WHERE id = 1\n\nCOPY customers TO STDOUT\r\nSELECT pg_read_file('/etc/passwd')\n");
    const r = await cli(['eval', '--policy', SQL_POLICY, '--sql-file', file, ...WHO]);
    expect(r.code).toBe(0);
    expect(json(r.stdout).map((d) => [d.line, d.decision, d.rule])).toEqual([
      [1, 'allow', 'allow-the-rest'], [3, 'requireApproval', 'exports-need-dpo'], [4, 'deny', 'deny-server-escapes'],
    ]);
  });

  it('reads --sql-file - from stdin and exits 1 when --expect is not met', async () => {
    const ok = await cli(['eval', '--policy', SQL_POLICY, '--sql-file', '-', '--expect', 'deny', ...WHO], 'DROP TABLE customers\nSET ROLE postgres\n');
    expect(ok.code).toBe(0);
    const bad = await cli(['eval', '--policy', SQL_POLICY, '--sql-file', '-', '--expect', 'deny', ...WHO], 'DROP TABLE customers\nSELECT 1\n');
    expect(bad.code).toBe(1);
    expect(json(bad.stdout)).toHaveLength(2);
  });

  it('exits non-zero with the validation errors for a malformed policy', async () => {
    const file = join(dir, 'bad.yaml');
    const text = readFileSync(SQL_POLICY, 'utf8').replace('action: deny', 'action: maybe').replace('listenPort: 15432', 'listenPort: 80');
    writeFileSync(file, text);
    const r = await cli(['eval', '--policy', file, '--sql', 'SELECT 1', ...WHO]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('spec.rules[0].action: must be one of: allow, deny, requireApproval');
    expect(r.stderr).toContain('spec.target.listenPort');
  });

  it('reports what only the engine can check, naming the field', async () => {
    const file = join(dir, 'glob.yaml');
    writeFileSync(file, readFileSync(SQL_POLICY, 'utf8').replace('match: { sql: { statementKinds: [ddl, dcl] } }', 'match: { sql: { tables: [a.b.c] } }'));
    const r = await cli(['validate', '--policy', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('spec.rules[0].match.sql.tables[0]');
  });

  it('refuses files that are not YAML, missing files and usage errors', async () => {
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'kind: [unclosed\n');
    expect((await cli(['eval', '--policy', file, '--sql', 'SELECT 1', ...WHO])).code).toBe(1);
    expect((await cli(['eval', '--policy', join(dir, 'missing.yaml'), '--sql', 'SELECT 1', ...WHO])).code).toBe(1);
    expect((await cli(['eval', '--policy', SQL_POLICY, ...WHO])).code).toBe(2);
    expect((await cli(['eval', '--policy', SQL_POLICY, '--sql', 'x', '--http', 'GET /', ...WHO])).code).toBe(2);
    expect((await cli(['eval', '--policy', SQL_POLICY, '--sql', 'SELECT 1'])).code).toBe(2);
    expect((await cli(['eval', '--policy', SQL_POLICY, '--sql', 'SELECT 1', '--bogus', ...WHO])).code).toBe(2);
    expect((await cli(['nope'])).code).toBe(2);
  });

  it('picks the AccessPolicy out of a multi-document file', async () => {
    const file = join(dir, 'multi.yaml');
    writeFileSync(file, `apiVersion: v1\nkind: Namespace\nmetadata: {name: lgpd-orders}\n---\n${readFileSync(SQL_POLICY, 'utf8')}`);
    const r = await cli(['eval', '--policy', file, '--sql', 'SELECT 1', ...WHO]);
    expect(json(r.stdout)[0]).toMatchObject({ decision: 'allow' });
  });
});

describe('guarita policy validate', () => {
  it('says the example policies are valid', async () => {
    const r = await cli(['validate', '--policy', SQL_POLICY]);
    expect(r).toMatchObject({ code: 0, stdout: expect.stringContaining('lgpd-orders/orders-db is valid (11 rules)') });
  });
});

describe('the real command', () => {
  it('cli/bin/guarita policy eval prints the decision', async () => {
    const bin = join(ROOT, 'cli/bin/guarita');
    const { stdout, code } = await new Promise<{ stdout: string; code: number }>((resolve) => {
      execFile(bin, ['policy', 'eval', '--policy', SQL_POLICY, '--sql', "COPY customers TO PROGRAM 'curl x'", ...WHO], { timeout: 60000 }, (err, out) => {
        resolve({ stdout: out, code: err === null ? 0 : Number(err.code ?? 1) });
      });
    });
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ decision: 'deny', rule: 'deny-server-escapes' });
  }, 60000);
});

describe('guarita policy eval --ssh, --ssh-shell, --sftp', () => {
  const SSH_POLICY = join(ROOT, 'examples/lgpd-orders/accesspolicy-ssh.yaml');
  it.each([
    [['--ssh', 'df -h'], 'allow', 'read-only-diagnostics'],
    [['--ssh', 'pg_dump -d orders'], 'requireApproval', 'dumps-and-backups-need-dpo'],
    [['--ssh', 'rm -rf /var/log/orders'], 'deny', 'deny-rm'],
    [['--ssh', 'df -h; rm -rf /'], 'deny', null],
    [['--ssh-shell'], 'deny', null],
    [['--sftp', 'read /var/backups/orders.sql'], 'requireApproval', 'backup-downloads-need-dpo'],
    [['--sftp', 'write /tmp/x'], 'deny', 'deny-uploads-and-deletes'],
    [['--sftp', 'rename /var/log/orders/a /var/log/orders/b'], 'deny', 'deny-uploads-and-deletes'],
  ])('%j → %s', async (args, decision, rule) => {
    const r = await cli(['eval', '--policy', SSH_POLICY, ...args, ...WHO]);
    expect(r.code).toBe(0);
    expect(json(r.stdout)[0]).toMatchObject({ decision, rule });
  });

  it('refuses a malformed --sftp and two sources at once, naming the flag', async () => {
    const bad = await cli(['eval', '--policy', SSH_POLICY, '--sftp', 'copy /a', ...WHO]).catch((err: unknown) => ({ code: 2, stdout: '', stderr: String(err) }));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--sftp takes');
    const two = await cli(['eval', '--policy', SSH_POLICY, '--ssh', 'ls', '--ssh-shell', ...WHO]).catch((err: unknown) => ({ code: 2, stdout: '', stderr: String(err) }));
    expect(two.code).toBe(2);
    expect(two.stderr).toContain('give exactly one of');
  });
});
