/**
 * Postfix's smtp-sink (a fast SMTP server that accepts and discards) and smtp-source (a fast
 * SMTP client) as benchmark peers, on loopback addresses only. smtp-sink refuses to run as
 * root without `-u USER`: it binds, then drops to that user (postfix on Debian).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const DIRS = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin', ...(process.env.PATH ?? '').split(':')];

export function findTool(name: 'smtp-sink' | 'smtp-source'): string | null {
  for (const d of DIRS) {
    const p = `${d}/${name}`;
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/** Why the sink tools cannot run here, or null when they can. */
export function sinkUnavailable(): string | null {
  if (!findTool('smtp-sink')) return 'smtp-sink not found (Debian: apt-get install postfix)';
  if (!findTool('smtp-source')) return 'smtp-source not found (Debian: apt-get install postfix)';
  if (process.getuid?.() === 0 && spawnSync('id', ['postfix']).status !== 0) return 'running as root but there is no postfix user for smtp-sink -u';
  return null;
}

function canBind(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/** A port free on every one of the addresses (the engine's smtpPort is one port for all MX). */
export async function freePortOn(addresses: string[]): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 40000);
    let ok = true;
    for (const a of addresses) if (!(await canBind(a, port))) ok = false;
    if (ok) return port;
  }
  throw new Error('no common free port on the sink addresses');
}

function connectable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface Sinks {
  port: number;
  addresses: string[];
  /** Messages each sink has counted so far (smtp-sink -c), summed. */
  delivered(): number;
  stop(): Promise<void>;
}

/** One smtp-sink per address, all on one port, counting messages (-c), with a deep backlog. */
export async function startSinks(addresses: string[], backlog = 1000, givenPort?: number): Promise<Sinks> {
  const bin = findTool('smtp-sink')!;
  const port = givenPort ?? (await freePortOn(addresses));
  const procs: { child: ChildProcess; count: number }[] = [];
  for (const a of addresses) {
    const argv = [...(process.getuid?.() === 0 ? ['-u', 'postfix'] : []), '-c', `${a}:${port}`, String(backlog)];
    const child = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const entry = { child, count: 0 };
    let tail = '';
    // -c writes "sess=N quit=N mesg=N" with \r between updates.
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      tail = (tail + s).slice(-200);
      const all = [...tail.matchAll(/mesg=(\d+)/g)];
      const last = all[all.length - 1];
      if (last) entry.count = Number(last[1]);
    });
    child.stderr!.resume();
    procs.push(entry);
  }
  for (const a of addresses) {
    const until = Date.now() + 5000;
    while (!(await connectable(a, port))) {
      if (Date.now() > until) throw new Error(`smtp-sink did not start on ${a}:${port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    port,
    addresses,
    delivered: () => procs.reduce((n, p) => n + p.count, 0),
    async stop() {
      await Promise.all(
        procs.map(
          ({ child }) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}

/** Runs smtp-source and times it from spawn to exit. */
export function smtpSource(opts: { sessions: number; messages: number; length: number; target: string }): Promise<{ ms: number; command: string }> {
  const bin = findTool('smtp-source')!;
  const argv = ['-s', String(opts.sessions), '-m', String(opts.messages), '-l', String(opts.length), '-f', 'a@source.test', '-t', 'b@sink.test', opts.target];
  const command = `smtp-source ${argv.join(' ')}`;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(bin, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.once('error', reject);
    child.once('exit', (code) => {
      const ms = performance.now() - t0;
      if (code === 0) resolve({ ms, command });
      else reject(new Error(`${command} exited ${code}: ${err.trim()}`));
    });
  });
}

/**
 * The TLS-capable sink (tls-sink-server.ts, its own process) on every address, one port: STARTTLS
 * with `cert`/`key`, the same `mesg=N` counter as smtp-sink. Used for the figures with TLS,
 * since smtp-sink has no STARTTLS and TLS is what real deliveries pay.
 */
export async function startTlsSinks(addresses: string[], port: number, cert: string, key: string): Promise<Sinks> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'tls-sink-server.ts');
  const child = spawn(process.execPath, ['--import', 'tsx', script, cert, key, String(port), ...addresses], { stdio: ['ignore', 'pipe', 'inherit'] });
  let count = 0;
  let ready = false;
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    if (s.includes('ready')) ready = true;
    const all = [...s.matchAll(/mesg=(\d+)/g)];
    const last = all[all.length - 1];
    if (last) count = Number(last[1]);
  });
  const until = Date.now() + 15000;
  while (!ready) {
    if (child.exitCode !== null || Date.now() > until) throw new Error('the TLS sink did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    addresses,
    delivered: () => count,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
