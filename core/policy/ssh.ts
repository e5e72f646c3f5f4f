// SSH request matching (match.ssh): exec commands by program and argument globs, interactive
// shells, SFTP operations by path glob, and port forwarding by destination. Restrictive rules
// (deny, requireApproval) match liberally and allow rules strictly, so what the engine cannot pin
// down falls to the stricter outcome. Pure: the sidecar resolves SFTP paths on the host (realpath)
// before it asks, and says which paths it could not resolve: where such a path leads is unknown, so
// a rule that judges paths cannot decide it and the request is denied (unresolvedReason).
import type { PolicyRule, SftpOperation, SshRequestKind } from '../../crds/types.ts';
import { compilePathGlob, pathGlobProblem, wildcardMatch, type MatchMode, type PathGlob } from './glob.ts';
import { legacyScp, optionValues, parseCommandLine, pathOperands, programName, splitOptionClusters } from './ssh-command.ts';

type SshMatch = NonNullable<NonNullable<PolicyRule['match']>['ssh']>;

/**
 * A path the sidecar could not resolve on the host: where it leads is unknown. `shown` is the path
 * as a record may show it (masked by the sidecar: it may carry personal data); `why` a fixed phrase
 * (never the host's own error text, which can name files).
 */
export interface UnresolvedPath { shown: string; why: string }

/** One SSH request the sidecar judges: a channel request, or one SFTP operation. */
export type SshRequest =
  /**
   * `resolved`: for legacy scp (scp -t/-f PATH), PATH as the host resolves it (realpath), when the
   * sidecar could ask; `unresolved`: the paths it could not resolve (or, for -r and directory
   * targets, the names below the path, which only the transfer carries). `argumentPaths`: for
   * other commands, the arguments naming paths (with a /) that a symlink leads elsewhere, mapped
   * to where the host resolves them; those it could not resolve are in `unresolved`.
   * `resolution: 'skipped'`: the sidecar did not ask the host, because no rule of the policy it
   * consulted could be changed by the answer (resolutionMatters); the policy deciding may be a
   * newer one, so every path operand is then judged unresolved (what is resolved is ignored).
   */
  | { kind: 'exec'; command: string; resolved?: string[]; unresolved?: UnresolvedPath[]; argumentPaths?: Record<string, string>; loginDirectory?: string; programUnresolved?: boolean; resolution?: 'skipped' }
  | { kind: 'shell' }
  /**
   * `path` (and `toPath` for rename and symlink) as the agent sent them, absolute (the sidecar
   * makes relative ones absolute against the SFTP login directory); `resolved`: the same paths as
   * the host resolves them (realpath, symlinks followed), when the sidecar could ask; `unresolved`:
   * the paths it asked about and could not resolve.
   */
  | { kind: 'sftp'; operation: SftpOperation; path: string; toPath?: string; resolved?: string[]; unresolved?: UnresolvedPath[] }
  | { kind: 'localForward' | 'remoteForward'; host: string; port: number };

/**
 * `unresolved`: the rule judges paths and its answer depends on where an unresolved path leads
 * (an allow rule every known path satisfies, a deny or approval rule no known path hits).
 */
export type SshMatchResult = boolean | 'unresolved';

export interface CompiledSshMatch {
  matches(req: JudgedSshRequest, mode: MatchMode): SshMatchResult;
  /** The rule names paths (match.ssh.paths): its decision on an SFTP or scp request depends on them. */
  readonly judgesPaths: boolean;
  /** The rule names command arguments other than a final `*`: its decision on an exec depends on them. */
  readonly judgesArguments: boolean;
  /** Whether where the host resolves the request's paths can change this rule's answer (resolutionMatters). */
  resolutionCanChange(need: ResolutionNeed): boolean;
}

/**
 * What resolving an exec would tell the policy about: legacy scp's paths (judged as an SFTP read
 * or write), or another command's operands, whose program word is given.
 */
export type ResolutionNeed = { kind: 'scp'; operation: SftpOperation } | { kind: 'exec'; program: string };

