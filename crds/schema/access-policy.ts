// AccessPolicy: which agent pods may reach which target, as whom, for what purpose, doing what,
// and what personal data they may see. This file is the single source of the CRD schema, the
// TypeScript types (crds/types.ts) and the runtime validators (crds/validators.ts).
import { Type } from '@sinclair/typebox';
import { cel, conditions, oneOf, dnsLabel, duration, labelSelector, namedList, obj, secretKeyRef, str, subjectKind } from './common.ts';

const lit = oneOf;

export const SQL_STATEMENT_KINDS = ['select', 'insert', 'update', 'delete', 'merge', 'ddl', 'dcl', 'transaction', 'copy', 'explain', 'prepare', 'execute', 'set', 'call', 'do', 'utility'] as const;
export const SQL_TRAITS = [
  'unboundedWrite', 'roleChange', 'explainAnalyze', 'prepare', 'dynamicSql', 'copyProgram', 'copyExport', 'copyImport',
  'serverFile', 'largeObject', 'remoteAccess', 'dataModifyingCte', 'writesData', 'readsData',
  'securitySetting', 'timeoutChange', 'procedureCall', 'notification', 'serverControl', 'explicitLock', 'maintenance',
] as const;
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
/** The verbs the apiserver derives for resource requests (k8s.io/apiserver request info), plus * as in RBAC. */
export const KUBERNETES_VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection', 'proxy', '*'] as const;
export const DETECTORS = ['cpf', 'cnpj', 'cnh', 'pis', 'tituloEleitor', 'cns', 'renavam', 'cep', 'phone', 'email', 'card', 'ip', 'birthDate'] as const;
export const MASK_STYLES = ['redact', 'partial', 'hash', 'surrogate'] as const;
export const SSH_REQUESTS = ['exec', 'shell', 'sftp', 'localForward', 'remoteForward'] as const;
export const SFTP_OPERATIONS = ['read', 'write', 'remove', 'list', 'stat', 'rename', 'mkdir', 'rmdir', 'setstat', 'symlink', 'readlink'] as const;

