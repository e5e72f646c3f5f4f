import { describe, expect, it } from '@jest/globals';
import { ContinueSeal, openContinue, targetPath } from './continue-seal.ts';

const CPF = '590.830.166-33';
const PATH = '/api/v1/namespaces/orders/configmaps';
// What the apiserver hands out (storage/etcd3 encodeContinue): base64 of the page's last key.
const TOKEN = Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: 4242, start: `cliente-${CPF}\u0000` })).toString('base64url');

describe('ContinueSeal', () => {
  it('seals a token into one that carries nothing of it, and opens it again for the same list', () => {
    const seal = new ContinueSeal();
    const sealed = seal.seal(TOKEN, PATH);
    expect(sealed).not.toContain(TOKEN);
    for (const encoding of ['utf8', 'base64', 'base64url', 'latin1'] as const) expect(Buffer.from(sealed.slice(8), 'base64url').toString(encoding)).not.toContain(CPF);
    expect(seal.open(sealed, PATH)).toBe(TOKEN);
    // Fresh randomness per seal: the same page sealed twice is two tokens.
    expect(seal.seal(TOKEN, PATH)).not.toBe(sealed);
  });

  it('opens nothing sealed for another list, by another process, altered, or not sealed at all', () => {
    const seal = new ContinueSeal();
    const sealed = seal.seal(TOKEN, PATH);
    expect(seal.open(sealed, '/api/v1/namespaces/orders/secrets')).toBeUndefined();
    expect(new ContinueSeal().open(sealed, PATH)).toBeUndefined();
    const bytes = Buffer.from(sealed.slice('guarita.'.length), 'base64url');
    for (let i = 0; i < bytes.length; i++) {
      const altered = Buffer.from(bytes);
      altered[i] = (altered[i] ?? 0) ^ 1;
      expect(seal.open(`guarita.${altered.toString('base64url')}`, PATH)).toBeUndefined();
    }
    for (const foreign of [TOKEN, 'guarita.', 'guarita.AAAA', `guarita.${bytes.subarray(0, 20).toString('base64url')}`, '']) expect(seal.open(foreign, PATH)).toBeUndefined();
  });
});

describe('openContinue (the forwarded target)', () => {
  const seal = new ContinueSeal();
  const sealed = seal.seal(TOKEN, PATH);

  it('puts the apiserver\'s token back and leaves every other parameter byte for byte as judged', () => {
    expect(openContinue(`${PATH}?limit=2&continue=${sealed}&labelSelector=a%3Db%2Cc`, seal)).toEqual({ target: `${PATH}?limit=2&continue=${encodeURIComponent(TOKEN)}&labelSelector=a%3Db%2Cc` });
    expect(openContinue(`${PATH}?continue=${encodeURIComponent(sealed)}`, seal)).toEqual({ target: `${PATH}?continue=${encodeURIComponent(TOKEN)}` });
    // The parameter's name in any spelling the apiserver decodes.
    expect(openContinue(`${PATH}?%63ontinue=${sealed}`, seal)).toEqual({ target: `${PATH}?continue=${encodeURIComponent(TOKEN)}` });
  });

  it('passes targets without a token, and an empty one (the apiserver reads it as none)', () => {
    for (const target of [PATH, `${PATH}?limit=2`, `${PATH}?continue=`, `${PATH}?continue`, `${PATH}?limit=2&continue=&x=1`]) expect(openContinue(target, seal)).toEqual({ target });
  });

  it('refuses the apiserver\'s own token, a token for another list, a repeated parameter and an undecodable one', () => {
    expect(openContinue(`${PATH}?continue=${TOKEN}`, seal)).toEqual({ problem: expect.stringMatching(/not issued by this proxy/) });
    expect(openContinue(`/api/v1/namespaces/orders/secrets?continue=${sealed}`, seal)).toEqual({ problem: expect.stringMatching(/not issued by this proxy/) });
    expect(openContinue(`${PATH}?continue=${sealed}&continue=${TOKEN}`, seal)).toEqual({ problem: expect.stringMatching(/repeats/) });
    expect(openContinue(`${PATH}?continue=${sealed}&%63ontinue=`, seal)).toEqual({ problem: expect.stringMatching(/repeats/) });
    expect(openContinue(`${PATH}?continue=%E0%A4%A`, seal)).toEqual({ problem: expect.stringMatching(/not a valid query value/) });
  });

  it('targetPath is the target before its query', () => {
    expect(targetPath(`${PATH}?limit=1`)).toBe(PATH);
    expect(targetPath(PATH)).toBe(PATH);
  });
});
