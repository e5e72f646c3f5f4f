// exec and attach over the channel protocol (v4/v5.channel.k8s.io): each WebSocket message is one
// channel byte and its data. What the container prints (stdout 1, stderr 2) is masked with the
// policy's streaming masker before the agent sees it, and the error channel's Status (3) too; what
// the agent types (stdin 0) reaches the container as typed. stdin, stdout, stderr and resizes are
// recorded as masked, timed 'stream' frames; the exec's record carries the exit code. Either side
// that stops reading pauses the other (HIGH_WATER_BYTES), so memory stays bounded. Revocation of
// the session cuts the stream with a Status the agent's kubectl prints. An exec that ends without
// its exit status (the agent left, the session was cut, the stream broke) is recorded with no status
// and outcomeUnknown: the command may have gone on in the container (execOutcome).
import type WebSocket from 'ws';
import { sha256Hex } from '../enforcer.ts';
import { errorMessage } from '../log.ts';
import { FrameRecorder } from '../ssh/frames.ts';
import { TerminalMasker } from '../ssh/terminal-masker.ts';
import { opt } from '../util.ts';
import { sendWithBackpressure, toBuffer } from './stream-relay.ts';
import type { StreamingExchange } from './streaming.ts';

const CH = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4, close: 255 } as const;
/** Output of a quiet stream is shown after this long (the masker's held tail ends at a word). */
const IDLE_FLUSH_MS = 30;
const DEFAULT_RECORD_MAX_CHARS = 1024 * 1024;
/** Each exec's frames carry a channel number of their own: frame times count from their stream's start, and replay keeps streams apart. */
let nextChannel = 1;

/** The exit code in the error channel's Status (NonZeroExitCode's ExitCode cause), 0 on Success. */
export function exitCodeOf(status: string): number | undefined {
  try {
    const s = JSON.parse(status) as { status?: string; reason?: string; details?: { causes?: { reason?: string; message?: string }[] } };
    if (s.status === 'Success') return 0;
    const cause = s.details?.causes?.find((c) => c.reason === 'ExitCode');
    return s.reason === 'NonZeroExitCode' && cause?.message !== undefined ? Number(cause.message) : undefined;
  } catch {
    return undefined;
  }
}