/** A request after parsing: exec commands split into words, legacy scp turned into sftp, paths normalized. */
export type JudgedSshRequest =
  /**
   * `real`: arguments a symlink on the host leads elsewhere, and where; `unknown`: arguments the
   * host could not resolve; `home`: the login directory the host runs the command in, when known.
   */
  | { kind: 'exec'; words: string[]; real: ReadonlyMap<string, string>; unknown: UnresolvedPath[]; home?: string; programUnknown?: boolean }
  | { kind: 'shell' }
  /** `unknown`: paths the host could not resolve (they may lead anywhere). */
  | { kind: 'sftp'; operation: SftpOperation; paths: string[][]; unknown: UnresolvedPath[]; via: 'sftp' | 'scp' }
  | { kind: 'localForward' | 'remoteForward'; destination: string };

export interface SshCompileProblem { field: string; message: string }

interface CommandGlob { program: string; args: string[]; rest: boolean }

function compileCommand(source: string): CommandGlob | string {
  const parsed = parseCommandLine(source, { pattern: true });
  if (!parsed.ok) return parsed.problem;
  const words = parsed.words;
  const rest = words.length > 1 && words[words.length - 1] === '*';
  const program = words[0] ?? '';
  return { program, args: rest ? words.slice(1, -1) : words.slice(1), rest };
}

function programMatches(glob: string, word: string, mode: MatchMode): boolean {
  if (glob.includes('/')) return wildcardMatch(glob, word);
  // Allow rules: the bare name the host looks up on PATH; /tmp/x/cat is not cat.
  if (mode === 'permissive') return wildcardMatch(glob, word);
  return wildcardMatch(glob, programName(word)) || wildcardMatch(glob, word);
}

function argumentForms(word: string, mode: MatchMode): string[] | undefined {
  if (!word.includes('/')) return [word];
  const norm = normalizeAbsolute(word);
  if (mode === 'permissive') {
    // A relative path through .. can reach anything from a directory the policy cannot see.
    if (!word.startsWith('/')) return word.split('/').includes('..') ? undefined : [word];
    return norm === undefined ? undefined : [norm];
  }
  return norm === undefined ? [word] : [word, norm];
}

/** Where a symlink on the host leads an argument, if it does (a path the host resolved elsewhere). */
function realForm(word: string, real: ReadonlyMap<string, string>): string[] {
  const r = real.get(word);
  return r === undefined ? [] : [r];
}

/** A relative argument where the login directory puts it (deny and approval globs on absolute paths see it there). */
function homeForm(word: string, home: string | undefined): string[] {
  if (home === undefined || word.startsWith('/') || word.startsWith('-')) return [];
  const abs = normalizeAbsolute(`${home}/${word}`);
  return abs === undefined ? [] : [abs];
}

/**
 * The program as sent and, for deny and approval globs, where a symlink on the host leads a
 * program path (`./tool` to /bin/rm is rm). Allow globs keep matching the program as sent.
 */
function programHit(glob: string, program: string, mode: MatchMode, real: ReadonlyMap<string, string>): boolean {
  return [program, ...(mode === 'restrictive' ? realForm(program, real) : [])].some((w) => programMatches(glob, w, mode));
}

function commandMatches(g: CommandGlob, words: readonly string[], mode: MatchMode, real: ReadonlyMap<string, string> = new Map(), home?: string): boolean {
  const [program = '', ...args] = words;
  if (!programHit(g.program, program, mode, real)) return false;
  if (mode === 'restrictive') {
    // Any position, options unclustered: `rm -rf *` matches `rm -f -r x` and `rm x -rf`; an
    // argument also where a symlink on the host leads it.
    // An option's own value (--file=/x, if=/x, -f/x) too: the program opens it like an operand.
    const forms = (a: string): string[] => [...(argumentForms(a, mode) ?? [a]), ...realForm(a, real), ...homeForm(a, home)];
    const have = splitOptionClusters(args).flatMap((a) => [...forms(a), ...optionValues(a).flatMap(forms)]);
    const want = splitOptionClusters(g.args);
    if (!g.rest && args.length === 0 && want.length > 0) return false;
    // A relative argument through .. may reach any absolute path a glob names.
    return want.every((p) => have.some((a) => wildcardMatch(p, a)) || (p.startsWith('/') && args.some((a) => !a.startsWith('/') && a.split('/').includes('..'))));
  }
  if (g.rest ? args.length < g.args.length : args.length !== g.args.length) return false;
  // Allow: the argument as sent and where a symlink leads it must both match.
  return g.args.every((p, i) => {
    const forms = argumentForms(args[i] ?? '', mode);
    return forms !== undefined && [...forms, ...realForm(args[i] ?? '', real)].every((a) => wildcardMatch(p, a));
  });
}