const target = obj('The upstream the agents reach through the sidecar, and where they connect on localhost.', {
  name: dnsLabel('Target name, unique per pod. Agent containers get <NAME>_URL (upper-cased, dashes as underscores).', 40),
  protocol: lit(['postgres', 'http', 'kubernetes', 'ssh'], 'Wire protocol the sidecar speaks to agents and upstream: postgres, http, kubernetes (an apiserver; agents use kubectl through the KUBECONFIG the injector writes), or ssh (agents use ssh, scp and sftp through the ssh config the injector writes).'),
  endpoint: str('Upstream address: host:port for postgres, an http(s):// URL for http, the apiserver\'s https:// URL for kubernetes (https://kubernetes.default.svc for the pod\'s own cluster), host:port for ssh.', { minLength: 1, maxLength: 2048 }),
  listenPort: Type.Integer({ description: 'Port the sidecar listens on at 127.0.0.1 inside the pod (1024-65535).', minimum: 1024, maximum: 65535 }),
  database: Type.Optional(str('postgres only: upstream database name (defaults to the one the agent asks for).', { maxLength: 63 })),
  statementTimeout: Type.Optional(duration('postgres only: the longest a statement may run (e.g. 30s, 5m); the sidecar pins statement_timeout upstream at startup and cancels a statement that outlives it, so a client cannot raise it. Omitted: no limit from the policy.')),
  credentialsSecretRef: Type.Optional(obj('Secret with the target\'s credentials, mounted into the sidecar only, never into agent containers.', {
    name: dnsLabel('Secret name in the policy\'s namespace.', 253),
    usernameKey: Type.Optional(str('Key holding the upstream user (postgres). Default: username.', { default: 'username', maxLength: 253 })),
    passwordKey: Type.Optional(str('Key holding the upstream password (postgres). Default: password.', { default: 'password', maxLength: 253 })),
    tokenKey: Type.Optional(str('Key holding a bearer token the sidecar sends upstream (http; kubernetes, where it defaults to token as in a kubernetes.io/service-account-token Secret).', { maxLength: 253 })),
    privateKeyKey: Type.Optional(str('ssh only: key holding the upstream private key (OpenSSH or PEM format, unencrypted). Default: ssh-privatekey. The user comes from usernameKey.', { maxLength: 253 })),
    knownHostsKey: Type.Optional(str('ssh only: key holding the upstream host keys in known_hosts format (plain or hashed host names). No trust on first use: a host key not listed for the endpoint is refused. Default: known_hosts.', { maxLength: 253 })),
    kubeconfigKey: Type.Optional(str('kubernetes only: key holding a kubeconfig whose current context gives the sidecar\'s credential for the apiserver (token, or client certificate and key) and its CA; used instead of tokenKey.', { maxLength: 253 })),
  })),
  tls: Type.Optional(obj('TLS from the sidecar to the upstream.', {
    mode: lit(['disable', 'require', 'verify-full'], 'disable, require (encrypt, no verification) or verify-full (verify chain and name).'),
    caSecretRef: Type.Optional(secretKeyRef('CA bundle (PEM) used with verify-full.')),
    serverName: Type.Optional(str('Name to verify in the upstream certificate (defaults to the endpoint host).', { maxLength: 253 })),
  })),
}, cel(
  { rule: "self.protocol != 'http' || self.endpoint.matches('^https?://[^\\\\s]+$')", message: 'for protocol http, endpoint must be an http:// or https:// URL', fieldPath: '.endpoint' },
  { rule: "self.protocol != 'postgres' || self.endpoint.matches('^[A-Za-z0-9.\\\\-\\\\[\\\\]:]+:[0-9]{1,5}$')", message: 'for protocol postgres, endpoint must be host:port (e.g. orders-db.data.svc:5432)', fieldPath: '.endpoint' },
  { rule: "self.protocol == 'http' || self.protocol == 'kubernetes' || !has(self.credentialsSecretRef) || !has(self.credentialsSecretRef.tokenKey)", message: 'tokenKey applies to http and kubernetes targets only', fieldPath: '.credentialsSecretRef.tokenKey' },
  { rule: "self.protocol != 'kubernetes' || self.endpoint.matches('^https://[^\\\\s/?#]+/?$')", message: 'for protocol kubernetes, endpoint must be the apiserver\'s https:// URL without a path (e.g. https://kubernetes.default.svc)', fieldPath: '.endpoint' },
  { rule: "self.protocol != 'kubernetes' || has(self.credentialsSecretRef)", message: 'protocol kubernetes needs credentialsSecretRef: a Secret with the sidecar\'s apiserver token (key token, and ca.crt; a kubernetes.io/service-account-token Secret has both) or a kubeconfig (kubeconfigKey)', fieldPath: '.credentialsSecretRef', reason: 'FieldValueRequired' },
  { rule: "self.protocol == 'kubernetes' || !has(self.credentialsSecretRef) || !has(self.credentialsSecretRef.kubeconfigKey)", message: 'kubeconfigKey applies to kubernetes targets only', fieldPath: '.credentialsSecretRef.kubeconfigKey' },
  { rule: "!has(self.credentialsSecretRef) || !has(self.credentialsSecretRef.kubeconfigKey) || !has(self.credentialsSecretRef.tokenKey)", message: 'set tokenKey or kubeconfigKey, not both', fieldPath: '.credentialsSecretRef' },
  { rule: "self.protocol == 'postgres' || !has(self.statementTimeout)", message: 'statementTimeout applies to postgres targets only', fieldPath: '.statementTimeout' },
  { rule: "self.protocol != 'ssh' || self.endpoint.matches('^[A-Za-z0-9.\\\\-\\\\[\\\\]:]+:[0-9]{1,5}$')", message: 'for protocol ssh, endpoint must be host:port (e.g. orders-host.data.svc:22)', fieldPath: '.endpoint' },
  { rule: "self.protocol != 'ssh' || has(self.credentialsSecretRef)", message: 'protocol ssh needs credentialsSecretRef: a Secret with the upstream username, private key and known_hosts', fieldPath: '.credentialsSecretRef', reason: 'FieldValueRequired' },
  { rule: "self.protocol == 'ssh' || !has(self.credentialsSecretRef) || !has(self.credentialsSecretRef.privateKeyKey) && !has(self.credentialsSecretRef.knownHostsKey)", message: 'privateKeyKey and knownHostsKey apply to ssh targets only', fieldPath: '.credentialsSecretRef' },
  { rule: "self.protocol != 'ssh' || !has(self.tls)", message: 'tls does not apply to ssh targets: the SSH transport is verified against the known_hosts of credentialsSecretRef', fieldPath: '.tls' },
));

