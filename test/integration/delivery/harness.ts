/**
 * Drives the REAL engine (Outbox → queue → delivery → SMTP client) against in-process peers:
 * a fake DNS server answers for the test domains, and a dialer maps the MX addresses
 * (127.0.1.x, loopback) to the peers' ephemeral ports on 127.0.0.1.
 */
import fs from 'node:fs';
import path from 'node:path';
import { createStubResolver } from '../../../src-main/core/dns';
import { tcpDialer, type Dialer } from '../../../src-main/core/net/dialer';
import { Outbox, type NetworkOptions } from '../../../src-main/core/outbox';
import type { Draft, DraftInput } from '../../../shared/domain';
import { Draft as DraftSchema } from '../../../shared/domain';
import { startFakeDns, type FakeDns } from '../../helpers/fake-dns';
import { tmpDir } from '../../helpers/tmp';

export interface Harness {
  dns: FakeDns;
  core: Outbox;
  /** Address → port of the peer that answers there; unmapped addresses refuse the connection. */
  routes: Map<string, number>;
  dialed: string[];
  send(draft: DraftInput): Promise<string>;
  close(): Promise<void>;
}

export async function startHarness(network: Partial<NetworkOptions> = {}): Promise<Harness> {
  const dns = await startFakeDns();
  const { dir, cleanup } = tmpDir('outbox-deliver-');
  const routes = new Map<string, number>();
  const dialed: string[] = [];
  const dialer: Dialer = async (o) => {
    dialed.push(o.ip);
    const port = routes.get(o.ip);
    if (port === undefined) throw Object.assign(new Error(`connect ECONNREFUSED ${o.ip}:${o.port}`), { code: 'ECONNREFUSED' });
    return tcpDialer({ ...o, ip: '127.0.0.1', port });
  };
  const core = new Outbox({
    dataDir: dir,
    network: {
      resolver: createStubResolver({ servers: [dns.address], timeoutMs: 500, tries: 1 }),
      dialer,
      ehloName: 'client.outbox.test',
      timeouts: { greeting: 5000, command: 5000, mail: 5000, rcpt: 5000, dataInit: 5000, dataBlock: 5000, dataEnd: 5000, tlsHandshake: 5000, quit: 2000 },
      connectTimeoutMs: 2000,
      ...network,
    },
  });
  return {
    dns,
    core,
    routes,
    dialed,
    async send(input) {
      const draft: Draft = DraftSchema.parse({ from: 'Sender <sender@outbox.test>', subject: 'hello', text: 'Hello there.\n.\nA dot line above.\n', ...input });
      const r = await core.submit(draft);
      if (!r.ok) throw new Error(`submit failed: ${JSON.stringify(r.errors)}`);
      core.queue.onlyMessage(r.messageId);
      core.queue.start();
      await core.queue.firstAttemptsDone(r.messageId);
      await core.queue.stop();
      return r.messageId;
    },
    async close() {
      await core.close();
      await dns.close();
      cleanup();
    },
  };
}

export function attachmentFile(dir: string, name: string, bytes: number): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, Buffer.alloc(bytes, 'a'));
  return p;
}
