// guarita check [-n NAMESPACE] [--guarita-namespace NS] [--cert-min-remaining 168h] [-o json]
import type { CliIo } from '../io.ts';
import { COMMON_OPTIONS, outputFormat, parseFlags, UsageError } from '../args.ts';
import { loadKube } from '../kube.ts';
import { paint, writeStructured } from '../output.ts';
import { parseDurationFlag } from '../time.ts';
import { gather } from '../check/gather.ts';
import { evaluate } from '../check/evaluate.ts';
import { checklistJson, renderChecklist } from '../check/render.ts';

const HELP = `usage: guarita check [-n NAMESPACE] [--guarita-namespace NS] [--cert-min-remaining D] [-o json|yaml]

Checks a Guarita installation and one agents' namespace, as your kubeconfig identity, and prints a
checklist with the fix of every failure. Exits 1 when any check fails (0 when all pass).

  the CRDs               installed, Established, serving this CLI's version, no unserved stored versions
  webhook and operator   Deployments ready; the apiserver reaches the injection webhook (a pod created
                         with dryRun=All in NAMESPACE: nothing is stored); the operator holds its
                         store Lease (it opens the store only as leader)
  certificates           the webhook's and the operator's serving certificates valid, not expiring
                         within --cert-min-remaining (default 168h)
  NAMESPACE              exists, opted in (guarita.io/injection=enabled), the sidecar RBAC and the
                         operator CA ConfigMap present, every AccessPolicy Ready, the Secrets the
                         policies name present with the keys their targets need

Flags:
  -n, --namespace NS           the agents' namespace (default: the context's)
  --guarita-namespace NS       where Guarita is installed (default: found by label in every namespace)
  --cert-min-remaining D       fail a certificate expiring sooner than D (e.g. 72h, 30d; default 168h)
  -o, --output json|yaml       the checklist for machines: {ok, failures, checks[]}
  --kubeconfig FILE, --context NAME

Needs read access to CRDs, Deployments, Secrets and Leases of the release namespace, and create on
pods in NAMESPACE for the dry run (a cluster administrator's or the chart's platform role).
`;

const OPTIONS = { ...COMMON_OPTIONS, 'guarita-namespace': { type: 'string' }, 'cert-min-remaining': { type: 'string' } } as const;

export async function run(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, OPTIONS, 'check');
  if (values.help === true) { io.stdout.write(HELP); return 0; }
  if (positionals.length > 0) throw new UsageError(`guarita check takes no arguments (got '${positionals.join(' ')}'); the namespace is -n NAMESPACE`);
  const format = outputFormat(values.output);
  const certMinRemainingMs = parseDurationFlag(values['cert-min-remaining'] ?? '168h', '--cert-min-remaining');
  const kube = loadKube(values, io.env);
  const facts = await gather(kube, { namespace: kube.namespace, ...(values['guarita-namespace'] === undefined ? {} : { guaritaNamespace: values['guarita-namespace'] }), certMinRemainingMs });
  const results = evaluate(facts);
  if (format === 'table') io.stdout.write(renderChecklist(results, paint(io.stdout, io.env)));
  else writeStructured(io, format, checklistJson(results));
  return results.every((r) => r.ok) ? 0 : 1;
}