const identity = obj('How the sidecar authenticates each request. At least one of oidc or serviceAccounts.', {
  oidc: Type.Optional(obj('OpenID Connect issuer whose JWTs agents present (Authorization: Bearer, or the PostgreSQL password).', {
    issuer: str('Issuer URL; must equal the token\'s iss. Discovery and JWKS are fetched from it.', { minLength: 1, maxLength: 2048, pattern: '^https?://' }),
    audiences: Type.Array(str('An accepted aud value.', { minLength: 1, maxLength: 256 }), { description: 'Accepted audiences: the token\'s aud must contain one.', minItems: 1, maxItems: 16 }),
    groupsClaim: Type.Optional(str('Claim holding the subject\'s groups. Default: groups.', { default: 'groups', maxLength: 128 })),
    usernameClaim: Type.Optional(str('Claim holding the subject name. Default: sub.', { default: 'sub', maxLength: 128 })),
    purposeClaim: Type.Optional(str('Claim that may carry the declared purpose when the request does not.', { maxLength: 128 })),
    algorithms: Type.Optional(Type.Array(lit(['RS256', 'RS384', 'RS512', 'PS256', 'ES256', 'ES384', 'EdDSA'], 'An asymmetric JWS algorithm.'), { description: 'Accepted signature algorithms (asymmetric only). Default: RS256, ES256, EdDSA.', minItems: 1, maxItems: 8 })),
  })),
  serviceAccounts: Type.Optional(obj('Accept Kubernetes service-account tokens, verified by TokenReview.', {
    audiences: Type.Array(str('An accepted audience.', { minLength: 1, maxLength: 256 }), { description: 'Audiences the token must be bound to.', minItems: 1, maxItems: 16 }),
  })),
}, cel({ rule: 'has(self.oidc) || has(self.serviceAccounts)', message: 'set identity.oidc, identity.serviceAccounts, or both' }));

const subject = obj('A user, group or service account.', {
  kind: subjectKind,
  name: str('User name (token sub / username claim), group name, or service-account name.', { minLength: 1, maxLength: 256 }),
  namespace: Type.Optional(str('ServiceAccount only: its namespace.', { maxLength: 63 })),
}, cel({ rule: "self.kind == 'ServiceAccount' || !has(self.namespace)", message: 'namespace applies to kind ServiceAccount only', fieldPath: '.namespace' }));

const revokedSubject = obj('A subject whose access is withdrawn; takes precedence over subjects and closes its open sessions.', {
  kind: subjectKind,
  name: str('Name as in subjects.', { minLength: 1, maxLength: 256 }),
  namespace: Type.Optional(str('ServiceAccount only: its namespace.', { maxLength: 63 })),
  reason: Type.Optional(str('Why (consent withdrawn, contractor off-boarded, ...). Recorded with denials.', { maxLength: 1024 })),
});

const purpose = obj('A purpose for which the data may be processed (LGPD art. 6, I).', {
  name: Type.String({ description: 'Purpose identifier agents declare, e.g. customer-support.', minLength: 1, maxLength: 64, pattern: '^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$' }),
  description: Type.Optional(str('What this purpose covers, for auditors.', { maxLength: 1024 })),
});

const sqlMatch = obj('Matches SQL statements as classified by the PostgreSQL parser. All given fields must match (AND); within a list any entry matches (OR).', {
  statementKinds: Type.Optional(Type.Array(lit(SQL_STATEMENT_KINDS, 'A statement kind.'), { description: `Statement kinds: ${SQL_STATEMENT_KINDS.join(', ')}.`, minItems: 1, maxItems: 32 })),
  traits: Type.Optional(Type.Array(lit(SQL_TRAITS, 'A statement trait.'), { description: `Traits, any of: ${SQL_TRAITS.join(', ')}. prepare also covers EXECUTE of a prepared statement (the statement it runs is hidden).`, minItems: 1, maxItems: 32 })),
  tables: Type.Optional(Type.Array(str('Table name or glob (schema.table; * matches any run of characters).', { minLength: 1, maxLength: 256 }), { description: 'Tables the statement touches. For deny and requireApproval rules any touched table listed matches; for allow rules every touched table must be listed (so allowing orders never lets a join read customers).', minItems: 1, maxItems: 64 })),
});

