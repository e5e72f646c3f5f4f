// Decisions: who (subjects, revocations), why (purposes), and what (ordered rules, first match wins,
// no match denies). Pure and synchronous: the sidecar calls it per command, the CLI per line.
import type { AccessPolicy, PolicyMasking, PolicyRule, PolicySubject, SqlStatementKind, SqlTrait } from '../../crds/types.ts';
import { parseDuration } from '../duration.ts';
import { compileTableGlob, tableGlobProblem, type MatchMode, type TableGlob } from './glob.ts';
import { compileHttpMatch, normalizePath, parseQueryString, queryRecord, type CompiledHttpMatch, type HttpCompileProblem, type HttpRequest } from './http.ts';
import { compileKubernetesMatch, type CompiledKubernetesMatch } from './kubernetes-match.ts';
import { describeKubernetesRequest, reachingRequest, type KubernetesAttributes } from './kubernetes-request.ts';
import { compileSshMatch, describeSshRequest, judgeSshRequest, resolutionMatters, unmatchedApplies, unresolvedReason, type CompiledSshMatch, type SshCompileProblem, type SshRequest } from './ssh.ts';
import { SensitiveColumnGuard, SensitiveColumnsConfigError } from './sql-columns.ts';
import { classifySql, policyEngineReady, SqlParseError, withSharedParse } from './sql.ts';
import type { ApprovalPlan, Command, CompiledPolicy, Decision, DecisionCode, Identity, StatementInfo, Verdict } from './types.ts';

/** A policy the schema accepts but the engine cannot apply; `field` is the kubectl-style path. */
export class PolicyCompileError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'PolicyCompileError';
    this.field = field;
  }
}

interface SqlMatcher { kinds?: ReadonlySet<SqlStatementKind>; traits?: readonly SqlTrait[]; tables?: readonly TableGlob[] }

interface CompiledRule {
  name: string;
  description?: string;
  action: Verdict;
  mode: MatchMode;
  purposes?: ReadonlySet<string>;
  sql?: SqlMatcher;
  http?: CompiledHttpMatch;
  kubernetes?: CompiledKubernetesMatch;
  ssh?: CompiledSshMatch;
  revealSecretData?: boolean;
  approval?: ApprovalPlan;
}

type RevokedSubject = NonNullable<AccessPolicy['spec']['revokedSubjects']>[number];

const SA_PREFIX = 'system:serviceaccount:';
const RANK: Readonly<Record<Verdict, number>> = { allow: 0, requireApproval: 1, deny: 2 };

// --- subjects ------------------------------------------------------------------------------------

function saFullName(name: string, namespace: string | undefined): string | undefined {
  if (name.startsWith(SA_PREFIX)) return name;
  return namespace === undefined ? undefined : `${SA_PREFIX}${namespace}:${name}`;
}

function identitySaName(id: Identity): string | undefined {
  return id.kind === 'ServiceAccount' ? saFullName(id.subject, id.namespace) : undefined;
}

/** subjects: exact. User matches kind User, ServiceAccount needs its namespace. */
function subjectAllows(s: PolicySubject, id: Identity): boolean {
  if (s.kind === 'Group') return id.groups.includes(s.name);
  if (s.kind === 'User') return id.kind === 'User' && id.subject === s.name;
  const want = saFullName(s.name, s.namespace);
  return want !== undefined && identitySaName(id) === want;
}

/** revokedSubjects: liberal. A name matches whatever the identity's kind; a ServiceAccount without namespace matches it in every namespace. */
function subjectRevoked(s: RevokedSubject, id: Identity): boolean {
  if (s.kind === 'Group') return id.groups.includes(s.name);
  const sa = identitySaName(id) ?? (id.subject.startsWith(SA_PREFIX) ? id.subject : undefined);
  if (s.kind === 'User') return id.subject === s.name || sa === s.name;
  const want = saFullName(s.name, s.namespace);
  if (want !== undefined) return sa === want;
  return id.subject === s.name || (sa !== undefined && sa.endsWith(`:${s.name}`));
}

function describeIdentity(id: Identity): string {
  return `${id.kind === 'ServiceAccount' ? 'service account' : 'user'} "${identitySaName(id) ?? id.subject}"`;
}

const PURPOSE_NAME = /^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$/;

// --- compilation ---------------------------------------------------------------------------------

