/**
 * The throughput verdict (bench/lib/verdict.ts): the two plain lines last, exactly as issue 14
 * item 6 asks; a `--modes tls` run prints its STARTTLS ratios under their own name and says the
 * plain mode did not run — it used to say "Postfix part did not run" although Postfix had run.
 */
import { expect, test } from 'vitest';
import { verdictLines } from '../../../bench/lib/verdict';

const row = (ratio: number) => ({ oursPerSecond: 1, postfixPerSecond: 1, ratio });

test('both modes: the STARTTLS ratios, then exactly the two plain lines last', () => {
  expect(verdictLines({ plain_d50: row(1.2), plain_d1: row(1.4), tls_d50: row(2.1), tls_d1: row(2.9) })).toEqual([
    'ratio-vs-postfix-queue-starttls domains=50 2.1',
    'ratio-vs-postfix-queue-starttls domains=1 2.9',
    'ratio-vs-postfix-queue domains=50 1.2',
    'ratio-vs-postfix-queue domains=1 1.4',
  ]);
});

test('--modes tls: no plain line carries a STARTTLS ratio, and the reason is the mode, not Postfix', () => {
  const lines = verdictLines({ messages: 5000, repeats: 3, tls_d50: row(2.1), tls_d1: row(2.9) });
  expect(lines).toEqual(['ratio-vs-postfix-queue-starttls domains=50 2.1', 'ratio-vs-postfix-queue-starttls domains=1 2.9', 'no ratio-vs-postfix-queue: the plain mode did not run (--modes)']);
  expect(lines.some((l) => l.startsWith('ratio-vs-postfix-queue '))).toBe(false);
});

test('--modes plain: the two lines; Postfix skipped: its reason', () => {
  expect(verdictLines({ plain_d50: row(1.2), plain_d1: row(1.4) })).toEqual(['ratio-vs-postfix-queue domains=50 1.2', 'ratio-vs-postfix-queue domains=1 1.4']);
  expect(verdictLines({ plain_d50: { oursPerSecond: 1 }, plain_d1: { oursPerSecond: 1 }, postfix: 'skipped: no postfix' })).toEqual(['no ratio-vs-postfix-queue: skipped: no postfix']);
});
