// Issue 18 item 3 (corpus): every server message type that can carry data, built as the server
// sends it, with identifiers in every text field; and item 1: every reported pinned setting.
import { describe, expect, it } from '@jest/globals';
import { Writer } from 'pg-protocol/dist/buffer-writer.js';
import type { BackendMessage, MessageName, NotificationResponseMessage, ParameterStatusMessage, RowDescriptionMessage } from 'pg-protocol/dist/messages.js';
import { Parser } from 'pg-protocol/dist/parser.js';
import { compileMasker } from '../../../core/masking/index.ts';
import { PINNED_SERVER_SETTINGS } from '../../../core/policy/pg-settings.ts';
import { fieldsMessage, notificationResponse, parameterStatus } from './backend.ts';
import {
  errorFields, isFatalError, maskErrorOrNotice, maskNotification, maskParameterStatus, maskRowDescription, NO_DATA_MESSAGES, pinnedMismatch, startupPinnedProblem,
} from './server-messages.ts';

const masker = compileMasker({ detectors: ['cpf', 'email', 'phone', 'cns'], style: 'partial' });
const CPF = '590.830.166-33';
const CPF_DIGITS = '59083016633';
const EMAIL = 'ana.ferreira7@exemplo.com.br';
const IDS = [CPF, CPF_DIGITS, EMAIL];

function parse(raw: Buffer): BackendMessage {
  let out: BackendMessage | undefined;
  new Parser().parse(raw, (m) => { out = m; });
  if (out === undefined) throw new Error('nothing parsed');
  return out;
}

function leaks(buf: Buffer): string[] {
  const text = buf.toString('utf8');
  return IDS.filter((id) => text.includes(id));
}

