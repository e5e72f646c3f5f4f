import { describe, expect, it } from '@jest/globals';
import { exitCodeOf, resizeText } from './stream-exec.ts';
import { tarCreate } from './streaming.ts';

describe('the channel protocol\'s error channel', () => {
  it('reads the exit code from the Status the kubelet sends', () => {
    expect(exitCodeOf('{"metadata":{},"status":"Success"}')).toBe(0);
    expect(exitCodeOf('{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: exit status 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}')).toBe(3);
    expect(exitCodeOf('{"status":"Failure","reason":"InternalError","message":"boom"}')).toBeUndefined();
    expect(exitCodeOf('not json')).toBeUndefined();
  });

  it('records a resize as COLSxROWS, and nothing for what is not one', () => {
    expect(resizeText(Buffer.from('{"Width":120,"Height":40}'))).toBe('120x40');
    expect(resizeText(Buffer.from('{"Width":"120"}'))).toBeUndefined();
    expect(resizeText(Buffer.from('\x00garbage'))).toBeUndefined();
  });
});

describe('kubectl cp out of a pod', () => {
  const target = (words: string[]): string => `/api/v1/namespaces/o/pods/p/exec?${words.map((w) => `command=${encodeURIComponent(w)}`).join('&')}&stdout=true`;

  it('is tar in create mode, however its flags are written', () => {
    for (const words of [['tar', 'cf', '-', '-C', '/data', 'customers.csv'], ['tar', '-cf', '-', 'x'], ['/bin/tar', 'czf', '-', 'x'], ['tar', '--verbose', 'cf', '-', 'x']]) {
      expect(tarCreate(target(words))).toBe(true);
    }
  });

  it('is not tar extracting into the pod (kubectl cp into it), nor another command', () => {
    for (const words of [['tar', '--no-same-permissions', '--no-same-owner', '-xmf', '-', '-C', '/tmp'], ['tar', 'xf', '-'], ['cat', 'cf'], ['sh', '-c', 'tar cf - x']]) {
      expect(tarCreate(target(words))).toBe(false);
    }
  });
});
