// Output for people (aligned tables, colour only on a TTY) and for scripts (-o json|yaml).
import { inertJson, inertLine, inertYaml } from './inert.ts';
import type { CliIo } from './io.ts';
import type { OutputFormat } from './args.ts';

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  /** The value is already rendered with inert.ts (e.g. inertPreview, whose marks must stay). */
  rendered?: true;
}

/** A cell from records and CRDs: shown inert (inert.ts) on one line, a newline as ⏎, so it cannot draw a fake row. */
function cell<T>(c: Column<T>, row: T): string {
  const v = c.value(row);
  return c.rendered === true ? v : inertLine(v);
}

export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => cell(c, r)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i]?.length ?? 0)));
  const line = (values: string[]): string => values.map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i] ?? 0))).join('   ').trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n') + '\n';
}

/**
 * A table whose rows arrive one at a time (a watch), as 'kubectl get -w' prints it: the header
 * once, each row padded to widths fixed up front (a longer value pushes its row, not the others).
 */
export function streamTable<T>(columns: readonly Column<T>[], widths: readonly number[] = columns.map((c) => Math.max(c.header.length, 12))): { header(): string; row(value: T): string } {
  const line = (values: string[]): string => values.map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i] ?? 0))).join('   ').trimEnd() + '\n';
  return { header: () => line(columns.map((c) => c.header)), row: (value) => line(columns.map((c) => cell(c, value))) };
}

export function writeStructured(io: CliIo, format: Exclude<OutputFormat, 'table'>, value: unknown): void {
  io.stdout.write(format === 'json' ? `${inertJson(value, 2)}\n` : inertYaml(value));
}

export interface Paint { bold(s: string): string; red(s: string): string; green(s: string): string; yellow(s: string): string; dim(s: string): string }

export function paint(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv): Paint {
  const on = stream.isTTY === true && env.NO_COLOR === undefined;
  const wrap = (code: number) => (s: string): string => (on ? `\u001b[${code}m${s}\u001b[0m` : s);
  return { bold: wrap(1), red: wrap(31), green: wrap(32), yellow: wrap(33), dim: wrap(2) };
}

export function age(timestamp: string | Date | undefined, now = Date.now()): string {
  if (timestamp === undefined) return '<unknown>';
  const seconds = Math.max(0, Math.floor((now - new Date(timestamp).getTime()) / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}