function compileSql(m: NonNullable<NonNullable<PolicyRule['match']>['sql']>, field: string): SqlMatcher {
  const tables = m.tables?.map((t, i) => {
    const problem = tableGlobProblem(t);
    if (problem !== undefined) throw new PolicyCompileError(`${field}.tables[${i}]`, problem);
    return compileTableGlob(t);
  });
  return {
    ...(m.statementKinds === undefined ? {} : { kinds: new Set(m.statementKinds) }),
    ...(m.traits === undefined ? {} : { traits: m.traits }),
    ...(tables === undefined ? {} : { tables }),
  };
}

function compileApproval(rule: PolicyRule, field: string): ApprovalPlan | undefined {
  if (rule.action !== 'requireApproval') return undefined;
  const a = rule.approval;
  if (a === undefined) throw new PolicyCompileError(`${field}.approval`, 'action requireApproval needs an approval block');
  let ttlSeconds: number;
  try {
    ttlSeconds = parseDuration(a.ttl ?? '15m');
  } catch (err) {
    throw new PolicyCompileError(`${field}.approval.ttl`, err instanceof Error ? err.message : String(err));
  }
  return { approverGroups: [...a.approverGroups], minApprovals: a.minApprovals ?? 1, ttlSeconds };
}

function compileHttp(m: NonNullable<NonNullable<PolicyRule['match']>['http']>, field: string): CompiledHttpMatch {
  const problems: HttpCompileProblem[] = [];
  const http = compileHttpMatch(m, problems);
  const first = problems[0];
  if (first !== undefined) throw new PolicyCompileError(`${field}.${first.field}`, first.message);
  return http;
}

function compileSsh(m: NonNullable<NonNullable<PolicyRule['match']>['ssh']>, field: string): CompiledSshMatch {
  const problems: SshCompileProblem[] = [];
  const ssh = compileSshMatch(m, problems);
  const first = problems[0];
  if (first !== undefined) throw new PolicyCompileError(`${field}.${first.field}`, first.message);
  return ssh;
}

/** Which target protocol each match block applies to. */
const MATCH_PROTOCOL = { ssh: 'ssh', kubernetes: 'kubernetes', sql: 'postgres', http: 'http' } as const;
const MATCH_KINDS = Object.keys(MATCH_PROTOCOL) as (keyof typeof MATCH_PROTOCOL)[];

function compileMatch(rule: PolicyRule, field: string, protocol: string): Pick<CompiledRule, 'sql' | 'http' | 'kubernetes' | 'ssh'> {
  const m = rule.match ?? {};
  const wrong = MATCH_KINDS.find((kind) => m[kind] !== undefined && MATCH_PROTOCOL[kind] !== protocol);
  if (wrong !== undefined) {
    if (protocol === 'ssh') throw new PolicyCompileError(`${field}.match`, 'an ssh target\'s rules match with match.ssh only');
    throw new PolicyCompileError(`${field}.match.${wrong}`, `match.${wrong} applies to ${MATCH_PROTOCOL[wrong]} targets only`);
  }
  if (m.ssh !== undefined) return { ssh: compileSsh(m.ssh, `${field}.match.ssh`) };
  if (m.kubernetes !== undefined) return { kubernetes: compileKubernetesMatch(m.kubernetes) };
  if (m.sql !== undefined) return { sql: compileSql(m.sql, `${field}.match.sql`) };
  return m.http === undefined ? {} : { http: compileHttp(m.http, `${field}.match.http`) };
}

function compileRule(rule: PolicyRule, i: number, policy: AccessPolicy, purposes: ReadonlySet<string>): CompiledRule {
  const field = `spec.rules[${i}]`;
  rule.purposes?.forEach((p, j) => {
    if (!purposes.has(p)) throw new PolicyCompileError(`${field}.purposes[${j}]`, `purpose "${p}" is not listed in spec.purposes`);
  });
  const approval = compileApproval(rule, field);
  if (rule.revealSecretData === true && (rule.action !== 'allow' || policy.spec.target.protocol !== 'kubernetes')) {
    throw new PolicyCompileError(`${field}.revealSecretData`, 'applies only to allow rules of kubernetes targets');
  }
  return {
    name: rule.name,
    ...(rule.description === undefined ? {} : { description: rule.description }),
    action: rule.action,
    mode: rule.action === 'allow' ? 'permissive' : 'restrictive',
    ...(rule.purposes === undefined ? {} : { purposes: new Set(rule.purposes) }),
    ...compileMatch(rule, field, policy.spec.target.protocol),
    ...(rule.revealSecretData === true ? { revealSecretData: true } : {}),
    ...(approval === undefined ? {} : { approval }),
  };
}