const httpMatch = obj('Matches HTTP requests. All given fields must match (AND).', {
  methods: Type.Optional(Type.Array(lit(HTTP_METHODS, 'An HTTP method.'), { description: 'Methods, any of.', minItems: 1, maxItems: 8 })),
  paths: Type.Optional(Type.Array(str('Path glob: * matches one segment, ** any number of segments (including none); a trailing slash is ignored.', { minLength: 1, maxLength: 1024, pattern: '^/' }), { description: 'Path globs, any of.', minItems: 1, maxItems: 64 })),
  query: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 256 }), { description: 'Query parameters that must be present with these exact values ("*" means present with any value).', maxProperties: 16 })),
  jsonBody: Type.Optional(Type.Array(obj('A condition on the JSON request body.', {
    path: str('Dot path into the body, e.g. filter.status.', { minLength: 1, maxLength: 256 }),
    equals: Type.Optional(str('Value (as a string) the field must equal; omitted means the field must be present.', { maxLength: 1024 })),
  }), { description: 'JSON body conditions, all of them.', maxItems: 16 })),
});

const kubernetesMatch = obj('Matches Kubernetes API requests on the attributes the apiserver itself derives from the URL (as RBAC does). All given fields must match (AND); within a list any entry matches (OR). Either resource fields or nonResourceURLs.', {
  verbs: Type.Optional(Type.Array(lit(KUBERNETES_VERBS, 'A request verb.'), { description: `Verbs, any of: ${KUBERNETES_VERBS.join(', ')} (as RBAC: a GET without a name is list, or watch with ?watch=true; a DELETE without a name is deletecollection). Omitted: every verb.`, minItems: 1, maxItems: 16 })),
  apiGroups: Type.Optional(Type.Array(str('An API group; "" is the core group (pods, secrets, configmaps), * any.', { maxLength: 253 }), { description: 'API groups, any of. Omitted: every group.', minItems: 1, maxItems: 32 })),
  resources: Type.Optional(Type.Array(str('A resource as RBAC names it: pods, pods/log (a subresource), pods/* (every subresource of pods), */scale, * (everything).', { minLength: 1, maxLength: 253, pattern: '^[a-z0-9*][a-z0-9.*-]*(/[a-z0-9*][a-z0-9.*-]*)?$' }), { description: 'Resources, any of. A resource alone does not cover its subresources (name pods/log or pods/* for those). Omitted: every resource and subresource.', minItems: 1, maxItems: 64 })),
  namespaces: Type.Optional(Type.Array(str('A namespace name; * matches any run of characters (orders-*).', { minLength: 1, maxLength: 63 }), { description: 'Namespaces, any of. For allow rules a request across all namespaces (no namespace in the URL) never matches a namespace list; for deny and requireApproval rules it does (it reaches these namespaces too). Cluster-scoped resources (nodes, namespaces themselves) have no namespace: an allow rule for them omits namespaces.', minItems: 1, maxItems: 64 })),
  names: Type.Optional(Type.Array(str('An object name (as RBAC resourceNames); * matches any run of characters (orders-db-*).', { minLength: 1, maxLength: 253 }), { description: 'Object names, any of. For allow rules a request without a name (list, watch, create, deletecollection) never matches; for deny and requireApproval rules it does (it reaches these objects too). A list or watch narrowed by fieldSelector=metadata.name=<n> counts as naming <n>.', minItems: 1, maxItems: 64 })),
  nonResourceURLs: Type.Optional(Type.Array(str('A non-resource path (/version, /api, /apis/apps/v1, /openapi/v3); a trailing * matches any path it prefixes, as in RBAC.', { minLength: 1, maxLength: 1024, pattern: '^(/.*|\\*)$' }), { description: 'Non-resource URLs (discovery, /version, /healthz, /openapi), any of; kubectl reads discovery before most commands. Excludes apiGroups, resources, namespaces and names.', minItems: 1, maxItems: 64 })),
}, cel({ rule: '!has(self.nonResourceURLs) || !(has(self.apiGroups) || has(self.resources) || has(self.namespaces) || has(self.names))', message: 'nonResourceURLs cannot be combined with apiGroups, resources, namespaces or names: use one rule for resources and another for non-resource URLs', fieldPath: '.nonResourceURLs' }));

