// Round 11 adversarial review of the Kubernetes target (docs/security-model.md, "Round 11 review: the Kubernetes target"), the parts that
// need no apiserver; each test FAILS on the code reviewed (454ea3f). The real-apiserver forms are in
// sidecar/test/kubernetes-round11-attacks.int.test.ts.
//  - binaryData (and revealed Secret values) "that decode to UTF-8 text are masked as text, other
//    bytes are redacted": UTF-16LE text without a byte-order mark (ASCII characters each followed by
//    a NUL byte) is valid UTF-8, so it is masked as text, where NUL is a boundary between every two
//    characters: no identifier is recognised and the bytes pass whole; the agent decodes them as
//    UTF-16 (iconv, Python, any Windows tool) and reads the CPF and the e-mail;
//  - Table cells carry no key: the policy's field rules (masking.fields) and the detectors that need
//    their keyword (CEP, dates of birth) mask the object's `spec.nome` / `"cep": "01310-100"` but not
//    the same values in the cells of the apiserver's Table (kubectl get's default output).
import { describe, expect, it } from '@jest/globals';
import { compileMasker } from '../masking/index.ts';
import type { MaskingSpec } from '../masking/types.ts';
import { maskKubernetesValue } from './kubernetes-response.ts';

const CPF = '590.830.166-33';
const EMAIL = 'maria.souza@example.com';
const utf16 = (s: string): string => Buffer.from(s, 'utf16le').toString('base64');
const fromUtf16 = (b64: unknown): string => Buffer.from(String(b64), 'base64').toString('utf16le');

function mask(value: unknown, spec: MaskingSpec = {}, opts: { secrets?: boolean; revealSecretData?: boolean } = {}): unknown {
  const session = compileMasker(spec).newSession();
  return maskKubernetesValue(value, session, { secrets: opts.secrets ?? false, revealSecretData: opts.revealSecretData ?? false });
}

describe('UTF-16 text in binaryData and revealed Secret values', () => {
  const line = `cliente cpf ${CPF} email ${EMAIL}\n`;

  it('control: the same line in UTF-8 is masked', () => {
    const out = mask({ kind: 'ConfigMap', metadata: { name: 'c' }, binaryData: { 'clientes.csv': Buffer.from(line).toString('base64') } }) as { binaryData: Record<string, string> };
    const shown = Buffer.from(out.binaryData['clientes.csv'] ?? '', 'base64').toString('utf8');
    expect(shown).not.toContain(CPF);
    expect(shown).not.toContain(EMAIL);
  });

  it('a UTF-16LE file (no byte-order mark) in binaryData is masked or redacted, not passed whole', () => {
    const value = utf16(line);
    // Valid UTF-8 (every byte < 0x80), so it is read as text: NUL after every character.
    expect(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(value, 'base64'))).toContain('\u0000');
    const out = mask({ kind: 'ConfigMap', metadata: { name: 'c' }, binaryData: { 'clientes.csv': value } }) as { binaryData: Record<string, string> };
    const read = fromUtf16(out.binaryData['clientes.csv']);
    expect({ cpf: read.includes(CPF), email: read.includes(EMAIL) }).toEqual({ cpf: false, email: false });
  });

  it('a revealed Secret value in UTF-16LE is masked or redacted, not passed whole', () => {
    const out = mask({ kind: 'Secret', metadata: { name: 's' }, data: { 'titulares.txt': utf16(line) } }, {}, { secrets: true, revealSecretData: true }) as { data: Record<string, string> };
    const read = fromUtf16(out.data['titulares.txt']);
    expect({ cpf: read.includes(CPF), email: read.includes(EMAIL) }).toEqual({ cpf: false, email: false });
  });

  it('UTF-16BE in binaryData and UTF-16LE in a data string (kubectl create configmap --from-file: valid UTF-8) are masked or redacted too', () => {
    const be = Buffer.from(line, 'utf16le').swap16();
    const data = Buffer.from(line, 'utf16le').toString('utf8');
    const out = mask({ kind: 'ConfigMap', metadata: { name: 'c' }, binaryData: { 'be.csv': be.toString('base64') }, data: { 'clientes.csv': data } }) as { binaryData: Record<string, string>; data: Record<string, string> };
    const readBe = Buffer.from(out.binaryData['be.csv'] ?? '', 'base64').swap16().toString('utf16le');
    const readData = Buffer.from(out.data['clientes.csv'] ?? '', 'utf8').toString('utf16le');
    expect({ be: [readBe.includes(CPF), readBe.includes(EMAIL)], data: [readData.includes(CPF), readData.includes(EMAIL)] }).toEqual({ be: [false, false], data: [false, false] });
  });
});

describe('Table cells (meta.k8s.io/v1 Table: kubectl get)', () => {
  const spec: MaskingSpec = { style: 'partial', fields: [{ names: ['nome'] }] };
  const object = { apiVersion: 'r11.guarita.example/v1', kind: 'Cliente', metadata: { name: 'cliente-0001' }, spec: { nome: 'Maria Aparecida Souza', cep: '01310-100', nascimento: '1985-03-14' } };
  const table = {
    kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: '100' },
    columnDefinitions: [
      { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
      { name: 'Nome', type: 'string', format: '', description: 'Custom resource definition column (in JSONPath format): .spec.nome', priority: 0 },
      { name: 'CEP', type: 'string', format: '', description: 'Custom resource definition column (in JSONPath format): .spec.cep', priority: 0 },
      { name: 'Nascimento', type: 'string', format: '', description: 'Custom resource definition column (in JSONPath format): .spec.nascimento', priority: 0 },
    ],
    rows: [{ cells: ['cliente-0001', 'Maria Aparecida Souza', '01310-100', '1985-03-14'], object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { name: 'cliente-0001' } } }],
  };

  it('control: the object masks nome (field rule), cep and nascimento (keyword from the key)', () => {
    const text = JSON.stringify(mask(object, spec));
    expect(['Maria Aparecida Souza', '01310-100', '1985-03-14'].filter((v) => text.includes(v))).toEqual([]);
  });

  it('the Table of the same object masks its cells alike', () => {
    const text = JSON.stringify(mask(table, spec));
    expect(['Maria Aparecida Souza', '01310-100', '1985-03-14'].filter((v) => text.includes(v))).toEqual([]);
  });
});
