/**
 * The throughput part's verdict lines (issue 14 item 6), printed last by bench/run.ts so that
 * scripts can read them with `tail -2`: ours divided by Postfix's queue, same run (medians),
 * with the plain sink — exactly
 *
 *   ratio-vs-postfix-queue domains=50 R
 *   ratio-vs-postfix-queue domains=1 R
 *
 * The STARTTLS ratios, when that mode ran, come just before them under their own name. A run
 * without the plain mode (`--modes tls`) or without Postfix says so instead of the two lines:
 * never a STARTTLS ratio under the plain name, never "Postfix did not run" when it did.
 */
type Row = { ratio?: number } | undefined;

export function verdictLines(tp: Record<string, unknown>): string[] {
  const ratio = (key: string) => (tp[key] as Row)?.ratio;
  const out: string[] = [];
  const t50 = ratio('tls_d50');
  const t1 = ratio('tls_d1');
  if (t50 !== undefined) out.push(`ratio-vs-postfix-queue-starttls domains=50 ${t50}`);
  if (t1 !== undefined) out.push(`ratio-vs-postfix-queue-starttls domains=1 ${t1}`);
  const r50 = ratio('plain_d50');
  const r1 = ratio('plain_d1');
  if (r50 !== undefined && r1 !== undefined) {
    out.push(`ratio-vs-postfix-queue domains=50 ${r50}`, `ratio-vs-postfix-queue domains=1 ${r1}`);
    return out;
  }
  const why = tp.postfix ?? tp.skipped ?? tp.error;
  if (why !== undefined) out.push(`no ratio-vs-postfix-queue: ${String(why)}`);
  else if (tp.plain_d50 === undefined && tp.plain_d1 === undefined) out.push('no ratio-vs-postfix-queue: the plain mode did not run (--modes)');
  else out.push("no ratio-vs-postfix-queue: the plain mode has no Postfix figure");
  return out;
}