function checkSubjects(policy: AccessPolicy): void {
  policy.spec.subjects.forEach((s, i) => {
    if (s.kind === 'ServiceAccount' && s.namespace === undefined && !s.name.startsWith(SA_PREFIX)) {
      throw new PolicyCompileError(`spec.subjects[${i}].namespace`, 'required for kind ServiceAccount (or name it system:serviceaccount:<namespace>:<name>)');
    }
  });
}

// --- matching ------------------------------------------------------------------------------------

function tablesMatch(globs: readonly TableGlob[], tables: readonly string[], mode: MatchMode): boolean {
  const hit = (t: string): boolean => globs.some((g) => g.matches(t, mode));
  // A restrictive rule applies when any table it names is touched; an allow rule only when every touched table is one it names.
  return mode === 'restrictive' ? tables.some(hit) : tables.length > 0 && tables.every(hit);
}

function sqlMatches(m: SqlMatcher, s: StatementInfo, mode: MatchMode): boolean {
  if (m.kinds !== undefined && !m.kinds.has(s.kind)) return false;
  if (m.traits !== undefined && !m.traits.some((t) => s.traits.includes(t))) return false;
  return m.tables === undefined || tablesMatch(m.tables, s.tables, mode);
}

function purposeApplies(rule: CompiledRule, purpose: string): boolean {
  return rule.purposes === undefined || rule.purposes.has(purpose);
}

// --- decisions -----------------------------------------------------------------------------------

function denial(code: DecisionCode, reason: string): Decision {
  return { decision: 'deny', code, reason };
}

/** A built-in refusal (a pinned setting changed) is not a rule's decision: no policy can allow it. */
function parseDenial(err: SqlParseError): Decision {
  return denial('Unparseable', `${err.reason === 'refused' ? 'refused whatever the policy says' : 'the SQL cannot be checked'}: ${err.message}`);
}

function ruleLabel(rule: CompiledRule): string {
  return rule.description === undefined ? `rule "${rule.name}"` : `rule "${rule.name}" (${rule.description.trim()})`;
}

/** Tables named in a reason: the first ones say enough (a long text can touch thousands, and the reason is recorded and sent). */
const REASON_TABLES = 20;

function describeStatement(s: StatementInfo, i: number, n: number): string {
  const which = n > 1 ? `statement ${i + 1} of ${n}` : 'the statement';
  const more = s.tables.length > REASON_TABLES ? ` and ${s.tables.length - REASON_TABLES} more` : '';
  const on = s.tables.length > 0 ? ` on ${s.tables.slice(0, REASON_TABLES).join(', ')}${more}` : '';
  const traits = s.traits.length > 0 ? ` [${s.traits.join(', ')}]` : '';
  return `${which} (${s.kind}${on}${traits})`;
}

function ruleDecision(rule: CompiledRule | undefined, what: string, masking: PolicyMasking | undefined): Decision {
  if (rule === undefined) return denial('NoMatchingRule', `no rule matches ${what}; no match denies`);
  const base = { rule: rule.name };
  if (rule.action === 'deny') return { ...base, decision: 'deny', code: 'RuleDenied', reason: `${what} is denied by ${ruleLabel(rule)}` };
  const withMasking = masking === undefined ? {} : { masking };
  if (rule.action === 'allow') return { ...base, ...withMasking, decision: 'allow', code: 'Allowed', reason: `${what} is allowed by ${ruleLabel(rule)}` };
  const a = rule.approval ?? { approverGroups: [], minApprovals: 1, ttlSeconds: 900 };
  const who = `${a.minApprovals} approval${a.minApprovals === 1 ? '' : 's'} from ${a.approverGroups.join(', ')}`;
  return { ...base, ...withMasking, decision: 'requireApproval', code: 'ApprovalRequired', approval: a, reason: `${what} needs ${who} under ${ruleLabel(rule)}` };
}

class Compiled implements CompiledPolicy {
  readonly policy: AccessPolicy;
  private readonly rules: readonly CompiledRule[];
  private readonly purposes: ReadonlySet<string>;
  private readonly guard: CompiledGuard | undefined;