/**
 * An exec whose arguments the host could not all resolve: whether rule globs decide it whatever
 * those arguments lead to. Allow: a glob matching as sent whose arguments are all `*` (any file)
 * decides; another matching glob cannot tell. Deny and approval: a match as sent decides; a glob
 * for the program with argument patterns might match the unknown target.
 */
function execMatches(m: SshMatchers, req: Extract<JudgedSshRequest, { kind: 'exec' }>, mode: MatchMode): SshMatchResult {
  if (m.commands.length === 0) return true;
  const hits = m.commands.filter((g) => commandMatches(g, req.words, mode, req.real, req.home));
  if (req.unknown.length === 0) return hits.length > 0;
  if (mode === 'permissive') {
    if (hits.length === 0) return false;
    // A program path the host could not resolve may be another program than the glob names.
    return !req.programUnknown && hits.some((g) => g.args.every((a) => a === '*')) ? true : 'unresolved';
  }
  if (hits.length > 0) return true;
  // A program path the host could not resolve may be any program a glob names.
  if (req.programUnknown) return 'unresolved';
  return m.commands.some((g) => programHit(g.program, req.words[0] ?? '', mode, req.real) && (g.args.length > 0 || g.rest)) ? 'unresolved' : false;
}

/** An absolute path with . and .. applied and repeated slashes folded; undefined if .. climbs above /. */
export function normalizeAbsolute(path: string): string | undefined {
  if (!path.startsWith('/')) return undefined;
  const out: string[] = [];
  for (const seg of path.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else {
      out.push(seg);
    }
  }
  return `/${out.join('/')}`;
}

function pathSegments(path: string): string[] | undefined {
  const norm = normalizeAbsolute(path);
  return norm === undefined ? undefined : norm.split('/').slice(1).filter((s) => s !== '');
}

/**
 * One spelling per address, as the host's resolver reads it: the host's getaddrinfo takes
 * 2130706433, 0x7f.1, 0177.0.0.1 and 127.1 for 127.0.0.1, and ::ffff:127.0.0.1 too, so a rule on
 * 127.0.0.1 (or 169.254.169.254) must see those as it (issue 23 review). WHATWG URL host parsing
 * does the same IPv4 number forms; IPv4-mapped IPv6 becomes the IPv4 address; names lose a
 * trailing dot. Undefined: not a host name or address.
 */
export function canonicalForwardHost(host: string): string | undefined {
  if (!/^[A-Za-z0-9._:[\]-]{1,255}$/.test(host)) return undefined;
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  let parsed: string;
  try {
    parsed = new URL(`http://${bare.includes(':') ? `[${bare}]` : bare}/`).hostname;
  } catch {
    return undefined;
  }
  const mapped = /^\[::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})\]$/.exec(parsed);
  if (mapped !== null) {
    const [hi, lo] = [parseInt(mapped[1] ?? '0', 16), parseInt(mapped[2] ?? '0', 16)];
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return parsed.endsWith('.') ? parsed.slice(0, -1) : parsed;
}

function judgeForward(req: Extract<SshRequest, { kind: 'localForward' | 'remoteForward' }>): Judged {
  if (!Number.isInteger(req.port) || req.port < 0 || req.port > 65535) return { ok: false, problem: `port ${req.port} is not a port number` };
  const host = canonicalForwardHost(req.host);
  if (host === undefined) return { ok: false, problem: 'the forwarding host is not a host name or address' };
  return { ok: true, judged: { kind: req.kind, destination: `${host}:${req.port}` } };
}