const sshMatch = obj('Matches SSH requests: exec commands, interactive shells, SFTP operations (legacy scp -O is judged as SFTP read and write), port forwarding. All given fields must match (AND); within a list any entry matches (OR). Agent forwarding and X11 are always refused.', {
  requests: Type.Optional(Type.Array(lit(SSH_REQUESTS, 'A request kind.'), { description: `Request kinds, any of: ${SSH_REQUESTS.join(', ')}. Omitted: every kind the other fields apply to, except port forwarding, which an allow rule must name here.`, minItems: 1, maxItems: 5 })),
  commands: Type.Optional(Type.Array(str('A command glob, split into words as a POSIX shell would: the program, then one glob per argument (* any run of characters); a final lone * stands for any remaining arguments, none included.', { minLength: 1, maxLength: 1024 }), { description: 'exec commands, any of (e.g. "rm *", "pg_dump *", "cat /var/backups/*"). Deny and requireApproval rules match when the program matches by name or path and every argument glob matches some argument (-rf counts as -r -f); allow rules match the bare program name and the arguments in order.', minItems: 1, maxItems: 64 })),
  operations: Type.Optional(Type.Array(lit(SFTP_OPERATIONS, 'An SFTP operation.'), { description: `SFTP operations, any of: ${SFTP_OPERATIONS.join(', ')}. Legacy scp -O: a download is read, an upload write.`, minItems: 1, maxItems: 11 })),
  paths: Type.Optional(Type.Array(str('An absolute path glob: * matches within one segment, ** any number of segments (including none).', { minLength: 1, maxLength: 1024, pattern: '^/' }), { description: 'SFTP paths, any of. Paths are normalized (., .., //) and resolved on the host (symlinks) before matching; a rename or symlink matches on both of its paths.', minItems: 1, maxItems: 64 })),
  destinations: Type.Optional(Type.Array(str('A host:port glob (* matches any run of characters), e.g. orders-db.data.svc:5432.', { minLength: 3, maxLength: 300 }), { description: 'Port forwarding destinations, any of: where the host connects (localForward), or the address the host listens on (remoteForward).', minItems: 1, maxItems: 64 })),
});

const approval = obj('Just-in-time approval: the command is held until approvers decide.', {
  approverGroups: Type.Array(str('A group whose members may approve.', { minLength: 1, maxLength: 256 }), { description: 'Groups allowed to review (Kubernetes groups of the reviewer, as the apiserver authenticates them).', minItems: 1, maxItems: 16 }),
  minApprovals: Type.Optional(Type.Integer({ description: 'Approvals needed; one denial ends the request. Default 1.', minimum: 1, maximum: 10, default: 1 })),
  ttl: Type.Optional(duration('How long the request stays open for review before it expires. Default 15m.', '15m')),
});

const rule = obj('One rule. Rules are evaluated in order; the first whose match applies decides. No match means deny.', {
  name: dnsLabel('Rule name, unique in the policy; named in every decision, denial and ApprovalRequest.', 63),
  description: Type.Optional(str('Why the rule exists.', { maxLength: 1024 })),
  purposes: Type.Optional(Type.Array(str('A purpose name from spec.purposes.', { maxLength: 64 }), { description: 'Only for these declared purposes (default: any allowed purpose).', minItems: 1, maxItems: 8 })),
  match: Type.Optional(obj('What the rule applies to. Omitted: every command of the target\'s protocol.', {
    sql: Type.Optional(sqlMatch),
    http: Type.Optional(httpMatch),
    kubernetes: Type.Optional(kubernetesMatch),
    ssh: Type.Optional(sshMatch),
  }, cel(
    { rule: '!(has(self.ssh) && (has(self.sql) || has(self.http) || has(self.kubernetes)))', message: 'a rule matches one protocol: ssh cannot be combined with sql, http or kubernetes' },
    { rule: '!(has(self.sql) && has(self.http))', message: 'a rule matches sql or http, not both' },
    { rule: '!(has(self.kubernetes) && (has(self.sql) || has(self.http)))', message: 'a rule matches one protocol: kubernetes cannot be combined with sql or http' },
  ))),
  action: lit(['allow', 'deny', 'requireApproval'], 'allow, deny, or requireApproval (needs approval).'),
  approval: Type.Optional(approval),
  revealSecretData: Type.Optional(Type.Boolean({ description: 'kubernetes targets, allow rules only: Secret data and stringData values in responses this rule allows are shown (decoded, masked by the detectors, re-encoded) instead of redacted. Default false.' })),
}, cel(
  { rule: "!has(self.revealSecretData) || !self.revealSecretData || self.action == 'allow'", message: 'revealSecretData applies only to action allow', fieldPath: '.revealSecretData', reason: 'FieldValueForbidden' },
  { rule: "self.action != 'requireApproval' || has(self.approval)", message: 'action requireApproval needs an approval block (approverGroups, minApprovals, ttl)', fieldPath: '.approval', reason: 'FieldValueRequired' },
  { rule: "self.action == 'requireApproval' || !has(self.approval)", message: 'approval applies only to action requireApproval', fieldPath: '.approval', reason: 'FieldValueForbidden' },
));

