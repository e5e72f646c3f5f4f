// guarita export --format asciicast --session ID [--channel N] [-o FILE]: one session's terminal
// (an SSH shell or exec channel, a Kubernetes exec session) as asciicast v2, for `asciinema play`
// or asciinema-player. The frames are the masked ones the sidecar recorded, sanitized as
// `guarita replay` plays them (safeTerminalText, core/recording/terminal-text.ts, applied by toAsciicast): `asciinema play` writes the file to the
// auditor's terminal, so what replay drops (OSC titles, clipboard writes and hyperlinks, DCS, SOS,
// PM and APC strings, queries the terminal answers, 8-bit C1 controls) is not in the file either;
// colours and cursor movement are. The file is not verifiable on its own (no hashes or
// signatures): 'guarita export --session ID' is.
import { renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { AsciicastError, toAsciicast, type Asciicast, type AsciicastOptions } from '../../core/recording/asciicast.ts';
import type { SessionRecord } from '../../core/recording/store-types.ts';
import { UsageError } from './args.ts';
import type { CliIo } from './io.ts';
import { connect } from './operator-client.ts';
import { inertLine } from './inert.ts';

export const ASCIICAST_HELP = `  asciicast        one session's terminal (--session ID; an SSH shell or exec channel, a Kubernetes
                   exec session) as asciicast v2 for 'asciinema play': the masked output and input
                   with their timing. --channel N picks a channel when the session has several.
                   Sanitized as 'guarita replay' plays it: colours and cursor movement only.
                   NOT verifiable (no hashes or signatures); export the session as jsonl for that.`;

type Flags = Parameters<typeof connect>[0] & { session?: string | undefined; channel?: string | undefined };

function channelFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--channel must be a channel number such as 0 (got '${value}')`);
  return n;
}

/** The session's cast as the export writes it: sanitized frames (toAsciicast), an inert title. */
export function sessionCast(records: readonly SessionRecord[], opts: AsciicastOptions = {}): Asciicast {
  return toAsciicast(records, { ...opts, ...(opts.title === undefined ? {} : { title: inertLine(opts.title) }) });
}

/** Writes the asciicast of one session to `file` (mode 0600, complete or not at all) or stdout. */
export async function exportAsciicast(flags: Flags, file: string | undefined, io: CliIo): Promise<number> {
  const sessionId = flags.session;
  if (sessionId === undefined) throw new UsageError('--format asciicast needs --session ID (find it with \'guarita sessions list\')');
  const channel = channelFlag(flags.channel);
  const { operator } = await connect(flags, io.env);
  try {
    const { records } = await operator.json<{ records: SessionRecord[] }>(`/sessions/${encodeURIComponent(sessionId)}`, {}, `reading session ${sessionId} in namespace ${operator.namespace}`);
    let cast;
    try {
      cast = sessionCast(records, { ...(channel === undefined ? {} : { channel }), title: `${sessionId} (${records[0]?.target ?? '?'})` });
    } catch (err) {
      if (err instanceof AsciicastError) throw new Error(`session ${inertLine(sessionId)}: ${err.message}`, { cause: err });
      throw err;
    }
    if (file === undefined) io.stdout.write(cast.text);
    else {
      const partial = join(dirname(file), `.${basename(file)}.partial-${process.pid}`);
      writeFileSync(partial, cast.text, { mode: 0o600 });
      renameSync(partial, file);
    }
    const others = cast.channels.filter((c) => c !== cast.channel);
    io.stderr.write(`${inertLine(`wrote ${cast.events} event(s) of channel ${cast.channel} of session ${sessionId} to ${file ?? 'stdout'}${others.length > 0 ? ` (other channels: ${others.join(', ')}; pick one with --channel)` : ''}`)}\n`);
    return 0;
  } finally {
    await operator.close();
  }
}