/** A legacy scp path as sent: scp -t/-f take paths relative to the login directory, which only the host knows (kept under "~"). */
function scpPathSegments(path: string): string[] | undefined {
  // eslint-disable-next-line no-control-regex -- control characters are what is refused
  if (/[\u0000-\u001f\u007f]/.test(path)) return undefined;
  if (path.startsWith('/')) return pathSegments(path);
  const relative = path.split('/');
  // A relative path through .. is refused: it climbs from a directory the policy cannot see.
  return relative.includes('..') ? undefined : ['~', ...relative.filter((x) => x !== '' && x !== '.')];
}

/** Where the host leads each argument, normalized; undefined when an answer is not absolute or climbs above /. */
function realArguments(argumentPaths: Record<string, string>): Map<string, string> | undefined {
  const real = new Map<string, string>();
  for (const [word, path] of Object.entries(argumentPaths)) {
    const norm = normalizeAbsolute(path);
    if (norm === undefined) return undefined;
    real.set(word, norm);
  }
  return real;
}

/** An exec other than legacy scp: its words, and its path arguments as the host resolves them. */
function judgeCommand(req: Extract<SshRequest, { kind: 'exec' }>, words: string[]): Judged {
  // scp on the host without -t/-f copies between the host's own paths or on to another host
  // (remote-to-remote): neither is a transfer the path rules see, and -S, -o and -J run programs.
  if (programName(words[0] ?? '') === 'scp') return { ok: false, problem: 'scp run on the host (a remote-to-remote copy) copies where path rules cannot see; copy through the agent (scp -3) instead' };
  // Where the host leads an argument is matched normalized, as SFTP and scp paths are: a host
  // answering "/data/../secret/x" passed an allow glob on /data/* and missed a deny on /secret/*.
  if (req.resolution === 'skipped') return { ok: true, judged: skippedCommand(words) };
  const real = realArguments(req.argumentPaths ?? {});
  if (real === undefined) return { ok: false, problem: 'the host resolved a path argument to a path that is not absolute or climbs above /' };
  const home = req.loginDirectory === undefined ? undefined : normalizeAbsolute(req.loginDirectory);
  return { ok: true, judged: { kind: 'exec', words, real, unknown: req.unresolved ?? [], ...(home === undefined ? {} : { home }), ...(req.programUnresolved === true ? { programUnknown: true } : {}) } };
}

/** Why operands the sidecar did not resolve are unknown (no path text: the reason is not masked). */
const SKIPPED_WHY = 'they were not resolved on the host, because no rule of the policy in force when the request arrived judged them, and the policy has changed since; run the command again';

/**
 * An exec the sidecar did not resolve: every path operand is unknown (and a program given as a
 * path), so a rule of a newer policy that judges them fails closed (PathUnresolved) as it would
 * for a host that could not resolve them; a policy under which they do not matter decides as usual.
 */
function skippedCommand(words: string[]): JudgedSshRequest {
  const operands = pathOperands(words);
  const unknown = operands.length === 0 ? [] : [{ shown: `its ${operands.length === 1 ? 'path operand' : `${operands.length} path operands`}`, why: SKIPPED_WHY }];
  return { kind: 'exec', words, real: new Map(), unknown, ...((words[0] ?? '').includes('/') ? { programUnknown: true } : {}) };
}

function judgeExec(req: Extract<SshRequest, { kind: 'exec' }>): Judged {
  const parsed = parseCommandLine(req.command);
  if (!parsed.ok) return parsed;
  const scp = legacyScp(parsed.words);
  if (scp === undefined) return judgeCommand(req, parsed.words);
  const sent = scp.paths.map(scpPathSegments);
  if (sent.some((s) => s === undefined)) return { ok: false, problem: 'an scp path has control characters, climbs above / or, relative, goes through ..' };
  if (req.resolution === 'skipped') {
    const unknown = [{ shown: `its ${scp.paths.length === 1 ? 'path' : `${scp.paths.length} paths`}`, why: SKIPPED_WHY }];
    return { ok: true, judged: { kind: 'sftp', operation: scp.operation, paths: sent.filter((s) => s !== undefined), unknown, via: 'scp' } };
  }
  const real = (req.resolved ?? []).map(pathSegments);
  if (real.some((r) => r === undefined)) return { ok: false, problem: 'the host resolved an scp path to a path that is not absolute' };
  const paths = [...sent, ...real].filter((s) => s !== undefined);
  return { ok: true, judged: { kind: 'sftp', operation: scp.operation, paths, unknown: req.unresolved ?? [], via: 'scp' } };
}