const masking = obj('Masking of personal identifiers in responses (HTTP bodies, PostgreSQL rows, COPY data).', {
  enabled: Type.Optional(Type.Boolean({ description: 'Mask at all. Default true.', default: true })),
  detectors: Type.Optional(Type.Array(lit(DETECTORS, 'A built-in detector.'), { description: `Content detectors to run (default: all): ${DETECTORS.join(', ')}.`, maxItems: 16 })),
  style: Type.Optional(lit(MASK_STYLES, 'redact (type tag), partial (keep a few characters), hash (keyed HMAC, joinable), surrogate (fake value with valid checksum). Default partial.')),
  styles: Type.Optional(Type.Record(Type.String(), lit(MASK_STYLES, 'A style.'), { description: 'Style per detector, overriding style (keys are detector names).', maxProperties: 16 })),
  fields: Type.Optional(Type.Array(obj('Mask a column or JSON key by name, whatever its content.', {
    names: Type.Array(str('Column or key name (case-insensitive).', { minLength: 1, maxLength: 128 }), { description: 'Names to match.', minItems: 1, maxItems: 64 }),
    detector: Type.Optional(lit(DETECTORS, 'Treat the value as this type (drives partial layout and counters).')),
    style: Type.Optional(lit(MASK_STYLES, 'Style for these fields.')),
  }), { description: 'Column and JSON-key rules.', maxItems: 64 })),
  customPatterns: Type.Optional(namedList(obj('A user-defined pattern, compiled with RE2 (linear time).', {
    name: dnsLabel('Pattern name; counted under this name.', 63),
    pattern: str('RE2 regular expression (no backreferences or lookaround).', { minLength: 1, maxLength: 1024 }),
    style: Type.Optional(lit(['redact', 'hash'], 'redact or hash. Default redact.')),
  }), 'Custom patterns.', { maxItems: 32 })),
  hashKeySecretRef: Type.Optional(secretKeyRef('Secret key with the HMAC key for style hash (at least 32 bytes).')),
  binaryColumns: Type.Optional(lit(['refuse', 'passthroughNonText'], 'PostgreSQL binary-format results: refuse (error naming the column) or pass typed non-text columns through. Default refuse.')),
}, cel({
  rule: "!(has(self.style) && self.style == 'hash' || has(self.styles) && self.styles.exists(k, self.styles[k] == 'hash') || has(self.fields) && self.fields.exists(f, has(f.style) && f.style == 'hash') || has(self.customPatterns) && self.customPatterns.exists(p, has(p.style) && p.style == 'hash')) || has(self.hashKeySecretRef)",
  message: 'style hash needs hashKeySecretRef (an unkeyed hash of a CPF is reversible: there are only 10^9 of them)',
  fieldPath: '.hashKeySecretRef', reason: 'FieldValueRequired',
}));

