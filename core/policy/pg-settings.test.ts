import { describe, expect, it } from '@jest/globals';
import { isPinnedSetting, isPinnedValue, PINNED_SERVER_SETTINGS, settingClass } from './pg-settings.ts';

describe('pinned server settings', () => {
  it('pins the settings that change how the server tokenizes SQL text', () => {
    expect(PINNED_SERVER_SETTINGS).toEqual({ standard_conforming_strings: 'on', client_encoding: 'UTF8', backslash_quote: 'safe_encoding' });
    expect(isPinnedSetting('Standard_Conforming_Strings')).toBe(true);
    expect(isPinnedSetting('escape_string_warning')).toBe(false);
  });

  it.each([
    ['standard_conforming_strings', 'on'], ['standard_conforming_strings', 'TRUE'], ['standard_conforming_strings', '1'], ['standard_conforming_strings', ' yes '],
    ['client_encoding', 'UTF8'], ['client_encoding', 'utf-8'], ['client_encoding', 'Unicode'], ['backslash_quote', 'SAFE_ENCODING'],
  ])('%s = %s is the pinned value', (name, value) => {
    expect(isPinnedValue(name, value)).toBe(true);
  });

  it.each([
    ['standard_conforming_strings', 'off'], ['standard_conforming_strings', '0'], ['standard_conforming_strings', 'of'], ['standard_conforming_strings', undefined],
    ['client_encoding', 'SJIS'], ['client_encoding', 'LATIN1'], ['client_encoding', 'SQL_ASCII'], ['client_encoding', 'utf16'], ['backslash_quote', 'on'], ['backslash_quote', 'off'],
    ['search_path', 'public'],
  ])('%s = %s is not', (name, value) => {
    expect(isPinnedValue(name, value)).toBe(false);
  });

  it.each([
    ['client_encoding', 'pinned'], ['ROLE', 'role'], ['session_authorization', 'role'], ['search_path', 'security'], ['session_replication_role', 'security'],
    ['app.tenant_id', 'security'], ['pgaudit.log', 'security'], ['log_statement', 'security'], ['default_transaction_read_only', 'security'],
    ['statement_timeout', 'timeout'], ['idle_session_timeout', 'timeout'], ['application_name', 'other'], ['DateStyle', 'other'], ['work_mem', 'other'],
  ])('%s is a %s setting', (name, cls) => {
    expect(settingClass(name)).toBe(cls);
  });
});
