import { describe, expect, it } from '@jest/globals';
import { AuthError, md5PasswordResponse, parseServerFirst, saslprep, ScramClient } from './scram.ts';

describe('SCRAM-SHA-256 client', () => {
  // RFC 7677 section 3 test vector.
  const nonce = 'rOprNGfwEbeRWgbNEkqO';
  const serverFirst = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';

  it('produces the RFC 7677 client-final-message and accepts its server signature', async () => {
    const c = new ScramClient('pencil', { nonce, user: 'user' });
    expect(c.clientFirst()).toBe('n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
    expect(await c.clientFinal(serverFirst)).toBe('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
    expect(() => c.verifyServerFinal('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')).not.toThrow();
  });

  it('rejects a server that does not know the verifier, or reports an error', async () => {
    const c = new ScramClient('pencil', { nonce, user: 'user' });
    await c.clientFinal(serverFirst);
    expect(() => c.verifyServerFinal('v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')).toThrow(/does not match/);
    expect(() => c.verifyServerFinal('e=invalid-proof')).toThrow(/server error invalid-proof/);
  });

  it('rejects nonces that do not extend ours, absurd iteration counts and malformed messages', () => {
    expect(() => parseServerFirst('r=other,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096', nonce)).toThrow(AuthError);
    expect(() => parseServerFirst(`r=${nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`, nonce)).toThrow(/does not extend/);
    expect(() => parseServerFirst(`r=${nonce}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999`, nonce)).toThrow(/iteration count/);
    expect(() => parseServerFirst(`r=${nonce}x,s=***,i=4096`, nonce)).toThrow(/base64/);
    expect(() => parseServerFirst('garbage', nonce)).toThrow(/malformed/);
    expect(() => new ScramClient('')).toThrow(/empty/);
  });

  it('applies SASLprep to the password', () => {
    expect(saslprep('a\u00A0b\u00ADc')).toBe('a bc');
    expect(saslprep('\uFB01')).toBe('fi');
  });
});

describe('md5 password', () => {
  it('is md5(md5(password + user) + salt) with the md5 prefix', () => {
    // From PostgreSQL itself: SELECT 'md5' || md5(convert_to(md5('secretalice'), 'UTF8') || '\x01020304'::bytea).
    expect(md5PasswordResponse('alice', 'secret', Buffer.from([1, 2, 3, 4]))).toBe('md598a0412b9c31436fc53776e863350083');
    expect(md5PasswordResponse('alice', 'secret', Buffer.from([1, 2, 3, 4]))).not.toBe(md5PasswordResponse('alice', 'secret', Buffer.from([1, 2, 3, 5])));
  });
});
