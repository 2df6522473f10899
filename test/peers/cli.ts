/** Runs the `outbox` CLI as a user would, against the real peers. */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Peers } from './peers';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], stdin?: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'bin', 'outbox.mjs'), ...args], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

/** Common flags pointing the CLI at the peers: their resolver and their test CA. */
export function peerFlags(peers: Peers, dataDir: string): string[] {
  return ['--data-dir', dataDir, '--dns', `${peers.dns.resolver}:${peers.dns.port}`, '--ca-file', peers.ca.cert, '--ehlo', 'client.outbox.test'];
}

export function freshDataDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-peers-cli-'));
}

export interface SendJson {
  messageId: string;
  recipients: {
    address: string;
    status: 'delivered' | 'deferred' | 'failed';
    code: number | null;
    enhancedCode: string | null;
    reply: string | null;
    host: string | null;
    ip: string | null;
    attempts: number;
    /** The transport of the last attempt ("direct" without a matching route) and its route. */
    transport: string;
    route: number | null;
    plaintextFallback: boolean;
    tls: { starttls: boolean; version: string | null; cipher: string | null; verified: string; mtaSts: string | null; dane: boolean } | null;
  }[];
}

let seq = 0;
/** A local part no other test uses (Postfix delivers every test's mail into one Maildir). */
export function unique(prefix = 'u'): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${++seq}`;
}