/** "COLSxROWS" of a resize message ({"Width":80,"Height":24}). */
export function resizeText(data: Buffer): string | undefined {
  try {
    const size = JSON.parse(data.toString('utf8')) as { Width?: unknown; Height?: unknown };
    return typeof size.Width === 'number' && typeof size.Height === 'number' ? `${size.Width}x${size.Height}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The exit status and error an exec's record states: the container's exit code when its Status
 * arrived; otherwise no status and `outcomeUnknown` (the command started and nobody saw how it
 * ended: closing the stream does not stop it), with why in `error`. attach has no command of its
 * own, so its end without a Status states only what cut it.
 */
export function execOutcome(o: { exec: boolean; exitCode: number | undefined; cut: string | undefined; agentLeft: boolean; closeCode: number }): { status?: number; error?: string; outcomeUnknown?: true } {
  if (o.exitCode !== undefined) return { status: o.exitCode, ...opt('error', o.cut) };
  if (!o.exec) return opt('error', o.cut);
  const why = o.cut ?? (o.agentLeft ? 'the agent left' : `the apiserver's stream ended (WebSocket close ${o.closeCode})`);
  return { error: `${why} before the command's exit status arrived; the stream was closed, and whether the command went on in the container, and how it ended, is unknown`, outcomeUnknown: true };
}

function frame(channel: number, text: string): Buffer {
  return Buffer.concat([Buffer.from([channel]), Buffer.from(text, 'utf8')]);
}

export function relayChannels(o: { x: StreamingExchange; agent: WebSocket; upstream: WebSocket; v5: boolean }): Promise<void> {
  const { x, agent, upstream } = o;
  const started = performance.now();
  const maskSession = x.session.newMaskSession();
  const out = new TerminalMasker(maskSession);
  const err = new TerminalMasker(maskSession);
  const typed = new TerminalMasker(x.session.newMaskSession());
  let bytesOut = 0;
  let bytesIn = 0;
  let exitCode: number | undefined;
  let cut: string | undefined;
  let agentLeft = false;
  const channel = nextChannel++;
  const recorder = new FrameRecorder({
    startedAt: started, maxChars: x.recordMaxChars ?? DEFAULT_RECORD_MAX_CHARS,
    write: (frames) => x.session.recordStream?.(frames, { channel, commandSha256: sha256Hex(x.target) }) ?? Promise.reject(new Error('this session cannot record streams')),
    onFailure: (e) => {
      x.logger.error({ err: errorMessage(e), sessionId: x.session.id }, 'cannot record the exec stream: closing it');
      cutWith('the session cannot be recorded, so it is closed (recording is mandatory)');
    },
  });
  const show = (channel: 1 | 2, text: string): void => {
    if (text === '') return;
    recorder.add(channel === 1 ? 'o' : 'e', text);
    sendWithBackpressure(agent, upstream, frame(channel, text));
  };
  let idle: NodeJS.Timeout | undefined;
  const armIdle = (): void => {
    clearTimeout(idle);
    idle = setTimeout(() => {
      show(1, out.flushIdle());
      show(2, err.flushIdle());
      recorder.add('i', typed.flushIdle());
    }, IDLE_FLUSH_MS);
    idle.unref();
  };

  upstream.on('message', (raw) => {
    const data = toBuffer(raw);
    if (data.length === 0) return;
    const channel = data[0];
    const body = data.subarray(1);
    bytesOut += body.length;
    if (channel === CH.stdout || channel === CH.stderr) {
      show(channel, (channel === CH.stdout ? out : err).push(body));
      armIdle();
    } else if (channel === CH.error) {
      const text = body.toString('utf8');
      exitCode = exitCodeOf(text) ?? exitCode;
      const masked = maskSession.maskText(text);
      if (exitCode !== 0) recorder.add('e', masked);
      sendWithBackpressure(agent, upstream, frame(CH.error, masked));
    }
    // Nothing else flows from the container; other channels are not passed.
  });
  agent.on('message', (raw) => {
    const data = toBuffer(raw);
    if (data.length === 0) return;
    const channel = data[0];
    if (channel === CH.stdin) {
      bytesIn += data.length - 1;
      recorder.add('i', typed.push(data.subarray(1)));
      armIdle();
    } else if (channel === CH.resize) {
      const size = resizeText(data.subarray(1));
      if (size !== undefined) recorder.add('r', size);
    } else if (!(o.v5 && channel === CH.close)) {
      return; // the agent has no business writing to output channels
    }
    sendWithBackpressure(upstream, agent, data);
  });

  const cutWith = (message: string): void => {
    if (cut !== undefined) return;
    cut = message;
    const status = JSON.stringify({ metadata: {}, status: 'Failure', message: `guarita: ${message}`, reason: 'Forbidden', code: 403 });
    if (agent.readyState === agent.OPEN) agent.send(frame(CH.error, status));
    upstream.terminate();
  };
  const revoked = (): void => cutWith(errorMessage(x.session.closed.reason));
  x.session.closed.addEventListener('abort', revoked, { once: true });
  if (x.session.closed.aborted) revoked();

  agent.on('close', () => {
    agentLeft = true;
    upstream.close();
  });
  agent.on('error', () => upstream.terminate());
  upstream.on('error', (e) => { if (cut === undefined) x.logger.warn({ err: errorMessage(e) }, 'apiserver stream failed'); });

  return new Promise((resolve) => {
    upstream.once('close', (code) => {
      // Read now: the agent's side is closed below, which would look like the agent leaving.
      const leftFirst = agentLeft;
      clearTimeout(idle);
      x.session.closed.removeEventListener('abort', revoked);
      show(1, out.end());
      show(2, err.end());
      recorder.add('i', typed.end());
      // Close after what is queued has gone out.
      if (agent.readyState === agent.OPEN) agent.close(cut === undefined && code >= 1000 && code < 5000 && code !== 1005 && code !== 1006 ? code : 1000);
      void (async () => {
        await recorder.flush();
        const ended = execOutcome({ exec: x.attributes.subresource === 'exec', exitCode, cut, agentLeft: leftFirst, closeCode: code });
        const result = { bytes: bytesOut, ...ended, ...(recorder.truncated ? { truncated: true } : {}) };
        await x.auth.complete({ result, masked: maskSession.counts(), durationMs: performance.now() - started })
          .catch((e: unknown) => x.logger.error({ err: errorMessage(e) }, 'cannot record the end of an exec stream'));
        x.logger.debug({ sessionId: x.session.id, bytesOut, bytesIn }, 'exec stream closed');
        resolve();
      })();
    });
  });
}