  constructor(policy: AccessPolicy) {
    this.policy = policy;
    checkSubjects(policy);
    this.purposes = new Set(policy.spec.purposes.map((p) => p.name));
    this.rules = policy.spec.rules.map((r, i) => compileRule(r, i, policy, this.purposes));
    this.guard = compileGuard(policy, this.rules);
  }

  checkAccess(identity: Identity, purpose: string | undefined): Decision | undefined {
    return this.checkSubject(identity) ?? this.checkPurpose(purpose);
  }

  private checkSubject(identity: Identity): Decision | undefined {
    const spec = this.policy.spec;
    const revoked = (spec.revokedSubjects ?? []).find((s) => subjectRevoked(s, identity));
    if (revoked !== undefined) {
      const why = revoked.reason === undefined ? '' : `: ${revoked.reason}`;
      return denial('SubjectRevoked', `${describeIdentity(identity)} is revoked (revokedSubjects ${revoked.kind} "${revoked.name}")${why}`);
    }
    if (spec.subjects.some((s) => subjectAllows(s, identity))) return undefined;
    return denial('SubjectNotAllowed', `${describeIdentity(identity)} (groups: ${identity.groups.join(', ') || 'none'}) is not among the policy's subjects`);
  }

  private checkPurpose(purpose: string | undefined): Decision | undefined {
    if (purpose === undefined || purpose === '') return denial('PurposeMissing', 'no purpose declared; every session must declare one of the policy\'s purposes');
    if (this.purposes.has(purpose)) return undefined;
    const shown = PURPOSE_NAME.test(purpose) && purpose.length <= 64 ? `"${purpose}"` : '(not a valid purpose name)';
    return denial('PurposeNotAllowed', `declared purpose ${shown} is not one of: ${[...this.purposes].join(', ')}`);
  }

  /**
   * The last HTTP request allowed without a query record or a body: who asked it, for what, and
   * the decision. evaluate() is pure and a compiled policy never changes (a policy change compiles
   * a new one), so the same identity object, purpose, method and path get the same decision: an
   * agent repeating a request (polling, one resource again) is not evaluated again. At one
   * connection the evaluation was ~5 % of the sidecar's main-thread time per request, before the
   * upstream write (docs/benchmarks.md, HTTP). Only allow decisions are kept; anything else is
   * evaluated every time.
   */
  private lastHttpAllow: { identity: Identity; purpose: string | undefined; method: string; path: string; decision: Decision } | undefined;

  resolutionMatters(request: SshRequest, facts: { purpose: string; access: boolean }): boolean {
    return resolutionMatters(this.rules, this.policy.spec.target.protocol, request, facts);
  }

  evaluate(input: { identity: Identity; purpose: string | undefined; command: Command }): Decision {
    const cmd = input.command;
    if (cmd.protocol !== 'http' || cmd.query !== undefined || cmd.jsonBody !== undefined) return this.evaluateOnce(input);
    const last = this.lastHttpAllow;
    if (last !== undefined && last.identity === input.identity && last.purpose === input.purpose && last.method === cmd.method && last.path === cmd.path) return last.decision;
    const decision = this.evaluateOnce(input);
    if (decision.decision === 'allow') {
      this.lastHttpAllow = { identity: input.identity, purpose: input.purpose, method: cmd.method, path: cmd.path, decision: Object.freeze(decision) };
    }
    return decision;
  }

