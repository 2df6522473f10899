/**
 * `npm run bench [-- --quick] [-- --only throughput,export]`: runs every benchmark part (but the
 * opt-in `scale`, which runs only when named) in its own process (so one part's heap never skews another's memory figure), prints the figures and
 * writes them with the machine's description to bench/results/<date>[-quick].json.
 * Benchmarks measure and print; they never assert. A part that cannot run says why and the
 * others go on. Passed on to the parts: --messages N, --repeats N (throughput), --scale N
 * (scale: the largest queue), --modes plain|tls (throughput).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { verdictLines } from './lib/verdict';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const onlyArg = process.argv.find((a) => a.startsWith('--only'));
/** `--NAME N` or `--NAME=N` from the command line, passed on to every part. */
function numberArg(name: string): string | null {
  const i = process.argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return null;
  const a = process.argv[i]!;
  const v = a.includes('=') ? a.split('=')[1]! : process.argv[i + 1] ?? '';
  if (!/^\d+$/.test(v)) throw new Error(`--${name} needs a whole number`);
  return v;
}
const passOn = ['messages', 'repeats', 'scale'].flatMap((n) => {
  const v = numberArg(n);
  return v ? [`--${n}`, v] : [];
});
{
  const i = process.argv.indexOf('--modes');
  if (i >= 0) passOn.push('--modes', process.argv[i + 1] ?? '');
}
const only = onlyArg ? (onlyArg.includes('=') ? onlyArg.split('=')[1]! : process.argv[process.argv.indexOf(onlyArg) + 1] ?? '').split(',') : null;

interface Part {
  name: string;
  title: string;
  script: string;
  extra?: string[];
  /** Runs only when named in --only (too long or too big for every run). */
  optIn?: boolean;
}

const PARTS: Part[] = [
  { name: 'throughput', title: "1. Throughput vs Postfix's own queue (50 domains and 1; smtp-sink and a STARTTLS sink) and smtp-source", script: 'throughput.ts' },
  { name: 'enqueue', title: '2. Enqueue latency (Outbox.submit, small draft)', script: 'enqueue.ts' },
  { name: 'queued-rss', title: '3. Main-process RSS with a large queue; listMessages({limit:100})', script: 'queued-rss.ts' },
  { name: 'attachment', title: '4. Peak memory sending a big attachment', script: 'attachment.ts' },
  { name: 'export', title: '5. Export of the attempt log', script: 'export.ts' },
  { name: 'retention', title: '6. History retention pass at 1M attempt rows', script: 'retention.ts' },
  { name: 'scale', title: '7. Scale: RSS, outbox list and enqueue at 1k, 100k and 1M queued', script: 'scale.ts', optIn: true },
];

function sh(cmd: string, argv: string[]): string {
  const r = spawnSync(cmd, argv, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

function machine() {
  const cpus = os.cpus();
  return {
    date: new Date().toISOString(),
    nproc: os.availableParallelism(),
    cpu: cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    tmpdir: os.tmpdir(),
    tmpFs: sh('df', ['-T', os.tmpdir()]).split('\n')[1]?.split(/\s+/)[1] ?? 'unknown',
    smtpSink: sh('sh', ['-c', 'dpkg-query -W -f "\\${Version}" postfix 2>/dev/null']) || 'unknown',
  };
}

function runPart(p: Part): Promise<{ command: string; result: Record<string, unknown> }> {
  const argv = ['--expose-gc', '--import', 'tsx', path.join(HERE, 'parts', p.script), ...(p.extra ?? []), ...(quick ? ['--quick'] : []), ...passOn];
  const command = `node ${argv.join(' ').replace(`${HERE}/`, 'bench/')}`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.once('exit', (code, signal) => {
      const line = out.split('\n').find((l) => l.startsWith('@@RESULT '));
      if (line) resolve({ command, result: JSON.parse(line.slice('@@RESULT '.length)) as Record<string, unknown> });
      else resolve({ command, result: { error: `exited ${code ?? signal} without a result`, output: out.slice(-2000) } });
    });
  });
}

const info = machine();
console.log(`Direct Outbox benchmarks${quick ? ' (quick)' : ''} — ${info.date}`);
console.log(`machine: ${info.nproc} CPU (${info.cpu}), ${info.memoryGiB} GiB, ${info.platform}, node ${info.node}, tmp on ${info.tmpFs}`);
const results: Record<string, unknown> = {};
for (const p of PARTS) {
  if (only ? !only.includes(p.name) : p.optIn) continue;
  console.log(`\n${p.title}`);
  const t0 = Date.now();
  const r = await runPart(p);
  results[p.name] = { command: r.command, wallSeconds: Math.round((Date.now() - t0) / 100) / 10, ...r.result };
  console.log(`  $ ${r.command}`);
  for (const [k, v] of Object.entries(r.result)) console.log(`  ${k}: ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`);
}

const dir = path.join(HERE, 'results');
fs.mkdirSync(dir, { recursive: true });
const file = path.join(dir, `${info.date.slice(0, 10)}${quick ? '-quick' : ''}${only ? `-${only.join('+')}` : ''}.json`);
fs.writeFileSync(file, `${JSON.stringify({ quick, machine: info, results }, null, 2)}\n`);
console.log(`\nwritten to ${path.relative(process.cwd(), file)}`);

// The throughput verdict lines come last, so scripts can read them with `tail -2` (lib/verdict.ts).
const tp = results.throughput as Record<string, unknown> | undefined;
if (tp) for (const line of verdictLines(tp)) console.log(line);
