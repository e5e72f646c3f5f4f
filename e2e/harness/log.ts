// Progress lines on stderr: starting a control plane takes seconds, and a silent terminal makes
// people think it hangs. Plain lines (not JSON) because a human reads them while Jest starts.
const started = Date.now();

export function progress(component: string, message: string): void {
  if (process.env.GUARITA_HARNESS_QUIET === '1') return;
  const elapsed = ((Date.now() - started) / 1000).toFixed(1).padStart(5);
  process.stderr.write(`[harness +${elapsed}s] ${component.padEnd(10)} ${message}\n`);
}
