/**
 * A small world of recipient domains for browser tests, on loopback through the TLS-policy
 * harness (validating fake DNS, MTA-STS HTTPS server, in-process SMTP peers): one domain per
 * security verdict. The headless host serves the real renderer over the harness's core.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { createTestCa, type TestCa } from '../helpers/certs';
import type { SmtpPeer } from '../helpers/smtp-peer';
import { LOOPBACK_READINESS, startHost, type Host } from '../host/host';
import { mx, plainPeer, startHarness, stsPolicy, tlsaData, tlsPeer, type Harness } from '../integration/tls-policy/harness';
import { launchBrowser, watchErrors } from './browser';

export interface World {
  ca: TestCa;
  h: Harness;
  host: Host;
  browser: Browser;
  page: Page;
  errors: string[];
  dataDir: string;
  /** Peers by domain ('dane.test', 'sts.test', 'opp.test', 'plain.test', 'badane.test'). */
  peers: Record<string, SmtpPeer>;
  close(): Promise<void>;
}

export async function startWorld(viewport = { width: 1280, height: 800 }): Promise<World> {
  const ca = createTestCa();
  // The readiness check has run once, against loopback only (else its first-run panel tops every view).
  const h = await startHarness({ ca, dnsTimeoutMs: 3000, network: { readinessTargets: LOOPBACK_READINESS, readinessTimeoutMs: 1000 } });
  await h.core.readiness.run();
  const peers: Record<string, SmtpPeer> = {};
  // DANE, matching: the TLSA record pins the peer's key.
  const daneCert = ca.issue({ names: ['mx.dane.test'] });
  h.dns.add('dane.test', 'MX', [{ preference: 10, exchange: 'mx.dane.test' }], { ad: true });
  h.dns.add('mx.dane.test', 'A', ['127.0.1.1'], { ad: true });
  h.dns.add('_25._tcp.mx.dane.test', 'TLSA', [{ usage: 3, selector: 1, matchingType: 1, data: tlsaData(daneCert.certPem, 1, 1) }], { ad: true });
  peers['dane.test'] = await tlsPeer(h, daneCert);
  h.routes.set('127.0.1.1', peers['dane.test'].port);
  // DANE, NOT matching: the same kind of record, for another key.
  h.dns.add('badane.test', 'MX', [{ preference: 10, exchange: 'mx.badane.test' }], { ad: true });
  h.dns.add('mx.badane.test', 'A', ['127.0.1.2'], { ad: true });
  h.dns.add('_25._tcp.mx.badane.test', 'TLSA', [{ usage: 3, selector: 1, matchingType: 1, data: Buffer.alloc(32, 7) }], { ad: true });
  peers['badane.test'] = await tlsPeer(h, ca.issue({ names: ['mx.badane.test'] }));
  h.routes.set('127.0.1.2', peers['badane.test'].port);
  // MTA-STS enforce with a valid certificate.
  mx(h.dns, 'sts.test', [[10, 'mx.sts.test', '127.0.1.3']]);
  stsPolicy(h, 'sts.test', { id: 's1', mode: 'enforce', mx: ['mx.sts.test'] });
  peers['sts.test'] = await tlsPeer(h, ca.issue({ names: ['mx.sts.test'] }));
  h.routes.set('127.0.1.3', peers['sts.test'].port);
  // Opportunistic STARTTLS, no policy.
  mx(h.dns, 'opp.test', [[10, 'mx.opp.test', '127.0.1.4']]);
  peers['opp.test'] = await tlsPeer(h, ca.issue({ names: ['mx.opp.test'] }));
  h.routes.set('127.0.1.4', peers['opp.test'].port);
  // No STARTTLS at all.
  mx(h.dns, 'plain.test', [[10, 'mx.plain.test', '127.0.1.5']]);
  peers['plain.test'] = await plainPeer(h);
  h.routes.set('127.0.1.5', peers['plain.test'].port);
  // RFC 7505 null MX; nosuch.test has no records at all (NXDOMAIN).
  h.dns.add('nullmx.test', 'MX', [{ preference: 0, exchange: '' }]);

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'outbox-e2e-world-'));
  const host = await startHost({ dataDir, core: h.core });
  const browser = await launchBrowser();
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const errors = watchErrors(page);
  return {
    ca,
    h,
    host,
    browser,
    page,
    errors,
    dataDir,
    peers,
    async close() {
      await browser.close().catch(() => {});
      await host.close();
      await h.close();
      ca.cleanup();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