function judgeSftp(req: Extract<SshRequest, { kind: 'sftp' }>): Judged {
  const raw = [req.path, ...(req.toPath === undefined ? [] : [req.toPath]), ...(req.resolved ?? [])];
  const paths: string[][] = [];
  for (const p of raw) {
    // eslint-disable-next-line no-control-regex -- control characters are what is refused
    if (/[\u0000-\u001f]/.test(p)) return { ok: false, problem: 'an SFTP path contains control characters' };
    const segs = pathSegments(p);
    if (segs === undefined) return { ok: false, problem: 'an SFTP path is not absolute or climbs above /' };
    paths.push(segs);
  }
  return { ok: true, judged: { kind: 'sftp', operation: req.operation, paths, unknown: req.unresolved ?? [], via: 'sftp' } };
}

type Judged = { ok: true; judged: JudgedSshRequest } | { ok: false; problem: string };

/** Parses and normalizes a request for matching, or says why it cannot be judged. */
export function judgeSshRequest(req: SshRequest): Judged {
  switch (req.kind) {
    case 'shell': return { ok: true, judged: req };
    case 'exec': return judgeExec(req);
    case 'sftp': return judgeSftp(req);
    default: return judgeForward(req);
  }
}

const FORWARDS = new Set<SshRequestKind>(['localForward', 'remoteForward']);

function compileCommands(m: SshMatch, problems: SshCompileProblem[]): CommandGlob[] {
  return (m.commands ?? []).flatMap((c, i) => {
    const g = compileCommand(c);
    if (typeof g !== 'string') return [g];
    problems.push({ field: `commands[${i}]`, message: g });
    return [];
  });
}

function compilePaths(m: SshMatch, problems: SshCompileProblem[]): PathGlob[] {
  return (m.paths ?? []).flatMap((p, i) => {
    const problem = pathGlobProblem(p);
    if (problem === undefined) return [compilePathGlob(p)];
    problems.push({ field: `paths[${i}]`, message: problem });
    return [];
  });
}

/** The request kinds a rule applies to: requests, narrowed by what each other field implies. */
function ruleKinds(m: SshMatch, problems: SshCompileProblem[]): Set<SshRequestKind> {
  let kinds: Set<SshRequestKind> = new Set(m.requests ?? ['exec', 'shell', 'sftp', 'localForward', 'remoteForward']);
  const narrow = (field: string, allowed: SshRequestKind[]): void => {
    const next = new Set([...kinds].filter((k) => allowed.includes(k)));
    if (next.size === 0) problems.push({ field, message: `applies to ${allowed.join(' and ')} requests only, which requests does not list` });
    kinds = next;
  };
  if (m.commands !== undefined) narrow('commands', ['exec']);
  if (m.operations !== undefined) narrow('operations', ['sftp']);
  if (m.paths !== undefined) narrow('paths', ['sftp']);
  if (m.destinations !== undefined) narrow('destinations', ['localForward', 'remoteForward']);
  return kinds;
}

interface SshMatchers {
  commands: CommandGlob[];
  paths: PathGlob[];
  operations: ReadonlySet<SftpOperation> | undefined;
  destinations: readonly string[] | undefined;
}

function sftpMatches(m: SshMatchers, req: Extract<JudgedSshRequest, { kind: 'sftp' }>, mode: MatchMode): SshMatchResult {
  if (m.operations !== undefined && !m.operations.has(req.operation)) return false;
  // No paths named: the rule decides whatever the paths resolve to, resolved or not.
  if (m.paths.length === 0) return true;
  const hit = (segs: string[]): boolean => m.paths.some((g) => g.matches(segs, mode));
  // Allow: every path (given and resolved, both ends of a rename) must be allowed; deny and approval: any.
  // An unresolved path may lead anywhere: it decides only when the known paths do not.
  const known = mode === 'permissive' ? req.paths.every(hit) : req.paths.some(hit);
  if (req.unknown.length === 0) return known;
  return mode === 'permissive' ? (known ? 'unresolved' : false) : (known ? true : 'unresolved');
}

