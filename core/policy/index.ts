// Guarita's decision core: pure (no I/O besides loading the WASM parser once), shared by the
// sidecar's HTTP and PostgreSQL paths and by `guarita policy eval`.
//
//   await initPolicyEngine();
//   const compiled = compilePolicy(parseAccessPolicy(doc));
//   compiled.evaluate({ identity, purpose, command: { protocol: 'postgres', sql } });
export type { Identity, Command, Verdict, Decision, DecisionCode, ApprovalPlan, StatementInfo, CompiledPolicy, SqlStatementKind, SqlTrait } from './types.ts';
export { initPolicyEngine, policyEngineReady, classifySql, SqlParseError } from './sql.ts';
export { compilePolicy, PolicyCompileError } from './decide.ts';
export { parseDuration } from '../duration.ts';
export { normalizePath } from './http.ts';
export { kubernetesRequestInfo, describeKubernetesRequest, type KubernetesAttributes } from './kubernetes-request.ts';
export { parseCommandLine } from './ssh-command.ts';
export { judgeSshRequest, normalizeAbsolute, sshCommandText, type SshRequest } from './ssh.ts';
