/** Runs the `outbox` CLI as a user would: a child process, its exit code, stdout and stderr. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliRun {
  child: ChildProcess;
  /** Settles when the process has exited and its output is closed; `code` is -1 after a signal. */
  done: Promise<CliResult & { signal: NodeJS.Signals | null }>;
}

/** Starts the CLI and hands back the child, for tests that signal it or watch it while it runs. */
export function spawnCli(args: string[], options: { stdin?: string; nodeArgs?: string[] } = {}): CliRun {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), path.join(root, 'bin', 'outbox.mjs'), ...args], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult & { signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? -1, signal, stdout, stderr }));
  });
  child.stdin!.end(options.stdin ?? '');
  return { child, done };
}

export async function runCli(args: string[], stdin = ''): Promise<CliResult> {
  const { code, stdout, stderr } = await spawnCli(args, { stdin }).done;
  return { code, stdout, stderr };
}
