// The checklist as people read it (sections, ✔/✖, the fix under each failure) and as machines do (-o json).
import type { Paint } from '../output.ts';
import type { CheckResult } from './evaluate.ts';
import { inertLine } from '../inert.ts';

/** Titles, details and fixes quote the cluster (names, policy status reasons, Secrets): shown inert. */
function renderResult(result: CheckResult, p: Paint): string[] {
  const r = { ...result, title: inertLine(result.title), ...(result.detail === undefined ? {} : { detail: inertLine(result.detail) }), ...(result.fix === undefined ? {} : { fix: result.fix.map(inertLine) }) };
  if (r.ok) return [`  ${p.green('✔')} ${r.title}${r.detail === undefined ? '' : p.dim(` (${r.detail})`)}`];
  return [
    `  ${p.red('✖')} ${r.title}`,
    ...(r.detail === undefined ? [] : [`      found: ${r.detail}`]),
    ...(r.fix ?? []).map((fix, i) => `      ${i === 0 ? 'fix:  ' : '      '} ${p.yellow(fix)}`),
  ];
}

export function renderChecklist(results: readonly CheckResult[], p: Paint): string {
  const lines: string[] = [];
  let section = '';
  for (const r of results) {
    if (r.section !== section) {
      if (section !== '') lines.push('');
      section = r.section;
      lines.push(p.bold(section));
    }
    lines.push(...renderResult(r, p));
  }
  const failures = results.filter((r) => !r.ok).length;
  lines.push('', failures === 0 ? p.green(`Status: ✔ all ${results.length} checks passed`) : p.red(`Status: ✖ ${failures} of ${results.length} checks failed`));
  return `${lines.join('\n')}\n`;
}

export function checklistJson(results: readonly CheckResult[]): { ok: boolean; failures: number; checks: readonly CheckResult[] } {
  const failures = results.filter((r) => !r.ok).length;
  return { ok: failures === 0, failures, checks: results };
}
