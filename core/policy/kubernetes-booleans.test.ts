// Boolean query parameters read as the apiserver's codec reads them (first value; anything but
// "0"/"false" in any case is true), and refused where readers disagree (round 11 review, finding 3).
import { describe, expect, it } from '@jest/globals';
import { BOOLEAN_PARAMETERS, booleanParameter } from './kubernetes-booleans.ts';
import { kubernetesRequestInfo, streamsAnswer } from './kubernetes-request.ts';

const q = (s: string): URLSearchParams => new URLSearchParams(s);
const LOG = '/api/v1/namespaces/other/pods/foo/log';

describe('booleanParameter', () => {
  it.each(['true', 'True', 'TRUE', 't', 'T', '1'])('%s is true for every reader', (v) => {
    expect(booleanParameter(q(`follow=${v}`), 'follow')).toBe(true);
  });
  it.each(['false', 'False', 'FALSE', '0'])('%s is false for every reader', (v) => {
    expect(booleanParameter(q(`follow=${v}`), 'follow')).toBe(false);
  });
  it('absent is false', () => expect(booleanParameter(q('limit=1'), 'follow')).toBe(false));
  // The apiserver reads all of these as true; ParseBool reads f/F as false and refuses the rest.
  it.each(['yes', 'on', 'y', 'x', '', 'f', 'F', 'tRuE', 'fAlSe', 'no', 'off', '2', ' true', 'true ', '%00'])('follow=%j is refused, naming the parameter', (v) => {
    expect(booleanParameter(q(`follow=${encodeURIComponent(v)}`), 'follow')).toEqual({ problem: expect.stringContaining('follow=') });
  });
  it('a bare parameter (no =) is the empty value: refused', () => {
    expect(booleanParameter(q('follow'), 'follow')).toEqual({ problem: expect.stringContaining('follow=') });
  });
  it.each(['follow=true&follow=false', 'follow=false&follow=true', 'follow=true&follow=true', 'follow=yes&follow=false'])('%s (repeated) is refused', (s) => {
    expect(booleanParameter(q(s), 'follow')).toEqual({ problem: expect.stringContaining('repeats follow') });
  });
});

describe('every boolean parameter of the API, in a request', () => {
  it.each(BOOLEAN_PARAMETERS.flatMap((p) => ['yes', 'on', '', 'f'].map((v) => [p, v])))('%s=%j is refused with 400-class problem naming it', (p, v) => {
    const r = kubernetesRequestInfo('GET', `/api/v1/namespaces/other/pods?${p}=${v}`);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toContain(p);
  });
  it.each(BOOLEAN_PARAMETERS)('%s repeated is refused', (p) => {
    const r = kubernetesRequestInfo('GET', `${LOG}?${p}=true&${p}=true`);
    expect(r.ok ? undefined : r.problem).toContain(`repeats ${p}`);
  });
  it.each(BOOLEAN_PARAMETERS)('%s=true and %s=false pass', (p) => {
    expect(kubernetesRequestInfo('GET', `${LOG}?${p}=true`).ok).toBe(true);
    expect(kubernetesRequestInfo('GET', `${LOG}?${p}=false`).ok).toBe(true);
  });
  it('a percent-encoded parameter name is the parameter (Go decodes it): fol%6Cow=yes is refused', () => {
    expect(kubernetesRequestInfo('GET', `${LOG}?fol%6Cow=yes`).ok).toBe(false);
    expect(kubernetesRequestInfo('GET', `${LOG}?w%61tch=on`).ok).toBe(false);
  });
  it('watch=f (ParseBool: false, the apiserver: a watch) is refused, not read as list', () => {
    const r = kubernetesRequestInfo('GET', '/api/v1/namespaces/other/pods?watch=f');
    expect(r.ok).toBe(false);
  });
});

describe('streamsAnswer: a followed log in every spelling the apiserver follows', () => {
  const read = (target: string): boolean | undefined => {
    const r = kubernetesRequestInfo('GET', target);
    return r.ok ? streamsAnswer(r.attributes, r.target) : undefined;
  };
  it.each(['true', 'True', 'TRUE', 't', 'T', '1'])('follow=%s streams', (v) => expect(read(`${LOG}?follow=${v}`)).toBe(true));
  it.each(['fol%6Cow=true', 'follow=%74rue', 'container=app&follow=1&tailLines=10'])('%s streams (decoded as Go decodes it)', (s) => expect(read(`${LOG}?${s}`)).toBe(true));
  it.each(['false', '0', 'FALSE'])('follow=%s does not stream', (v) => expect(read(`${LOG}?follow=${v}`)).toBe(false));
  it('no follow does not stream', () => expect(read(LOG)).toBe(false));
  it.each(['yes', 'on', '', 'f'])('follow=%j is not read at all (refused)', (v) => expect(read(`${LOG}?follow=${v}`)).toBeUndefined());
  it('a watch streams; a list does not', () => {
    expect(read('/api/v1/namespaces/other/pods?watch=1')).toBe(true);
    expect(read('/api/v1/watch/namespaces/other/pods')).toBe(true);
    expect(read('/api/v1/namespaces/other/pods?follow=true')).toBe(false);
  });
});
