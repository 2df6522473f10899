/** Runs the `outbox` CLI as a user would, against the real peers. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Peers } from './peers';

export { runCli, type CliResult } from '../helpers/cli';

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
