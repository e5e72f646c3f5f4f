// guarita sessions list [-n NS] [--policy P] [--subject S] [--since 24h] [-o json|yaml]
import type { CliIo } from '../io.ts';
import { COMMON_OPTIONS, outputFormat, parseFlags, UsageError } from '../args.ts';
import { connect, OPERATOR_HELP, OPERATOR_OPTIONS } from '../operator-client.ts';
import { age, renderTable, writeStructured } from '../output.ts';
import { humanDuration, parseTimeFlag } from '../time.ts';
import type { SessionSummary } from '../../../core/recording/store-types.ts';

const HELP = `usage: guarita sessions list [-n NAMESPACE] [--policy P] [--subject S] [--since 24h] [-o json|yaml]

Lists the sessions Guarita sidecars recorded in a namespace (newest last), from the operator's read
API. You need 'list' on sessions.guarita.io in the namespace (Kubernetes RBAC, checked by the
operator with a SubjectAccessReview). Play one back with 'guarita replay SESSION'.

Flags:
  -n, --namespace NS    namespace (default: the context's)
  --policy P            only sessions under AccessPolicy P
  --subject S           only sessions of this subject (user or service account name)
  --since T             only sessions active since T: a duration ago (30m, 24h, 7d) or a time (2026-11-01T12:00:00Z)
  -o, --output FORMAT   json or yaml for scripts (default: a table)
  --kubeconfig FILE, --context NAME

${OPERATOR_HELP}`;

const OPTIONS = { ...COMMON_OPTIONS, ...OPERATOR_OPTIONS, policy: { type: 'string' }, subject: { type: 'string' }, since: { type: 'string' } } as const;

function status(s: SessionSummary): string {
  const state = s.end === undefined ? 'open' : 'ended';
  return s.truncated === true ? `${state}, truncated` : state;
}

function duration(s: SessionSummary): string {
  return humanDuration(Date.parse(s.end ?? s.last) - Date.parse(s.start));
}

export async function run(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(argv, OPTIONS, 'sessions');
  if (values.help === true) {
    io.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 1 || (positionals[0] !== undefined && positionals[0] !== 'list')) {
    throw new UsageError(`guarita sessions: unknown subcommand '${positionals.join(' ')}' (did you mean 'guarita sessions list' or 'guarita replay SESSION'?)`);
  }
  const format = outputFormat(values.output);
  const since = values.since === undefined ? undefined : new Date(parseTimeFlag(values.since, '--since', Date.now())).toISOString();
  const { operator } = await connect(values, io.env);
  try {
    const { items } = await operator.json<{ items: SessionSummary[] }>('/sessions', { policy: values.policy, subject: values.subject, since }, `listing sessions in namespace ${operator.namespace}`);
    if (format !== 'table') {
      writeStructured(io, format, { items });
      return 0;
    }
    if (items.length === 0) {
      io.stderr.write(`No recorded sessions in namespace ${operator.namespace}${values.since === undefined ? '' : ` since ${values.since}`}.\n`);
      return 0;
    }
    io.stdout.write(renderTable<SessionSummary>(items, [
      { header: 'SESSION', value: (s) => s.sessionId },
      { header: 'POLICY', value: (s) => s.policy },
      { header: 'SUBJECT', value: (s) => s.subject },
      { header: 'PURPOSE', value: (s) => s.purpose ?? '' },
      { header: 'STARTED', value: (s) => `${age(s.start)} ago` },
      { header: 'DURATION', value: duration },
      { header: 'COMMANDS', value: (s) => String(s.commands) },
      { header: 'DENIED', value: (s) => String(s.denied) },
      { header: 'APPROVALS', value: (s) => String(s.approvals) },
      { header: 'STATUS', value: status },
    ]));
    return 0;
  } finally {
    await operator.close();
  }
}