const recording = obj('What each session record keeps. Recording itself cannot be turned off.', {
  maxRows: Type.Optional(Type.Integer({ description: 'Result rows kept (masked) per statement. Default 20.', minimum: 0, maximum: 10000, default: 20 })),
  maxBytes: Type.Optional(Type.Integer({ description: 'Response bytes kept (masked) per request or statement. Default 16384.', minimum: 0, maximum: 1048576, default: 16384 })),
  durability: Type.Optional(lit(['Synced', 'Written'], 'When a record counts as kept, so the answer it describes may be released. Synced (default): on stable storage (fdatasync of the spool volume); survives a node power loss. Written: in the spool file (the kernel page cache); survives a crash or kill of the sidecar, container or pod, and is synced within 10 ms, so a node crash can lose the last few milliseconds of records. Written answers without waiting for the disk.')),
});

const IDENT = '[A-Za-z_][A-Za-z0-9_$]*';

const sensitiveColumns = obj('Sensitive-column guard (postgres targets): personal columns may be returned only as plain column references in the top-level select list, where output masking sees them; any other use (inside an expression, function, cast, aggregate, operator, comparison in WHERE/JOIN/ORDER BY/GROUP BY, RETURNING, COPY (query), INSERT ... SELECT) takes the action.', {
  columns: Type.Array(str('A personal column as [schema.]table.column, e.g. public.customers.cpf (without schema: that table in any schema). Resolved through declared views, CTEs, subqueries, aliases and *.', { minLength: 3, maxLength: 200, pattern: `^(${IDENT}\\.){1,2}${IDENT}$` }), { description: 'Personal columns.', minItems: 1, maxItems: 256 }),
  action: lit(['deny', 'requireApproval'], 'What a statement using a personal column otherwise than as a plain returned column gets: deny, or requireApproval (approvers of approvalRule).'),
  approvalRule: Type.Optional(dnsLabel('requireApproval only: the name of a requireApproval rule in spec.rules whose approval block (approver groups, count, ttl) decides held statements; the ApprovalRequest names that rule.', 63)),
  relations: Type.Optional(Type.Array(obj('A table or view whose complete column list (in order) the guard may rely on, for *, column aliases, NATURAL joins and whole-row references.', {
    name: str('[schema.]relation', { minLength: 1, maxLength: 200, pattern: `^(${IDENT}\\.)?${IDENT}$` }),
    columns: Type.Array(str('A column name, in table order.', { minLength: 1, maxLength: 63, pattern: `^${IDENT}$` }), { description: 'Every column, in order.', minItems: 1, maxItems: 1600 }),
  }), { description: 'Relations whose columns are known. A relation neither listed here nor holding a personal column is unknown: any of its columns named like a personal column counts as personal, and a whole-row reference to it as one too.', maxItems: 256 })),
  views: Type.Optional(Type.Array(obj('A view over personal columns: the guard follows its definition to tell which of its columns carry personal data.', {
    name: str('[schema.]view', { minLength: 1, maxLength: 200, pattern: `^(${IDENT}\\.)?${IDENT}$` }),
    query: str('The view\'s defining SELECT, as pg_get_viewdef() prints it.', { minLength: 1, maxLength: 16384 }),
  }), { description: 'Views whose columns may carry personal data under other names.', maxItems: 64 })),
}, cel(
  { rule: "self.action != 'requireApproval' || has(self.approvalRule)", message: 'action requireApproval needs approvalRule: the name of a requireApproval rule in spec.rules', fieldPath: '.approvalRule', reason: 'FieldValueRequired' },
  { rule: "self.action == 'requireApproval' || !has(self.approvalRule)", message: 'approvalRule applies only to action requireApproval', fieldPath: '.approvalRule', reason: 'FieldValueForbidden' },
));

const retention = obj('How long records are kept.', {
  sessions: Type.Optional(duration('How long session records are kept before whole segments are deleted. Default 180d.', '180d')),
  approvals: Type.Optional(duration('How long finished ApprovalRequests are kept. Default 30d.', '30d')),
});

