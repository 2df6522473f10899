/**
 * A small real store for the export tests: three messages, four attempts, hostile text in
 * every kind of column (formula starters, quotes, commas, CR/LF, non-ASCII), and one attempt
 * without per-recipient results (a DNS failure for the whole domain).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { AttemptRecord } from '../../../src-main/core/delivery/types';
import { QueueRepo } from '../../../src-main/core/store/queue-repo';
import { Store } from '../../../src-main/core/store/store';
import { tmpDir } from '../../helpers/tmp';
import { newMessage } from '../store/fixtures';

export const T0 = Date.UTC(2024, 4, 1, 10, 0, 0); // 2024-05-01T10:00:00.000Z
export const HOUR = 3_600_000;

export const HOSTILE = {
  hyperlink: '=HYPERLINK("http://x")',
  plus: '+1',
  minus: '-2',
  at: '@SUM(A1:A9)',
  tab: '\tcmd',
  cr: '\rcr first',
  multiline: 'said "no", twice\r\nsecond line\nthird, line',
  nonAscii: 'Zürich — 東京 ✉ \u2028 end',
} as const;

export const EML = Buffer.concat([
  Buffer.from('From: Me <me@sender.example>\r\nSubject: =?UTF-8?B?WsO8cmljaA==?=\r\n\r\nHello, '),
  Buffer.from('Zürich 東京', 'utf8'),
  Buffer.from([0xff, 0x00, 0x80]), // not even UTF-8: the export must copy bytes, not text
  Buffer.from('\r\n.\r\n'),
]);

export function attempt(over: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    startedAt: T0,
    transport: 'direct',
    routeId: null,
    durationMs: 120,
    domain: 'example.org',
    host: 'mx1.example.org',
    ip: '127.0.0.1',
    port: 25,
    stage: null,
    starttls: true,
    tlsVersion: 'TLSv1.3',
    tlsCipher: 'TLS_AES_256_GCM_SHA384',
    certFingerprint: 'ab:cd',
    verification: 'pkix',
    verificationReason: null,
    mtaStsMode: null,
    dane: false,
    requiretls: false,
    plaintextFallback: false,
    tlsrptPolicy: 'no-policy-found',
    tlsrptFailure: null,
    code: 250,
    enhancedCode: '2.0.0',
    reply: 'OK',
    errorCode: null,
    permanent: false,
    transcript: [],
    results: [],
    ...over,
  };
}

export interface Seeded {
  store: Store;
  dir: string;
  /** recipient id by address */
  rcpt: Map<string, number>;
  transcript1: AttemptRecord['transcript'];
  cleanup(): void;
}

export function seedStore(): Seeded {
  const { dir, cleanup } = tmpDir('outbox-export-');
  const store = Store.open(dir);
  const repo = new QueueRepo(store);

  const hostileRcpt = `${HOSTILE.hyperlink}@example.org`;
  const m1 = { ...newMessage('m1', T0, ['a@example.org', hostileRcpt]), subject: HOSTILE.at };
  const m2 = { ...newMessage('m2', T0 + HOUR, ['jörg@xn--bcher-kva.example']), subject: HOSTILE.nonAscii };
  const m3 = { ...newMessage('m3', T0 + 3 * HOUR, ['c@plain.example']), subject: HOSTILE.multiline };
  for (const m of [m1, m2, m3]) {
    fs.writeFileSync(path.join(dir, m.rawPath), EML);
    store.insertMessage(m);
  }
  const rcpt = new Map<string, number>(
    (store.db.prepare('SELECT id, address FROM recipients').all() as { id: number; address: string }[]).map((r) => [r.address, r.id]),
  );
  const id = (a: string) => rcpt.get(a)!;

  const transcript1 = [
    { at: T0, dir: 's' as const, text: '220 mx1.example.org ESMTP' },
    { at: T0 + 5, dir: 'c' as const, text: 'EHLO sender.example' },
    { at: T0 + 9, dir: 's' as const, text: `550 5.1.1 ${HOSTILE.hyperlink}, "x"\u2028 Zürich` },
  ];
  // Attempt 1: MTA-STS enforce, one delivered, one refused with a formula for a reply.
  repo.recordOutcome(
    'm1',
    [
      attempt({
        startedAt: T0,
        mtaStsMode: 'enforce',
        tlsrptPolicy: 'sts',
        transcript: transcript1,
        results: [
          { recipientId: id('a@example.org'), status: 'delivered', code: 250, enhancedCode: '2.0.0', reply: 'OK queued as 1' },
          { recipientId: id(hostileRcpt), status: 'failed', code: 550, enhancedCode: '5.1.1', reply: HOSTILE.hyperlink },
        ],
      }),
    ],
    [],
    null,
    T0,
  );
  // Attempt 2: DNS failure for the whole domain — no result rows.
  repo.recordOutcome(
    'm2',
    [
      attempt({
        startedAt: T0 + HOUR,
        durationMs: 30,
        domain: 'xn--bcher-kva.example',
        host: null,
        ip: null,
        port: null,
        stage: 'dns',
        starttls: false,
        tlsVersion: null,
        tlsCipher: null,
        certFingerprint: null,
        verification: null,
        tlsrptPolicy: null,
        code: null,
        enhancedCode: null,
        reply: HOSTILE.multiline,
        errorCode: 'DNS_TEMPORARY',
      }),
    ],
    [],
    null,
    T0 + HOUR,
  );
  // Attempt 3: DANE host, TLS session resumed, deferred.
  repo.recordOutcome(
    'm2',
    [
      attempt({
        startedAt: T0 + 2 * HOUR,
        domain: 'xn--bcher-kva.example',
        host: 'mx.xn--bcher-kva.example',
        ip: '127.0.0.2',
        verification: 'dane-ee',
        verificationReason: HOSTILE.minus,
        tlsResumed: true,
        dane: true,
        mtaStsMode: 'testing',
        tlsrptPolicy: 'tlsa',
        code: 451,
        enhancedCode: '4.7.1',
        reply: HOSTILE.plus,
        results: [{ recipientId: id('jörg@xn--bcher-kva.example'), status: 'deferred', code: 451, enhancedCode: '4.7.1', reply: HOSTILE.plus }],
      }),
    ],
    [],
    null,
    T0 + 2 * HOUR,
  );
  // Attempt 4: handshake failed, delivered in plaintext.
  repo.recordOutcome(
    'm3',
    [
      attempt({
        startedAt: T0 + 3 * HOUR,
        domain: 'plain.example',
        host: HOSTILE.tab,
        ip: '127.0.0.3',
        starttls: false,
        tlsVersion: null,
        tlsCipher: null,
        certFingerprint: null,
        verification: 'none',
        verificationReason: HOSTILE.cr,
        plaintextFallback: true,
        tlsrptFailure: 'validation-failure',
        results: [{ recipientId: id('c@plain.example'), status: 'delivered', code: 250, enhancedCode: null, reply: null }],
      }),
    ],
    [],
    null,
    T0 + 3 * HOUR,
  );

  return {
    store,
    dir,
    rcpt,
    transcript1,
    cleanup: () => {
      try {
        store.close();
      } finally {
        cleanup();
      }
    },
  };
}
