/**
 * One browser test environment: a temporary data dir, a fake DNS server on loopback (so no
 * lookup — not even the composer's probe — ever leaves the machine), the headless host running
 * the real core against it, and a Chromium page with error watching.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { NetworkOptions } from '../../src-main/core/outbox';
import { startFakeDns, type FakeDns } from '../helpers/fake-dns';
import { startHost, type Host, type HostOptions } from '../host/host';
import { launchBrowser, watchErrors } from './browser';

export interface Env {
  dataDir: string;
  dns: FakeDns;
  host: Host;
  browser: Browser;
  page: Page;
  errors: string[];
  close(): Promise<void>;
}

export async function startEnv(
  name: string,
  network: NetworkOptions = {},
  viewport = { width: 1280, height: 820 },
  hostOptions: Pick<HostOptions, 'chooseFiles' | 'firstRun' | 'undoSendSeconds'> = {},
): Promise<Env> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `outbox-e2e-${name}-`));
  const dns = await startFakeDns();
  const host = await startHost({
    dataDir,
    network: {
      dnsServers: [dns.address],
      ehloName: 'client.test',
      connectTimeoutMs: 3000,
      ...network,
    },
    ...hostOptions,
  });
  const browser = await launchBrowser();
  // A context of its own (axe needs one; browser.newPage's implicit context refuses it).
  const page = await (await browser.newContext({ viewport, acceptDownloads: true })).newPage();
  const errors = watchErrors(page);
  return {
    dataDir,
    dns,
    host,
    browser,
    page,
    errors,
    async close() {
      await browser.close().catch(() => {});
      await host.close();
      await dns.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