  private evaluateOnce(input: { identity: Identity; purpose: string | undefined; command: Command }): Decision {
    try {
      const access = this.checkAccess(input.identity, input.purpose);
      if (access !== undefined) return access;
      const purpose = input.purpose ?? '';
      const cmd = input.command;
      const protocol = this.policy.spec.target.protocol;
      if (cmd.protocol !== protocol) return denial('ProtocolMismatch', `a ${cmd.protocol} command cannot be evaluated against a ${protocol} target`);
      if (cmd.protocol === 'kubernetes') return this.evaluateKubernetes(cmd.request, purpose);
      if (cmd.protocol === 'ssh') return this.evaluateSsh(cmd.ssh, purpose);
      // One parse for the classifier and the sensitive-column guard (sql.ts withSharedParse).
      return cmd.protocol === 'postgres' ? withSharedParse(() => this.evaluateSql(cmd.sql, purpose)) : this.evaluateHttp(cmd, purpose);
    } catch (err) {
      return denial('Unparseable', `policy engine error: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private firstRule(purpose: string, applies: (r: CompiledRule) => boolean): CompiledRule | undefined {
    return this.rules.find((r) => purposeApplies(r, purpose) && applies(r));
  }

  private evaluateSql(sql: string, purpose: string): Decision {
    let statements: StatementInfo[];
    try {
      statements = classifySql(sql);
    } catch (err) {
      if (err instanceof SqlParseError) return parseDenial(err);
      throw err;
    }
    const masking = this.policy.spec.masking;
    if (statements.length === 0) {
      return { decision: 'allow', code: 'Allowed', reason: 'empty query: nothing to run', ...(masking === undefined ? {} : { masking }), statements };
    }
    // The strictest statement decides; among equals, the first. Only its reason is written (a text
    // of thousands of statements wrote thousands of reasons, and kept one).
    let decidingAt = 0;
    let decidingRule: CompiledRule | undefined;
    statements.forEach((s, i) => {
      const rule = this.firstRule(purpose, (r) => r.http === undefined && r.kubernetes === undefined && (r.sql === undefined || sqlMatches(r.sql, s, r.mode)));
      s.verdict = rule?.action ?? 'deny'; // no matching rule denies (ruleDecision)
      if (rule !== undefined) s.rule = rule.name;
      if (i === 0 || RANK[s.verdict] > RANK[(statements[decidingAt] as StatementInfo).verdict]) {
        decidingAt = i;
        decidingRule = rule;
      }
    });
    const deciding = ruleDecision(decidingRule, describeStatement(statements[decidingAt] as StatementInfo, decidingAt, statements.length), masking);
    return withGuard(this.guard, deciding, statements, sql, masking);
  }

  private evaluateHttp(cmd: Extract<Command, { protocol: 'http' }>, purpose: string): Decision {
    const norm = normalizePath(cmd.path);
    if (!norm.ok) return denial('Unparseable', `the request path cannot be checked: ${norm.problem}`);
    const method = cmd.method.toUpperCase();
    const req: HttpRequest = {
      method,
      segments: norm.segments,
      query: cmd.query === undefined ? parseQueryString(norm.query) : queryRecord(cmd.query),
      jsonBody: cmd.jsonBody,
    };
    const rule = this.firstRule(purpose, (r) => r.sql === undefined && r.kubernetes === undefined && (r.http === undefined || r.http.matches(req, r.mode)));
    // The path is not repeated in the reason: it may carry identifiers (/customers/<cpf>).
    return ruleDecision(rule, `the ${method} request`, this.policy.spec.masking);
  }

  private evaluateSsh(request: SshRequest, purpose: string): Decision {
    const judged = judgeSshRequest(request);
    if (!judged.ok) return denial('Unparseable', `the SSH request cannot be checked: ${judged.problem}`);
    const req = judged.judged;
    const rule = this.firstRule(purpose, (r) => (r.ssh === undefined ? unmatchedApplies(req, r.mode) : r.ssh.matches(req, r.mode) !== false));
    // A path the host could not resolve fails closed under a rule that judges paths (ssh.ts).
    const unresolved = rule === undefined ? undefined : unresolvedReason(req, rule);
    if (unresolved !== undefined) return denial('PathUnresolved', unresolved);
    // Arguments and paths stay out of the reason (they may carry identifiers); the record keeps the masked command.
    return ruleDecision(rule, describeSshRequest(req), this.policy.spec.masking);
  }

  private evaluateKubernetes(request: KubernetesAttributes | { problem: string }, purpose: string): Decision {
    if ('problem' in request) return denial('Unparseable', `the Kubernetes request cannot be checked: ${request.problem}`);
    // A rule without match.kubernetes allows no request reaching beyond the API object (reachingRequest).
    const rule = this.firstRule(purpose, (r) => r.sql === undefined && r.http === undefined
      && (r.kubernetes === undefined ? r.mode === 'restrictive' || reachingRequest(request) === undefined : r.kubernetes.matches(request, r.mode)));
    // The attributes (verb, resource, namespace, name) are the decision's subject, as in an RBAC
    // denial; the record masks names that look like identifiers.
    // (object names are left out of the reason: a name can carry an identifier, and reasons are not masked).
    const d = ruleDecision(rule, `"${describeKubernetesRequest({ ...request, name: '' })}"`, this.policy.spec.masking);
    return d.decision === 'allow' && rule?.revealSecretData === true ? { ...d, revealSecretData: true } : d;
  }
}

// --- sensitive-column guard (spec.sensitiveColumns) -----------------------------------------------

interface CompiledGuard { guard: SensitiveColumnGuard; action: 'deny' | 'requireApproval'; rule: CompiledRule | undefined }

function compileGuard(policy: AccessPolicy, rules: readonly CompiledRule[]): CompiledGuard | undefined {
  const cfg = policy.spec.sensitiveColumns;
  if (cfg === undefined) return undefined;
  const field = 'spec.sensitiveColumns';
  if (policy.spec.target.protocol !== 'postgres') throw new PolicyCompileError(field, 'applies to postgres targets only');
  let guard: SensitiveColumnGuard;
  try {
    guard = new SensitiveColumnGuard(cfg);
    // View definitions are parsed now when the parser is loaded (the sidecar and the CLI load it first), else at first use.
    if (policyEngineReady()) guard.validateViews();
  } catch (err) {
    if (err instanceof SensitiveColumnsConfigError) throw new PolicyCompileError(`${field}.${err.field}`, err.message.slice(err.field.length + 2));
    throw err;
  }
  return { guard, action: cfg.action, rule: guardApprovalRule(cfg.action, cfg.approvalRule, rules) };
}

/** requireApproval holds statements for the approvers of an existing requireApproval rule (the operator and webhook look approvers up by rule name). */
function guardApprovalRule(action: 'deny' | 'requireApproval', name: string | undefined, rules: readonly CompiledRule[]): CompiledRule | undefined {
  const field = 'spec.sensitiveColumns.approvalRule';
  if (action === 'deny') {
    if (name !== undefined) throw new PolicyCompileError(field, 'applies only to action requireApproval');
    return undefined;
  }
  if (name === undefined) throw new PolicyCompileError(field, 'action requireApproval needs approvalRule: the name of a requireApproval rule in spec.rules, whose approvers decide');
  const rule = rules.find((r) => r.name === name);
  if (rule?.action !== 'requireApproval') throw new PolicyCompileError(field, `"${name}" is not a requireApproval rule in spec.rules`);
  return rule;
}

/** The rules' decision, or the guard's when it is stricter (the statements using personal columns then carry its verdict). */
function withGuard(g: CompiledGuard | undefined, deciding: Decision, statements: StatementInfo[], sql: string, masking: PolicyMasking | undefined): Decision {
  const guarded = g === undefined || deciding.decision === 'deny' ? undefined : guardDecision(g, sql, masking);
  if (guarded === undefined || RANK[guarded.decision] <= RANK[deciding.decision]) return { ...deciding, statements };
  for (const u of guarded.sensitiveColumns ?? []) {
    const st = statements[u.statement - 1];
    if (st === undefined || RANK[st.verdict] >= RANK[guarded.decision]) continue;
    st.verdict = guarded.decision;
    if (guarded.rule === undefined) delete st.rule;
    else st.rule = guarded.rule;
  }
  return { ...guarded, statements };
}

function describeUse(u: { column: string; use: string; path: string; statement: number }, n: number): string {
  const where = n > 1 ? `statement ${u.statement}: ${u.path}` : u.path;
  return `${u.column} as ${u.use} (${where})`;
}

/** The guard's decision, or undefined when no personal column is used otherwise than returned as is. Never throws. */
function guardDecision(g: CompiledGuard, sql: string, masking: PolicyMasking | undefined): Decision | undefined {
  let uses;
  try {
    uses = g.guard.check(sql);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { decision: 'deny', code: 'Unparseable', reason: `the sensitive-column guard cannot check the SQL: ${message}` };
  }
  if (uses.length === 0) return undefined;
  const statements = new Set(uses.map((u) => u.statement)).size;
  const shown = uses.slice(0, 3).map((u) => describeUse(u, statements)).join('; ') + (uses.length > 3 ? `; and ${uses.length - 3} more` : '');
  const what = `personal data used otherwise than returned as is (masked): ${shown}`;
  if (g.action === 'deny' || g.rule === undefined) {
    return { decision: 'deny', code: 'SensitiveColumnUse', reason: `${what}; denied by spec.sensitiveColumns`, sensitiveColumns: uses };
  }
  const held = ruleDecision(g.rule, what, masking);
  return { ...held, reason: `${held.reason} (spec.sensitiveColumns.approvalRule)`, sensitiveColumns: uses };
}

/** Precompiles globs, purposes and approvals. Throws PolicyCompileError naming the field for what the schema cannot say. */
export function compilePolicy(policy: AccessPolicy): CompiledPolicy {
  return new Compiled(policy);
}
