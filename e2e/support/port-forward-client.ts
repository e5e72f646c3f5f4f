// The client side of `kubectl port-forward` in tests: the local port it announces, and a round
// trip of bytes through it to the echo server behind the forwarded pod port.
import type { ChildProcessWithoutNullStreams, ChildProcessByStdio } from 'node:child_process';
import { connect } from 'node:net';
import type { Readable } from 'node:stream';

type PortForward = ChildProcessWithoutNullStreams | ChildProcessByStdio<null, Readable, Readable>;

/** The local port a running `kubectl port-forward` prints ("Forwarding from 127.0.0.1:N"); rejects with `onExit`'s words if it exits first. */
export function forwardedPort(child: PortForward, onExit: (code: number | null) => string = (code) => `kubectl port-forward exited ${code}`): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
      if (m?.[1] !== undefined) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(onExit(code))));
  });
}

/** Writes `text` to the forwarded local port and reads until as many bytes came back (an echo server behind it). */
export async function echoThrough(port: number, text: string): Promise<string> {
  // Written without half-closing (kubectl ends the stream on the local side's FIN); read until echoed.
  const socket = connect(port, '127.0.0.1');
  socket.write(text);
  let back = '';
  for await (const chunk of socket) {
    back += (chunk as Buffer).toString();
    if (back.length >= text.length) break;
  }
  socket.destroy();
  return back;
}