describe('ErrorResponse and NoticeResponse: every text field masked, codes kept', () => {
  // Every field type of the protocol (and one a later server might add), each carrying an identifier.
  const DATA_FIELDS = ['M', 'D', 'H', 'W', 'q', 's', 't', 'c', 'd', 'n', 'Z'];
  // (An integrity error's detail is withheld unless it is a plain key: tested below.)
  const NON_DATA: Array<[string, string]> = [['S', 'ERROR'], ['V', 'ERROR'], ['C', 'P0001'], ['P', '12'], ['p', '3'], ['F', 'nbtinsert.c'], ['L', '666'], ['R', '_bt_check_unique']];

  it.each(['E', 'N'] as const)('%s: no identifier survives in any field', (kind) => {
    for (const id of IDS) {
      const raw = fieldsMessage(kind, [...NON_DATA, ...DATA_FIELDS.map((t): [string, string] => [t, `value ${id} here`])]);
      const out = maskErrorOrNotice(kind, raw, masker.newSession());
      expect(leaks(out)).toEqual([]);
      const fields = new Map(errorFields(out));
      for (const [t, v] of NON_DATA) expect(fields.get(t)).toBe(v);
      for (const t of DATA_FIELDS) expect(fields.get(t)).toMatch(/^value .* here$/);
      expect(out[0]).toBe(kind === 'E' ? 0x45 : 0x4e);
      expect(parse(out).name).toBe(kind === 'E' ? 'error' : 'notice');
    }
  });

  it('the server\'s own examples: unique violation detail, division by zero with context, RAISE NOTICE', () => {
    const cases: Array<Array<[string, string]>> = [
      [['S', 'ERROR'], ['C', '23505'], ['M', 'duplicate key value violates unique constraint "customers_cpf_key"'], ['D', `Key (cpf)=(${CPF}) already exists.`]],
      [['S', 'ERROR'], ['C', '22012'], ['M', 'division by zero'], ['W', `SQL function "f" statement 1, arg ${CPF_DIGITS}`], ['q', `SELECT 1/0 WHERE '${CPF}' <> ''`]],
      [['S', 'NOTICE'], ['C', '00000'], ['M', `cliente ${EMAIL} tem CPF ${CPF}`], ['W', 'PL/pgSQL function inline_code_block line 1 at RAISE']],
      [['S', 'ERROR'], ['C', '22P02'], ['M', `invalid input syntax for type integer: "${CPF}"`], ['P', '8']],
    ];
    for (const fields of cases) expect(leaks(maskErrorOrNotice('E', fieldsMessage('E', fields), masker.newSession()))).toEqual([]);
  });

  it('a row image in a detail is withheld whole; key values are masked by their columns\' names (review 38)', () => {
    const named = compileMasker({ detectors: ['cpf', 'email', 'phone', 'cns'], style: 'partial', fields: [{ names: ['cpf'], detector: 'cpf' }, { names: ['telefone'], detector: 'phone' }] });
    // A CPF with a wrong check digit and a short phone: no detector claims them, the names do.
    const row = fieldsMessage('E', [['S', 'ERROR'], ['C', '23502'], ['M', 'null value in column "nome" of relation "customers" violates not-null constraint'], ['D', 'Failing row contains (5, null, 590.830.166-34, 3456-7890, 1981-06-24).']]);
    const rowOut = new Map(errorFields(maskErrorOrNotice('E', row, named.newSession())));
    expect(rowOut.get('D')).toBe('detail withheld by Guarita: it may hold values of personal columns');
    expect(rowOut.get('M')).toBe('null value in column "nome" of relation "customers" violates not-null constraint');
    const key = fieldsMessage('E', [['S', 'ERROR'], ['C', '23505'], ['D', 'Key (cpf)=(590.830.166-34) already exists.']]);
    const keyOut = new Map(errorFields(maskErrorOrNotice('E', key, named.newSession()))).get('D') ?? '';
    expect(keyOut).not.toContain('590.830.166-34');
    expect(keyOut).toMatch(/^Key \(cpf\)=\(.+\) already exists\.$/);
    // A key of a column without a name rule keeps its value (masked by content only).
    const plain = fieldsMessage('E', [['S', 'ERROR'], ['C', '23505'], ['D', 'Key (id)=(5) already exists.']]);
    expect(new Map(errorFields(maskErrorOrNotice('E', plain, named.newSession()))).get('D')).toBe('Key (id)=(5) already exists.');
  });

  it.each([
    // Review 39: a server speaking another language, and English forms that are not a plain key.
    ['23502', 'Fehlgeschlagene Zeile enthält (5, null, 590.830.166-34, 3456-7890, 1981-06-24).'],
    ['23505', 'Schlüssel »(telefone)=(3456-7890)« existiert bereits.'],
    ['23514', 'Partition key of the failing row contains (telefone) = (3456-7890).'],
    ['23505', 'Key (lower(telefone))=(3456-7890) already exists.'],
    ['23505', 'Key (empresa_id, (telefone::text))=(2, 3456-7890) already exists.'],
    ['23P01', 'Key (sala, telefone)=(1, 3456-7891) conflicts with existing key (sala, telefone)=(1, 3456-7890).'],
    ['44000', 'Failing row contains (5, 3456-7890).'],
  ])('an integrity error (%s) whose detail is not a plain key in English is withheld: %s', (code, detail) => {
    const named = compileMasker({ detectors: ['cpf', 'phone'], style: 'partial', fields: [{ names: ['telefone'], detector: 'phone' }] });
    const out = new Map(errorFields(maskErrorOrNotice('E', fieldsMessage('E', [['S', 'ERROR'], ['C', code], ['D', detail]]), named.newSession())));
    expect(out.get('D')).toBe('detail withheld by Guarita: it may hold values of personal columns');
    expect(out.get('C')).toBe(code);
  });

  it('details of other errors are masked by content, as before', () => {
    const out = new Map(errorFields(maskErrorOrNotice('E', fieldsMessage('E', [['S', 'ERROR'], ['C', '22P02'], ['D', 'Failing row contains nothing here.']]), masker.newSession())));
    expect(out.get('D')).toBe('Failing row contains nothing here.');
  });

  it('returns the very same bytes when nothing is masked', () => {
    const raw = fieldsMessage('E', [['S', 'ERROR'], ['C', '42P01'], ['M', 'relation "nope" does not exist']]);
    expect(maskErrorOrNotice('E', raw, masker.newSession())).toBe(raw);
  });
});