function requestMatches(m: SshMatchers, req: JudgedSshRequest, mode: MatchMode): SshMatchResult {
  switch (req.kind) {
    case 'exec': return execMatches(m, req, mode);
    case 'sftp': return sftpMatches(m, req, mode);
    case 'shell': return true;
    default: return m.destinations === undefined || m.destinations.some((d) => wildcardMatch(mode === 'restrictive' ? d.toLowerCase() : d, req.destination));
  }
}

/**
 * Whether where the host resolves the request's paths can change a rule's answer. Legacy scp: a
 * rule naming `paths` for its operation (one naming none decides whatever they resolve to). Other
 * execs: a program given as a path under any rule naming commands (a symlink can make it another
 * program); else a command glob for this program naming arguments other than `*` (resolution adds
 * forms those match; a glob whose arguments are all `*` matches every form, and decides alone when
 * some are unresolved). The program is matched as deny globs match it, the wider way.
 */
function resolutionCanChange(m: SshMatchers, kinds: ReadonlySet<SshRequestKind>, need: ResolutionNeed): boolean {
  if (need.kind === 'scp') return kinds.has('sftp') && m.paths.length > 0 && (m.operations === undefined || m.operations.has(need.operation));
  if (!kinds.has('exec') || m.commands.length === 0) return false;
  if (need.program.includes('/')) return true;
  return m.commands.some((g) => g.args.some((a) => a !== '*') && programMatches(g.program, need.program, 'restrictive'));
}

/** Compiles match.ssh; problems name the field under the match (commands[2], paths[0], ...). */
export function compileSshMatch(m: SshMatch, problems: SshCompileProblem[]): CompiledSshMatch {
  const matchers: SshMatchers = {
    commands: compileCommands(m, problems), paths: compilePaths(m, problems),
    operations: m.operations === undefined ? undefined : new Set<SftpOperation>(m.operations), destinations: m.destinations,
  };
  const kinds = ruleKinds(m, problems);
  const named = new Set(m.requests ?? []);
  return {
    judgesPaths: matchers.paths.length > 0,
    judgesArguments: matchers.commands.some((g) => g.args.some((a) => a !== '*')),
    resolutionCanChange: (need) => resolutionCanChange(matchers, kinds, need),
    matches(req, mode) {
      if (!kinds.has(req.kind)) return false;
      // Port forwarding opens a network path, not a command: only a rule that names it allows it.
      if (mode === 'permissive' && FORWARDS.has(req.kind) && !named.has(req.kind)) return false;
      return requestMatches(matchers, req, mode);
    },
  };
}

/**
 * Why a request with unresolved paths (SFTP and scp paths, exec arguments) is denied whatever the
 * first matching rule says, or undefined when that rule decides it whatever the paths resolve to.
 * Fail closed: a rule that judges paths (or argument globs) cannot allow, or hold for an approver,
 * a path whose target nobody knows; it decides only a denial a known path already matched. A rule
 * that names no paths, an exec glob whose arguments are all `*`, or a request with every path
 * resolved decides as usual; earlier rules that might have matched the unknown target stop the
 * search themselves (their match is 'unresolved').
 */
export function unresolvedReason(req: JudgedSshRequest, rule: { name: string; action: string; mode: MatchMode; ssh?: CompiledSshMatch }): string | undefined {
  if ((req.kind !== 'sftp' && req.kind !== 'exec') || req.unknown.length === 0 || rule.ssh === undefined) return undefined;
  if (!dependsOnUnknown(req, { ...rule, ssh: rule.ssh })) return undefined;
  const first = req.unknown[0] as UnresolvedPath;
  const more = req.unknown.length > 1 ? ` (and ${req.unknown.length - 1} more)` : '';
  return `${describeSshRequest(req)} is denied: the host could not resolve ${first.shown}${more}: ${first.why}; rule "${rule.name}" judges ${req.kind === 'sftp' ? 'paths' : 'arguments'}, and where this one leads is unknown`;
}

