/**
 * Drives the REAL engine (Outbox → queue → delivery → SMTP client) against in-process peers:
 * the one harness of tls-policy/harness.ts (fake DNS, a dialer mapping MX addresses such as
 * 127.0.1.x to the peers' ephemeral ports, a real SQLite store), without an MTA-STS policy
 * server, and `send` resolving to the message id.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { NetworkOptions } from '../../../src-main/core/outbox';
import type { DraftInput } from '../../../shared/domain';
import { startHarness as startPolicyHarness, type Harness as PolicyHarness } from '../tls-policy/harness';

export interface Harness extends Omit<PolicyHarness, 'send' | 'policies' | 'policyRequests' | 'track'> {
  send(draft: DraftInput): Promise<string>;
}

export async function startHarness(network: Partial<NetworkOptions> = {}): Promise<Harness> {
  const h = await startPolicyHarness({ network: { mtaStsConnectTo: undefined, ...network } });
  return {
    dns: h.dns,
    core: h.core,
    routes: h.routes,
    dialed: h.dialed,
    send: async (draft) => (await h.send({ text: 'Hello there.\n.\nA dot line above.\n', ...draft })).id,
    close: () => h.close(),
  };
}

export function attachmentFile(dir: string, name: string, bytes: number): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, Buffer.alloc(bytes, 'a'));
  return p;
}
