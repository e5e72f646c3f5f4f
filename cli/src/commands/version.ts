// guarita version [--client] [-o json|yaml]: this CLI's version and, when the cluster answers, the
// version of every Guarita operator and webhook installed there (their Deployments' chart labels).
import type { CliIo } from '../io.ts';
import { COMMON_OPTIONS, outputFormat, parseFlags, UsageError } from '../args.ts';
import { cliVersion } from '../version.ts';
import { writeStructured } from '../output.ts';
import { inertLine } from '../inert.ts';

const HELP = `usage: guarita version [--client] [--guarita-namespace NS] [-o json|yaml]

Prints this CLI's version and, unless --client, the version and image of the Guarita operator and
webhook Deployments your kubeconfig can see (every namespace, or --guarita-namespace). When the
cluster cannot be reached the CLI's version is still printed, with the reason, and the exit is 0.
'guarita --version' prints the CLI's version alone.
`;

const OPTIONS = { ...COMMON_OPTIONS, client: { type: 'boolean' }, 'guarita-namespace': { type: 'string' } } as const;

interface ServerVersion { component: string; namespace: string; name: string; version: string; image: string }

/** The Deployments' versions, or why the cluster did not say. Loaded only here: --client does not pay for the Kubernetes client. */
async function serverVersions(values: { kubeconfig?: string; context?: string; namespace?: string; 'guarita-namespace'?: string }, env: NodeJS.ProcessEnv): Promise<{ server?: ServerVersion[]; serverError?: string }> {
  try {
    const { loadKube } = await import('../kube.ts');
    const { guaritaDeployments } = await import('../check/gather.ts');
    const deployments = await guaritaDeployments(loadKube(values, env), values['guarita-namespace']);
    return { server: deployments.map((d) => ({ component: d.component, namespace: d.namespace, name: d.name, version: d.version ?? 'unknown', image: d.image ?? 'unknown' })) };
  } catch (err) {
    return { serverError: (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '' };
  }
}

function serverLines(r: { server?: ServerVersion[]; serverError?: string }): string[] {
  if (r.serverError !== undefined) return [`Server: not reachable (${inertLine(r.serverError)})`];
  if (r.server === undefined) return [];
  if (r.server.length === 0) return ['Server: no Guarita Deployment found (helm install it, or pass --guarita-namespace)'];
  return r.server.map((s) => inertLine(`Server: ${s.component} ${s.version} (${s.namespace}/${s.name}, ${s.image})`));
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, OPTIONS, 'version');
  if (values.help === true) { io.stdout.write(HELP); return 0; }
  if (positionals.length > 0) throw new UsageError(`guarita version takes no arguments (got '${positionals.join(' ')}')`);
  const format = outputFormat(values.output);
  const client = cliVersion();
  const remote = values.client === true ? {} : await serverVersions(values, io.env);
  if (format === 'table') io.stdout.write(`${[`Client: guarita ${client}`, ...serverLines(remote)].join('\n')}\n`);
  else writeStructured(io, format, { client: { version: client }, ...remote });
  return 0;
}