export const accessPolicySpec = obj('Desired state: who may reach the target, for what, doing what, seeing what.', {
  podSelector: labelSelector('Agent pods this policy governs (in the policy\'s namespace). Empty selects every pod that opted in.'),
  target,
  identity,
  subjects: Type.Array(subject, { description: 'Who may use the target (any match). Everyone else is denied.', minItems: 1, maxItems: 256 }),
  revokedSubjects: Type.Optional(Type.Array(revokedSubject, { description: 'Instant revocation: these are denied and their open sessions closed.', maxItems: 1024 })),
  purposes: namedList(purpose, 'Allowed purposes; every session must declare one of them.', { minItems: 1, maxItems: 32 }),
  rules: namedList(rule, 'Ordered rules; first match decides; no match denies.', { minItems: 1, maxItems: 128 }),
  masking: Type.Optional(masking),
  sensitiveColumns: Type.Optional(sensitiveColumns),
  recording: Type.Optional(recording),
  retention: Type.Optional(retention),
}, cel(
  { rule: "!has(self.target) || !has(self.rules) || self.rules.all(r, !has(r.match) || (self.target.protocol == 'postgres' ? !has(r.match.http) : !has(r.match.sql)))", message: 'rules must match the target protocol (match.sql for postgres, match.http for http)', fieldPath: '.rules' },
  { rule: "!has(self.target) || !has(self.rules) || self.rules.all(r, !has(r.match) || (self.target.protocol == 'kubernetes' ? !has(r.match.sql) && !has(r.match.http) : !has(r.match.kubernetes)))", message: 'rules must match the target protocol (match.kubernetes for kubernetes, and only there)', fieldPath: '.rules' },
  { rule: "!has(self.target) || !has(self.rules) || self.rules.all(r, !has(r.match) || (self.target.protocol == 'ssh' ? !has(r.match.sql) && !has(r.match.http) : !has(r.match.ssh)))", message: 'rules must match the target protocol (match.ssh for ssh, and only there)', fieldPath: '.rules' },
  { rule: "!has(self.target) || !has(self.rules) || self.target.protocol == 'kubernetes' || self.rules.all(r, !has(r.revealSecretData))", message: 'revealSecretData applies to kubernetes targets only', fieldPath: '.rules' },
  { rule: '!has(self.rules) || !has(self.purposes) || self.rules.all(r, !has(r.purposes) || r.purposes.all(p, self.purposes.exists(q, q.name == p)))', message: 'rules[].purposes must name purposes listed in spec.purposes', fieldPath: '.rules' },
  { rule: "!has(self.sensitiveColumns) || !has(self.target) || self.target.protocol == 'postgres'", message: 'sensitiveColumns applies to postgres targets only', fieldPath: '.sensitiveColumns' },
  { rule: "!has(self.sensitiveColumns) || !has(self.sensitiveColumns.approvalRule) || !has(self.rules) || self.rules.exists(r, r.name == self.sensitiveColumns.approvalRule && r.action == 'requireApproval')", message: 'sensitiveColumns.approvalRule must name a requireApproval rule in spec.rules', fieldPath: '.sensitiveColumns.approvalRule' },
));

export const accessPolicyStatus = obj('Observed state, written by the operator.', {
  observedGeneration: Type.Optional(Type.Integer({ description: 'Generation the operator last processed.', minimum: 0 })),
  conditions: Type.Optional(conditions),
  ruleCount: Type.Optional(Type.Integer({ description: 'Number of rules in force.', minimum: 0 })),
  sessions: Type.Optional(obj('Session counters from ingested records.', {
    total: Type.Integer({ description: 'Commands recorded.', minimum: 0 }),
    denied: Type.Integer({ description: 'Commands denied.', minimum: 0 }),
    approvalsRequested: Type.Integer({ description: 'Commands held for approval.', minimum: 0 }),
    lastSessionTime: Type.Optional(str('Time of the newest recorded command.', { format: 'date-time' })),
  })),
  chain: Type.Optional(obj('Tamper evidence: head of the operator\'s session store chain for this policy, anchored here so altering the store also requires altering the Kubernetes API.', {
    head: str('SHA-256 (hex) of the newest stored record.', { pattern: '^[0-9a-f]{64}$' }),
    records: Type.Integer({ description: 'Records in the chain up to head.', minimum: 0 }),
    root: Type.Optional(str('SHA-256 (hex) root of the store log\'s Merkle tree (RFC 9162) at records links, as its store checkpoint signs it: it pins every link, so an export\'s records are anchored through it (guarita verify --file --anchor ROOT, or --policy).', { pattern: '^[0-9a-f]{64}$' })),
    anchoredAt: str('When head was written.', { format: 'date-time' }),
  })),
});
