// Table cells masked as the values of their columns (round 11 review, finding 1): field rules by the
// column's name or its JSONPath's last segment, keyword detectors with both as context, watches of
// Tables (columns in the first event only), and cells with no column redacted.
import { describe, expect, it } from '@jest/globals';
import { compileMasker } from '../masking/index.ts';
import type { MaskingSpec } from '../masking/types.ts';
import { maskKubernetesValue } from './kubernetes-response.ts';
import { jsonPathLeaf, tableColumns, UNNAMED_CELL, type TableColumnMemory } from './kubernetes-table.ts';

const NOME = 'Maria Aparecida Souza';
const CEP = '01310-100';
const NASC = '1985-03-14';
const CRD = (path: string): string => `Custom resource definition column (in JSONPath format): ${path}`;
const col = (name: string, description = '', extra: Record<string, unknown> = {}): Record<string, unknown> => ({ name, type: 'string', format: '', description, priority: 0, ...extra });

function table(columns: Record<string, unknown>[], rows: unknown[][], apiVersion = 'meta.k8s.io/v1'): Record<string, unknown> {
  return { kind: 'Table', apiVersion, metadata: { resourceVersion: '7' }, columnDefinitions: columns, rows: rows.map((cells) => ({ cells, object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { name: String(cells[0]) } } })) };
}

function masked(value: unknown, spec: MaskingSpec, memory?: TableColumnMemory): { text: string; out: Record<string, unknown>; counts: Record<string, number> } {
  const session = compileMasker(spec).newSession();
  const out = maskKubernetesValue(value, session, { secrets: false, revealSecretData: false, ...(memory === undefined ? {} : { tableColumns: memory }) }) as Record<string, unknown>;
  return { text: JSON.stringify(out), out, counts: session.counts() };
}

const cellsOf = (out: Record<string, unknown>): unknown[][] => (out.rows as { cells: unknown[] }[]).map((r) => r.cells);

describe('jsonPathLeaf', () => {
  it.each([
    ['.spec.nome', 'nome'], ['{.status.titular}', 'titular'], [".spec['nome']", 'nome'], ['.spec["cep"]', 'cep'],
    ['.spec.contacts[0].email', 'email'], ['.status.conditions[?(@.type=="Ready")].status', 'status'], ['.spec.items[*]', 'items'],
    ['.metadata.name', 'name'], ['nome', 'nome'],
  ])('%s → %s', (path, leaf) => expect(jsonPathLeaf(path)).toBe(leaf));
  it.each(['', '.', '{}', '[*]', '@'])('%j has none', (path) => expect(jsonPathLeaf(path)).toBeUndefined());
});

describe('tableColumns', () => {
  it('names a CRD column by its name and its JSONPath (the default description), a built-in column by its name', () => {
    expect(tableColumns([col('Name', 'Name must be unique'), col('Cliente', CRD('.spec.nome')), col('Nome', CRD('.spec.nome')), col('Age', '', { jsonPath: '.metadata.creationTimestamp' })]))
      .toEqual([{ names: ['Name'] }, { names: ['Cliente', 'nome'] }, { names: ['Nome', 'nome'] }, { names: ['Age', 'creationTimestamp'] }]);
  });
  it('none when absent or empty (a watch\'s later events)', () => {
    expect(tableColumns(undefined)).toBeUndefined();
    expect(tableColumns([])).toBeUndefined();
    expect(tableColumns(null)).toBeUndefined();
  });
});