describe('ParameterStatus', () => {
  it('masks values that can carry data (application_name via set_config, search_path, anything unknown)', () => {
    for (const name of ['application_name', 'search_path', 'TimeZone', 'session_authorization', 'guarita_future_parameter']) {
      for (const id of IDS) {
        const raw = parameterStatus(name, `x ${id}`);
        const out = maskParameterStatus(name, `x ${id}`, raw, masker.newSession());
        expect(leaks(out)).toEqual([]);
        expect((parse(out) as ParameterStatusMessage).parameterName).toBe(name);
      }
    }
  });

  it('keeps server-format values as bytes', () => {
    const raw = parameterStatus('server_version', '16.4 (Debian 16.4-1.pgdg120+1)');
    expect(maskParameterStatus('server_version', '16.4 (Debian 16.4-1.pgdg120+1)', raw, masker.newSession())).toBe(raw);
  });

  it('pinned settings: any other value is a mismatch naming the setting (every spelling of the name), the pinned value is not', () => {
    for (const [name, value] of Object.entries(PINNED_SERVER_SETTINGS)) {
      for (const spelled of [name, name.toUpperCase(), name.charAt(0).toUpperCase() + name.slice(1)]) {
        expect(pinnedMismatch(spelled, value)).toBeUndefined();
        expect(pinnedMismatch(spelled, 'guarita-other')).toEqual({ setting: name, expected: value });
      }
    }
    expect(pinnedMismatch('standard_conforming_strings', 'off')).toBeDefined();
    expect(pinnedMismatch('client_encoding', 'SQL_ASCII')).toBeDefined();
    expect(pinnedMismatch('client_encoding', 'SJIS')).toBeDefined();
    expect(pinnedMismatch('application_name', 'anything')).toBeUndefined();
  });

  it('a session must start with the reported pinned settings present and as pinned', () => {
    const ok = new Map([['server_version', '16'], ['standard_conforming_strings', 'on'], ['client_encoding', 'UTF8'], ['server_encoding', 'UTF8']]);
    expect(startupPinnedProblem(ok)).toBeUndefined();
    // Names are keyed as a UTF8 server keys them: other database encodings are refused.
    for (const encoding of ['LATIN1', 'WIN1252', 'SQL_ASCII', 'EUC_JP']) {
      expect(startupPinnedProblem(new Map([...ok, ['server_encoding', encoding]]))).toMatch(new RegExp(`server_encoding is ${encoding}; .*UTF8 databases only`));
    }
    expect(startupPinnedProblem(new Map([...ok].filter(([k]) => k !== 'server_encoding')))).toMatch(/server_encoding is not reported/);
    expect(startupPinnedProblem(new Map([...ok, ['standard_conforming_strings', 'off']]))).toMatch(/standard_conforming_strings = off/);
    expect(startupPinnedProblem(new Map([...ok, ['client_encoding', 'LATIN1']]))).toMatch(/client_encoding = LATIN1/);
    expect(startupPinnedProblem(new Map([['client_encoding', 'UTF8']]))).toMatch(/did not report standard_conforming_strings/);
  });
});

