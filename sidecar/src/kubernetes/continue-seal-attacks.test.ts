// Review of the round 7 continue-token seal (3ef820d). What held: the parameter reaches openContinue
// only in the canonical form normalizePath writes (one spelling of `continue`, no `;`, `+` already
// read as a space, repeats refused), and a token opens only for the path it was sealed for. What
// fails: AES-GCM keeps the plaintext's length, so the sealed token still tells the length of the
// page's last storage key (its object's name; namespace/name across namespaces), which the masker
// may have replaced by a token of another length in `items`.
import { describe, expect, it } from '@jest/globals';
import { ContinueSeal, openContinue } from './continue-seal.ts';

const PATH = '/api/v1/configmaps';
const token = (start: string): string => Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: 4242, start: `${start}\u0000` })).toString('base64url');

describe('what a sealed token still tells', () => {
  it('two pages whose last objects\' names differ in length give tokens of the same length', () => {
    const seal = new ContinueSeal();
    const short = seal.seal(token('orders/cliente-1'), PATH);
    const long = seal.seal(token('orders/cliente-larissa.oliveira1@exemplo.com.br'), PATH);
    expect(long.length).toBe(short.length);
  });
});

describe('held: the forms the proxy hands openContinue', () => {
  const seal = new ContinueSeal();
  const sealed = seal.seal(token('orders/a'), PATH);
  it('a trailing slash, another case or the purpose prefix is another path: the token does not open there', () => {
    for (const other of [`${PATH}/`, '/API/v1/configmaps', `/guarita-purpose/x${PATH}`, '/api/v1/namespaces/orders/configmaps']) {
      expect(openContinue(`${other}?continue=${sealed}`, seal)).toEqual({ problem: expect.stringMatching(/not issued/) as unknown as string });
    }
    expect(openContinue(`${PATH}?limit=1&continue=${sealed}`, seal)).toEqual({ target: `${PATH}?limit=1&continue=${encodeURIComponent(token('orders/a'))}` });
  });
});