describe('Table cells masked as the values of their columns', () => {
  const rules: MaskingSpec = { style: 'partial', fields: [{ names: ['nome', 'titular'] }] };

  it('a field rule on the column name masks its cells whole (any case: rules match names case-insensitively)', () => {
    const { text, counts } = masked(table([col('Name'), col('NOME')], [['c-1', NOME], ['c-2', 'Joaquim Lima']]), rules);
    expect(text).not.toContain(NOME);
    expect(text).not.toContain('Joaquim Lima');
    expect(counts.field).toBe(2);
  });

  it('a field rule on the JSONPath\'s last segment masks a column named otherwise (Cliente ← .spec.nome)', () => {
    const { text } = masked(table([col('Name'), col('Cliente', CRD('.spec.nome'))], [['c-1', NOME]]), rules);
    expect(text).not.toContain(NOME);
  });

  it('a rule on a number cell (an integer printer column) masks it too', () => {
    const { out } = masked(table([col('Name'), col('Titular', CRD('.spec.titular'), { type: 'integer' })], [['c-1', 59083016633]]), rules);
    expect(cellsOf(out)[0]?.[1]).not.toBe(59083016633);
  });

  it('keyword detectors read the column name (CEP, Nascimento) as the key of the cell', () => {
    const { text } = masked(table([col('Name'), col('CEP'), col('Nascimento')], [['c-1', CEP, NASC]]), {});
    expect([CEP, NASC].filter((v) => text.includes(v))).toEqual([]);
  });

  it('…and the JSONPath\'s last segment, when the column\'s name is no keyword (Código ← .spec.cep)', () => {
    const { text } = masked(table([col('Name'), col('Código', CRD('.spec.cep')), col('Data', CRD('.spec.nascimento'))], [['c-1', CEP, NASC]]), {});
    expect([CEP, NASC].filter((v) => text.includes(v))).toEqual([]);
  });

  it('identifiers without a keyword are masked in any cell, as before (CPF, e-mail)', () => {
    const { text } = masked(table([col('Name'), col('Info')], [['c-1', 'cpf 590.830.166-33 maria.souza@example.com']]), {});
    expect(text).not.toContain('590.830.166-33');
    expect(text).not.toContain('maria.souza@example.com');
  });

  it('cells of columns without a rule or an identifier pass as they are, in place (the layout kubectl prints)', () => {
    const { out } = masked(table([col('Name'), col('Plano'), col('Ready', '', { type: 'boolean' }), col('Restarts', '', { type: 'integer' })], [['c-1', 'gold', true, 3]]), rules);
    expect(cellsOf(out)).toEqual([['c-1', 'gold', true, 3]]);
    expect((out.columnDefinitions as unknown[]).length).toBe(4);
  });

  it('a meta.k8s.io/v1beta1 Table is masked alike', () => {
    const { text } = masked(table([col('Name'), col('Nome')], [['c-1', NOME]], 'meta.k8s.io/v1beta1'), rules);
    expect(text).not.toContain(NOME);
  });

  it('more cells than columns: the extra cells are redacted (no name to judge them by)', () => {
    const { out } = masked(table([col('Name')], [['c-1', NOME, 42, null]]), rules);
    expect(cellsOf(out)).toEqual([['c-1', UNNAMED_CELL, UNNAMED_CELL, null]]);
  });

  it('a Table whose rows carry the whole object (includeObject=Object) masks the object by its keys too', () => {
    const t = table([col('Name'), col('Nome', CRD('.spec.nome'))], [['c-1', NOME]]);
    (t.rows as { object: unknown }[])[0]!.object = { kind: 'Cliente', apiVersion: 'x/v1', metadata: { name: 'c-1' }, spec: { nome: NOME, cep: CEP } };
    const { text } = masked(t, rules);
    expect([NOME, CEP].filter((v) => text.includes(v))).toEqual([]);
  });

  it('a custom resource that is merely called Table is masked by its keys, not as the apiserver\'s Table', () => {
    const { text } = masked({ kind: 'Table', apiVersion: 'furniture.example/v1', metadata: { name: 't' }, rows: [{ nome: NOME }] }, rules);
    expect(text).not.toContain(NOME);
  });
});

describe('a watch of Tables (kubectl get -w): columns in the first event only', () => {
  const rules: MaskingSpec = { style: 'partial', fields: [{ names: ['nome'] }] };
  const first = { type: 'ADDED', object: table([col('Name'), col('Nome', CRD('.spec.nome')), col('CEP', CRD('.spec.cep'))], [['c-1', NOME, CEP]]) };
  const later = { type: 'MODIFIED', object: { ...table([], [['c-1', 'Joaquim Pereira Lima', '04538-133']]), columnDefinitions: null } };

  it('the later events\' cells are masked by the columns the first event named', () => {
    const memory: TableColumnMemory = {};
    const a = masked(first, rules, memory).text;
    const b = masked(later, rules, memory).text;
    expect([NOME, CEP].filter((v) => a.includes(v))).toEqual([]);
    expect(['Joaquim Pereira Lima', '04538-133'].filter((v) => b.includes(v))).toEqual([]);
  });

  it('without the first event\'s columns, every cell that could carry a value is redacted', () => {
    const { out } = masked(later, rules, {});
    expect(cellsOf(out.object as Record<string, unknown>)).toEqual([[UNNAMED_CELL, UNNAMED_CELL, UNNAMED_CELL]]);
  });
});

describe('other shapes where a value\'s name is not its JSON key', () => {
  const rules: MaskingSpec = { style: 'partial', fields: [{ names: ['nome'] }] };

  it('the last-applied annotation (JSON in a string) is masked by its keys', () => {
    const applied = JSON.stringify({ apiVersion: 'x/v1', kind: 'Cliente', metadata: { name: 'c-1' }, spec: { nome: NOME, cep: CEP } });
    const { text } = masked({ apiVersion: 'x/v1', kind: 'Cliente', metadata: { name: 'c-1', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': applied, 'example.com/dados': JSON.stringify({ nome: NOME }) } } }, rules);
    expect([NOME, CEP].filter((v) => text.includes(v))).toEqual([]);
  });

  it('managedFields (fieldsV1 names keys and values) is dropped, in objects, list items and PartialObjectMetadataList', () => {
    const mf = [{ manager: 'kubectl', operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { [`f:${NOME}`]: {}, [`k:{"nome":"${NOME}"}`]: {} } } }];
    const list = { kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: '1' }, items: [{ kind: 'PartialObjectMetadata', metadata: { name: 'c-1', managedFields: mf } }] };
    const { text } = masked(list, rules);
    expect(text).not.toContain(NOME);
    expect(text).not.toContain('managedFields');
  });

  it('labels and annotations are keys: a rule on their name masks their value in PartialObjectMetadata', () => {
    const { text } = masked({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { name: 'c-1', labels: { nome: 'Maria' }, annotations: { nome: NOME } } }, rules);
    expect(text).not.toContain(NOME);
    expect(text).not.toContain('"Maria"');
  });
});
