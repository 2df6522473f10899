/**
 * An attempt as the engine records it reaches the renderer whole: written by the queue repo
 * (recordOutcome), read back by the store (rows.ts toAttempt) and passed through the IPC
 * contract's response schemas ('outbox.get', 'attempts.list'; zod drops what a schema does
 * not name). Every field of the shared Attempt schema is set to a value other than its
 * default, so a field missing from any hop fails here — among them reusedSession and
 * tlsResumed, which the message detail shows (src-renderer/lib/session-facts.ts).
 */
import { afterEach, beforeEach, expect, test } from 'vitest';
import { channels } from '../../../shared/contract';
import { Attempt, type AttemptRecord } from '../../../shared/domain';
import { QueueRepo } from '../../../src-main/core/store/queue-repo';
import { Store } from '../../../src-main/core/store/store';
import { tmpDir } from '../../helpers/tmp';
import { newMessage } from './fixtures';

let t: ReturnType<typeof tmpDir>;
let store: Store;
let repo: QueueRepo;

beforeEach(() => {
  t = tmpDir('outbox-attempt-roundtrip-');
  store = Store.open(t.dir);
  repo = new QueueRepo(store);
});
afterEach(() => {
  store.close();
  t.cleanup();
});

const T0 = 1_780_000_000_000;

/** Every field off its default (blankAttempt's false / null / []). */
function fullRecord(recipientId: number): AttemptRecord {
  return {
    startedAt: T0 + 1000,
    transport: 'via-proxy',
    routeId: 7,
    durationMs: 842,
    domain: 'example.org',
    host: 'mx.example.org',
    ip: '192.0.2.25',
    port: 2525,
    stage: 'data',
    starttls: true,
    tlsVersion: 'TLSv1.3',
    tlsCipher: 'TLS_AES_256_GCM_SHA384',
    certFingerprint: 'AB:CD',
    verification: 'dane-ta',
    verificationReason: 'a reason',
    mtaStsMode: 'testing',
    dane: true,
    requiretls: true,
    plaintextFallback: true,
    reusedSession: true,
    tlsResumed: true,
    tlsrptPolicy: 'tlsa',
    tlsrptFailure: 'validation-failure',
    tlsrptPolicyString: ['3 1 1 abcd'],
    tlsrptMxHost: ['*.example.org'],
    localIp: '192.0.2.1',
    code: 451,
    enhancedCode: '4.7.5',
    reply: '451 4.7.5 try later',
    errorCode: 'SMTP_REPLY',
    permanent: true,
    transcript: [{ at: T0 + 1001, dir: 's', text: '220 mx.example.org ESMTP' }],
    results: [{ recipientId, status: 'deferred', code: 451, enhancedCode: '4.7.5', reply: 'try later' }],
  };
}

function recordOne(a: (rcpt: number) => AttemptRecord) {
  store.insertMessage(newMessage('m1', T0, ['ann@example.org']));
  const [ann] = repo.recipientsOf('m1');
  repo.claim([{ id: ann!.id, messageId: 'm1', domain: 'example.org' }], T0);
  repo.recordOutcome('m1', [a(ann!.id)], [], null, T0 + 2000);
  return ann!.id;
}

test('every field of the Attempt schema is set by the record used here (the test covers the whole schema)', () => {
  expect(Object.keys(fullRecord(1)).sort()).toEqual(Object.keys(Attempt.shape).filter((k) => k !== 'id' && k !== 'messageId').sort());
});

test('an attempt comes back from the store, and through the IPC responses, exactly as recorded', () => {
  const rcpt = recordOne(fullRecord);
  const want = { ...fullRecord(rcpt), id: expect.any(Number), messageId: 'm1' };
  const stored = store.getMessage('m1')!.attempts;
  expect(stored).toEqual([want]);
  expect(channels['outbox.get'].response.parse(store.getMessage('m1')).attempts).toEqual([want]);
  expect(channels['attempts.list'].response.parse(store.listAttempts({ messageId: 'm1' })).items).toEqual([want]);
});

test('a new session with a full handshake reads back as such (false, not absent)', () => {
  recordOne((id) => ({ ...fullRecord(id), reusedSession: false, tlsResumed: false }));
  expect(store.getMessage('m1')!.attempts[0]).toMatchObject({ reusedSession: false, tlsResumed: false });
});

test('a row written before reuse and resumption were recorded (no such columns set) reads as a new session with a full handshake', () => {
  store.insertMessage(newMessage('m2', T0, ['bob@example.org']));
  // The columns an older engine wrote (before migrations 11 and 14); the rest take their defaults.
  store.db
    .prepare(
      `INSERT INTO attempts (message_id, started_at, duration_ms, domain, host, starttls, tls_version, verification, dane, requiretls,
         plaintext_fallback, permanent, transcript, transport)
       VALUES ('m2', ?, 10, 'example.org', 'mx.example.org', 1, 'TLSv1.2', 'pkix', 0, 0, 0, 0, '[]', 'direct')`,
    )
    .run(T0);
  expect(store.getMessage('m2')!.attempts[0]).toMatchObject({ tlsVersion: 'TLSv1.2', verification: 'pkix', reusedSession: false, tlsResumed: false });
});
