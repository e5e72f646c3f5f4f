import { describe, expect, it } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { fieldPath, parseAccessPolicy, validateAccessPolicy, validateApprovalRequest, ValidationError } from './validators.ts';
import { examplePolicy, invalidPolicies, ruleIndex } from './testdata/invalid-policies.ts';
import { accessPolicyCrd } from './definitions.ts';
import { validate } from './generated/access-policy.validator.ts';
import { compileValidator } from './validator-codegen.ts';
import type { GeneratedValidator } from './validation.ts';

const EXAMPLES = join(import.meta.dirname, '../examples/lgpd-orders');

describe('AccessPolicy validator (compiled from the CRD schema)', () => {
  const guaritaDocs = readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => parseAllDocuments(readFileSync(join(EXAMPLES, f), 'utf8')).map((d) => [f, d.toJS() as Record<string, unknown>] as const))
    .filter(([, d]) => d.kind === 'AccessPolicy');

  it.each(guaritaDocs)('accepts the example %s', (_f, doc) => {
    expect(validateAccessPolicy(doc)).toMatchObject({ ok: true });
  });

  it('fills schema defaults into a copy', () => {
    const original = examplePolicy();
    // The example trusts service-account tokens; its OIDC variant (examples/lgpd-orders-oidc) gets claim defaults.
    original.spec.identity = { oidc: { issuer: 'https://idp.example.com', audiences: ['guarita'] } };
    const parsed = parseAccessPolicy(original);
    expect(parsed.spec.identity.oidc?.usernameClaim).toBe('sub');
    expect(parsed.spec.rules[ruleIndex('exports-need-dpo')]?.approval?.ttl).toBe('15m');
    expect(original.spec.identity.oidc.usernameClaim).toBeUndefined();
  });

  it.each(invalidPolicies.map((c) => [c.name, c] as const))('rejects %s naming the field', (_name, c) => {
    const doc = examplePolicy();
    c.mutate(doc);
    const result = validateAccessPolicy(doc);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors.map((e) => e.field)).toContain(c.field);
  });

  it('rejects unknown fields, which the apiserver would silently prune', () => {
    const doc = examplePolicy();
    doc.spec.rule = [];
    expect(validateAccessPolicy(doc)).toMatchObject({ ok: false, errors: [{ field: 'spec.rule', message: expect.stringContaining('unknown field') }] });
  });

  it('throws one error listing every bad field', () => {
    const doc = examplePolicy();
    doc.spec.target.protocol = 'ftp';
    doc.spec.purposes = [];
    expect(() => parseAccessPolicy(doc, 'policy.yaml')).toThrow(ValidationError);
    expect(() => parseAccessPolicy(doc, 'policy.yaml')).toThrow(/policy.yaml is invalid:[\s\S]*spec.target.protocol[\s\S]*spec.purposes/);
  });
});

describe('ApprovalRequest validator', () => {
  it('requires the command hash to be a SHA-256', () => {
    const result = validateApprovalRequest({
      apiVersion: 'guarita.io/v1alpha1', kind: 'ApprovalRequest', metadata: { name: 'a' },
      spec: { policyRef: { name: 'p' }, rule: 'r', requester: { username: 'u', kind: 'User' }, purpose: 'x', target: { name: 't', protocol: 'postgres' },
        command: { text: 'COPY t TO STDOUT', preview: 'COPY t TO STDOUT', sha256: 'abc' }, podRef: { name: 'p' }, sessionId: 's', expiresAt: '2030-01-01T00:00:00Z' },
    });
    expect(result).toMatchObject({ ok: false, errors: [{ field: 'spec.command.sha256' }] });
  });
});

describe('fieldPath', () => {
  it('renders JSON pointers the way kubectl names fields', () => {
    expect(fieldPath('/spec/rules/3/match/sql')).toBe('spec.rules[3].match.sql');
    expect(fieldPath('')).toBe('');
  });
});

describe('generated validators (ajv standalone code, crds/generated/)', () => {
  // The same schema compiled by ajv in this process: the generated code must decide, report and
  // fill defaults exactly as it does, on the example and on every invalid policy.
  const inProcess = compileValidator(accessPolicyCrd);
  const generated = validate as unknown as GeneratedValidator;
  const cases: [string, (doc: ReturnType<typeof examplePolicy>) => void][] = [['the example policy', () => undefined], ...invalidPolicies.map((c) => [c.name, c.mutate] as [string, (doc: ReturnType<typeof examplePolicy>) => void])];

  it.each(cases)('%s: same verdict, errors and filled defaults as ajv compiling the schema at run time', (_name, mutate) => {
    const doc = examplePolicy();
    mutate(doc);
    const copy = JSON.parse(JSON.stringify(doc)) as unknown;
    expect(generated(doc)).toBe(inProcess(copy));
    expect(generated.errors ?? null).toEqual(inProcess.errors ?? null);
    expect(doc).toEqual(copy);
  });
});
