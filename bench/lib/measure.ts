/**
 * Measuring helpers shared by the benchmark parts: percentiles, an RSS sampler, a forced GC
 * (when node runs with --expose-gc), and the one-JSON-line protocol a part uses to hand its
 * figures to bench/run.ts. Benchmarks only measure and print; they never assert.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const MiB = 1024 * 1024;

/** Nearest-rank percentile (p in 0..100) of unsorted samples. */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Collects garbage when node was started with --expose-gc; says whether it could. */
export function forceGc(): boolean {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return false;
  gc();
  gc();
  return true;
}

export function rssMiB(): number {
  return process.memoryUsage.rss() / MiB;
}

/** Samples RSS every `everyMs` until stopped; reports the peak. */
export class RssSampler {
  peak = 0;
  samples = 0;
  readonly #timer: NodeJS.Timeout;

  constructor(everyMs = 50) {
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), everyMs);
  }

  #sample(): void {
    this.samples++;
    this.peak = Math.max(this.peak, process.memoryUsage.rss());
  }

  stop(): { peakMiB: number; samples: number } {
    clearInterval(this.#timer);
    this.#sample();
    return { peakMiB: this.peak / MiB, samples: this.samples };
  }
}

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** A scratch directory for one part, on the same disk as os.tmpdir() (fsync costs are real). */
export function scratchDir(name: string): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `outbox-bench-${name}-`));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** The last stdout line of a part: its figures, read by bench/run.ts. */
export function emit(result: Record<string, unknown>): void {
  process.stdout.write(`\n@@RESULT ${JSON.stringify(result)}\n`);
}

export function log(msg: string): void {
  process.stderr.write(`  ${msg}\n`);
}

/** `--name VALUE` from the command line, or `dflt` (the profiling scripts' options). */
export function option(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

/** A part's options: --quick, and --messages N / --repeats N / --scale N when run.ts passes them. */
export function args(): { quick: boolean; messages?: number; repeats?: number; scale?: number } {
  const num = (name: string): number | undefined => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const out: { quick: boolean; messages?: number; repeats?: number; scale?: number } = { quick: process.argv.includes('--quick') };
  for (const k of ['messages', 'repeats', 'scale'] as const) {
    const v = num(k);
    if (v !== undefined && Number.isFinite(v)) out[k] = v;
  }
  return out;
}