/**
 * The rule's answer depends on the unknown target ('unresolved'), or it is an approval rule that
 * judges paths or arguments (the approver would be shown a path whose target nobody knows).
 */
function dependsOnUnknown(req: Extract<JudgedSshRequest, { kind: 'sftp' | 'exec' }>, rule: { action: string; mode: MatchMode; ssh: CompiledSshMatch }): boolean {
  if (rule.ssh.matches(req, rule.mode) === 'unresolved') return true;
  return rule.action === 'requireApproval' && (req.kind === 'sftp' ? rule.ssh.judgesPaths : rule.ssh.judgesArguments);
}

/** A match.ssh rule without a match (or with another protocol's) applies to all but forwarding, as the schema says. */
export function unmatchedApplies(req: JudgedSshRequest, mode: MatchMode): boolean {
  return !(mode === 'permissive' && FORWARDS.has(req.kind));
}

/** How a decision names the request: never the arguments or paths (they may carry personal data). */
export function describeSshRequest(req: JudgedSshRequest): string {
  switch (req.kind) {
    case 'exec': return `the exec of ${programName(req.words[0] ?? '')}`;
    case 'shell': return 'the interactive shell';
    case 'sftp': return req.via === 'scp' ? `the scp ${req.operation === 'read' ? 'download' : 'upload'} (sftp ${req.operation})` : `the sftp ${req.operation}`;
    default: return `the ${req.kind === 'localForward' ? 'local' : 'remote'} port forwarding`;
  }
}

/**
 * The exact text an SSH request is bound to (approvals: the approver sees it, the hash binds it)
 * and recorded as (masked): the exec command as sent, `shell`, `sftp OPERATION PATH [→ PATH]`, or
 * `localForward|remoteForward HOST:PORT`.
 */
export function sshCommandText(req: SshRequest): string {
  switch (req.kind) {
    case 'exec': return req.command;
    case 'shell': return 'shell';
    case 'sftp': return `sftp ${req.operation} ${req.path}${req.toPath === undefined ? '' : ` → ${req.toPath}`}`;
    default: return `${req.kind} ${req.host}:${req.port}`;
  }
}

/** What resolutionMatters reads of a compiled rule (decide.ts CompiledRule). */
export interface ResolutionRule { readonly purposes?: ReadonlySet<string>; readonly ssh?: CompiledSshMatch }

/**
 * Whether resolving an exec's paths on the host can change its decision under a policy (its
 * compiled `rules`, CompiledPolicy.resolutionMatters): some rule
 * that can apply to it (the session's purpose, the request's kind: legacy scp is an SFTP read or
 * write) judges paths or arguments in a way resolution changes (resolutionCanChange). When it
 * cannot, the sidecar does not ask the host (an SFTP channel and a round trip per operand) and
 * sends the request with `resolution: 'skipped'`; should the policy deciding it be another, the
 * decision treats every operand as unresolved. `access`: whether the session's subject and
 * purpose may use the policy at all (CompiledPolicy.checkAccess), else everything is refused
 * anyway. SFTP operations are always resolved (every one names a path); a shell, a forward, a
 * command that cannot be parsed or names no path need nothing.
 */
export function resolutionMatters(rules: readonly ResolutionRule[], protocol: string, request: SshRequest, facts: { purpose: string; access: boolean }): boolean {
  if (request.kind === 'sftp') return true;
  if (request.kind !== 'exec' || !facts.access || protocol !== 'ssh') return false;
  const parsed = parseCommandLine(request.command);
  if (!parsed.ok) return false;
  const scp = legacyScp(parsed.words);
  if (scp === undefined && pathOperands(parsed.words).length === 0) return false;
  const need: ResolutionNeed = scp === undefined ? { kind: 'exec', program: parsed.words[0] ?? '' } : { kind: 'scp', operation: scp.operation };
  return rules.some((r) => (r.purposes === undefined || r.purposes.has(facts.purpose)) && (r.ssh?.resolutionCanChange(need) ?? false));
}
