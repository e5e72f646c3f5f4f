// Invalid AccessPolicies shared by the offline validator test and the apiserver test: each must be
// rejected by both, with a message naming the field.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';

type Doc = Record<string, any>;

export function examplePolicy(): Doc {
  return parse(readFileSync(join(import.meta.dirname, '../../examples/lgpd-orders/accesspolicy.yaml'), 'utf8')) as Doc;
}

/**
 * Index of the example's rule with this name: the cases name rules by role, so adding a rule to the
 * example policy does not silently move a case onto another rule.
 */
export function ruleIndex(name: string): number {
  const index = (examplePolicy().spec.rules as Array<{ name: string }>).findIndex((r) => r.name === name);
  if (index < 0) throw new Error(`examples/lgpd-orders/accesspolicy.yaml has no rule named ${name}`);
  return index;
}
/** The example's first requireApproval rule, and its catch-all allow rule. */
const APPROVAL = ruleIndex('exports-need-dpo');
const ALLOW = ruleIndex('allow-the-rest');
const RULE_COUNT = (examplePolicy().spec.rules as unknown[]).length;

export interface InvalidCase { name: string; field: string; mutate: (p: Doc) => void }

export const invalidPolicies: InvalidCase[] = [
  { name: 'missing target', field: 'spec.target', mutate: (p) => { delete p.spec.target; } },
  { name: 'bad protocol', field: 'spec.target.protocol', mutate: (p) => { p.spec.target.protocol = 'mysql'; } },
  { name: 'listen port below 1024', field: 'spec.target.listenPort', mutate: (p) => { p.spec.target.listenPort = 80; } },
  { name: 'postgres endpoint given as a URL', field: 'spec.target.endpoint', mutate: (p) => { p.spec.target.endpoint = 'http://db:5432'; } },
  { name: 'duplicate rule names', field: `spec.rules[${RULE_COUNT}]`, mutate: (p) => { p.spec.rules.push({ name: 'deny-ddl-and-dcl', action: 'deny' }); } },
  { name: 'unknown action', field: 'spec.rules[0].action', mutate: (p) => { p.spec.rules[0].action = 'audit'; } },
  { name: 'requireApproval without approval', field: `spec.rules[${APPROVAL}].approval`, mutate: (p) => { delete p.spec.rules[APPROVAL].approval; } },
  { name: 'approval on an allow rule', field: `spec.rules[${ALLOW}].approval`, mutate: (p) => { p.spec.rules[ALLOW].approval = { approverGroups: ['dpo'] }; } },
  { name: 'http match on a postgres target', field: 'spec.rules', mutate: (p) => { p.spec.rules[0].match = { http: { methods: ['GET'] } }; } },
  { name: 'unknown statement kind', field: 'spec.rules[0].match.sql.statementKinds[0]', mutate: (p) => { p.spec.rules[0].match.sql.statementKinds = ['truncate-all']; } },
  { name: 'rule purpose not in spec.purposes', field: 'spec.rules', mutate: (p) => { p.spec.rules[ALLOW].purposes = ['marketing']; } },
  { name: 'no identity source', field: 'spec.identity', mutate: (p) => { p.spec.identity = {}; } },
  { name: 'no subjects', field: 'spec.subjects', mutate: (p) => { p.spec.subjects = []; } },
  { name: 'no purposes', field: 'spec.purposes', mutate: (p) => { p.spec.purposes = []; } },
  { name: 'bad ttl', field: `spec.rules[${APPROVAL}].approval.ttl`, mutate: (p) => { p.spec.rules[APPROVAL].approval.ttl = 'fifteen minutes'; } },
  { name: 'unknown detector', field: 'spec.masking.detectors[0]', mutate: (p) => { p.spec.masking.detectors = ['passport']; } },
  { name: 'hash style without a key', field: 'spec.masking.hashKeySecretRef', mutate: (p) => { p.spec.masking.style = 'hash'; } },
  { name: 'namespace on a User subject', field: 'spec.subjects[0].namespace', mutate: (p) => { p.spec.subjects[0] = { kind: 'User', name: 'x', namespace: 'y' }; } },
  { name: 'a kubernetes endpoint with a path', field: 'spec.target.endpoint', mutate: (p) => { asKubernetes(p).spec.target.endpoint = 'https://kubernetes.default.svc/api'; } },
  { name: 'a kubernetes target without credentials', field: 'spec.target.credentialsSecretRef', mutate: (p) => { delete asKubernetes(p).spec.target.credentialsSecretRef; } },
  { name: 'match.sql on a kubernetes target', field: 'spec.rules', mutate: (p) => { asKubernetes(p).spec.rules[0].match = { sql: { statementKinds: ['select'] } }; } },
  { name: 'revealSecretData on a deny rule', field: 'spec.rules[0].revealSecretData', mutate: (p) => { Object.assign(asKubernetes(p).spec.rules[0], { action: 'deny', revealSecretData: true }); } },
  { name: 'nonResourceURLs with resources', field: 'spec.rules[0].match.kubernetes.nonResourceURLs', mutate: (p) => { asKubernetes(p).spec.rules[0].match = { kubernetes: { resources: ['pods'], nonResourceURLs: ['/version'] } }; } },
  { name: 'an unknown kubernetes verb', field: 'spec.rules[0].match.kubernetes.verbs[0]', mutate: (p) => { asKubernetes(p).spec.rules[0].match = { kubernetes: { verbs: ['exec'] } }; } },
  { name: 'an ssh endpoint that is not host:port', field: 'spec.target.endpoint', mutate: (p) => { asSsh(p).spec.target.endpoint = 'ssh://orders-host'; } },
  { name: 'an ssh target without credentials', field: 'spec.target.credentialsSecretRef', mutate: (p) => { delete asSsh(p).spec.target.credentialsSecretRef; } },
  { name: 'tls on an ssh target', field: 'spec.target.tls', mutate: (p) => { asSsh(p).spec.target.tls = { mode: 'require' }; } },
  { name: 'knownHostsKey on a postgres target', field: 'spec.target.credentialsSecretRef', mutate: (p) => { p.spec.target.credentialsSecretRef.knownHostsKey = 'known_hosts'; } },
  { name: 'match.ssh on a postgres target', field: 'spec.rules', mutate: (p) => { p.spec.rules[0].match = { ssh: { requests: ['shell'] } }; } },
  { name: 'match.sql on an ssh target', field: 'spec.rules', mutate: (p) => { asSsh(p).spec.rules[0].match = { sql: { statementKinds: ['select'] } }; } },
  { name: 'an unknown ssh request kind', field: 'spec.rules[0].match.ssh.requests[0]', mutate: (p) => { asSsh(p).spec.rules[0].match = { ssh: { requests: ['x11'] } }; } },
  { name: 'a relative sftp path glob', field: 'spec.rules[0].match.ssh.paths[0]', mutate: (p) => { asSsh(p).spec.rules[0].match = { ssh: { paths: ['var/log/**'] } }; } },
];

/** The example turned into a valid ssh-target policy (the cases above then break one thing). */
function asSsh(p: Doc): Doc {
  p.spec.target = { name: 'orders-host', protocol: 'ssh', endpoint: 'orders-host.data.svc:22', listenPort: 12222, credentialsSecretRef: { name: 'orders-host-ssh-credentials' } };
  p.spec.rules = [{ name: 'diagnostics', match: { ssh: { commands: ['df *'] } }, action: 'allow' }];
  delete p.spec.sensitiveColumns;
  return p;
}

/** The example turned into a valid kubernetes-target policy (the cases above then break one thing). */
function asKubernetes(p: Doc): Doc {
  p.spec.target = { name: 'cluster', protocol: 'kubernetes', endpoint: 'https://kubernetes.default.svc', listenPort: 16443, credentialsSecretRef: { name: 'cluster-credentials' } };
  p.spec.rules = [{ name: 'read-pods', match: { kubernetes: { verbs: ['get', 'list'], resources: ['pods'] } }, action: 'allow' }];
  delete p.spec.sensitiveColumns;
  return p;
}