describe('NotificationResponse and RowDescription', () => {
  it('masks the channel and the payload of NOTIFY', () => {
    for (const id of IDS) {
      const raw = notificationResponse(42, `ch ${id}`, `payload ${id}`);
      const out = maskNotification(parse(raw) as NotificationResponseMessage, raw, masker.newSession());
      expect(leaks(out)).toEqual([]);
      expect((parse(out) as NotificationResponseMessage).processId).toBe(42);
    }
  });

  it('masks column names and keeps every other column attribute', () => {
    const w = new Writer().addInt16(2);
    w.addCString(CPF).addInt32(16384).addInt16(2).addInt32(25).addInt16(-1).addInt32(-1).addInt16(0);
    w.addCString('id').addInt32(0).addInt16(0).addInt32(23).addInt16(4).addInt32(-1).addInt16(1);
    const raw = w.flush(0x54);
    const msg = parse(raw) as RowDescriptionMessage;
    const out = maskRowDescription(msg, raw, masker.newSession());
    expect(leaks(out)).toEqual([]);
    const back = parse(out) as RowDescriptionMessage;
    expect(back.fields.map((f) => [f.tableID, f.columnID, f.dataTypeID, f.dataTypeSize, f.dataTypeModifier, f.format])).toEqual(
      msg.fields.map((f) => [f.tableID, f.columnID, f.dataTypeID, f.dataTypeSize, f.dataTypeModifier, f.format]),
    );
    expect(back.fields[1]?.name).toBe('id');
  });
});

describe('every backend message type has a decided handling', () => {
  // The pipeline handles these itself (masked or refused); the rest must be data-free to pass as bytes.
  const HANDLED: MessageName[] = ['dataRow', 'rowDescription', 'copyData', 'copyOutResponse', 'replicationStart', 'parameterStatus', 'notice', 'error', 'notification'];
  const STARTUP_ONLY: MessageName[] = [
    'authenticationOk', 'authenticationMD5Password', 'authenticationCleartextPassword', 'authenticationSASL', 'authenticationSASLContinue', 'authenticationSASLFinal', 'backendKeyData',
  ];
  const ALL: MessageName[] = [
    'parseComplete', 'bindComplete', 'closeComplete', 'noData', 'portalSuspended', 'replicationStart', 'emptyQuery', 'copyDone', 'copyData', 'rowDescription',
    'parameterDescription', 'parameterStatus', 'backendKeyData', 'notification', 'readyForQuery', 'commandComplete', 'dataRow', 'copyInResponse', 'copyOutResponse',
    'authenticationOk', 'authenticationMD5Password', 'authenticationCleartextPassword', 'authenticationSASL', 'authenticationSASLContinue', 'authenticationSASLFinal', 'error', 'notice',
  ];

  it.each(ALL)('%s', (name) => {
    const kinds = [HANDLED.includes(name), STARTUP_ONLY.includes(name), NO_DATA_MESSAGES.has(name)].filter(Boolean);
    expect(kinds).toHaveLength(1);
  });

  it('pg-protocol cannot parse FunctionCallResponse or NegotiateProtocolVersion: the reader refuses them (type bytes V and v)', () => {
    let name: string | undefined;
    new Parser().parse(new Writer().addInt32(-1).flush(0x56), (m) => { name = m.name; });
    expect(name).toBe('error');
  });
});

describe('isFatalError: which server errors end the session', () => {
  it('FATAL and PANIC by the non-localized V field, or S from servers without it; ERROR and notices are not', () => {
    const e = (fields: Array<[string, string]>): Buffer => fieldsMessage('E', fields);
    expect(isFatalError(e([['S', 'FATAL'], ['V', 'FATAL'], ['C', '57P01'], ['M', 'terminating connection due to administrator command']]))).toBe(true);
    expect(isFatalError(e([['S', 'PANIC'], ['V', 'PANIC'], ['C', 'XX000'], ['M', 'x']]))).toBe(true);
    // A localized S (lc_messages) with the English V.
    expect(isFatalError(e([['S', 'FATAL'.toLowerCase()], ['V', 'FATAL'], ['C', '57P01'], ['M', 'x']]))).toBe(true);
    expect(isFatalError(e([['S', 'FATAL'], ['C', '57P01'], ['M', 'x']]))).toBe(true);
    expect(isFatalError(e([['S', 'ERROR'], ['V', 'ERROR'], ['C', '42601'], ['M', 'FATAL in the message']]))).toBe(false);
    expect(isFatalError(e([['S', 'FATAL'], ['V', 'ERROR'], ['C', '42601'], ['M', 'x']]))).toBe(false);
    expect(isFatalError(e([]))).toBe(false);
  });
});
