/**
 * Relay transports against in-process peers (the real engine, queue and store): smtp-server
 * as a submission server for PLAIN, LOGIN and CRAM-MD5, and scripted peers for what a real
 * server will not do (AUTH offered without TLS, a SCRAM server that cannot prove itself).
 * SCRAM against a real server, Dante and Postfix: test/peers/transport.test.ts.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test, vi } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { exportAttempts } from '../../../src-main/core/export/export';
import { Writable } from 'node:stream';
import { createTestCa, createSelfSigned, type TestCa } from '../../helpers/certs';
import { startScriptedPeer, startSmtpPeer, type SmtpPeer } from '../../helpers/smtp-peer';
import { startSocks5Peer } from '../../helpers/socks5-peer';
import { startHarness, type Harness } from '../delivery/harness';
import type { PasswordInput } from '../../../src-main/core/sending/service';

const PASSWORD = 'S3cr3t-relay-pässword';
let ca: TestCa;
let h: Harness;
const peers: { close(): Promise<void> }[] = [];

beforeAll(() => {
  ca = createTestCa();
});
afterAll(() => ca.cleanup());
beforeEach(async () => {
  h = await startHarness({ extraCa: [ca.certPem] });
  vi.stubEnv('RELAY_PW', PASSWORD);
  h.dns.add('relay.test', 'A', ['127.0.1.50']);
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await h.close();
  for (const p of peers.splice(0)) await p.close();
});

/** A submission server (smtp-server) with a test-CA certificate that wants user "me". */
async function submissionPeer(opts: { methods?: string[]; secure?: boolean; cert?: { keyPem: string; chainPem: string } } = {}): Promise<SmtpPeer & { auths: { method: string; user: string }[] }> {
  const auths: { method: string; user: string }[] = [];
  const leaf = opts.cert ?? ca.issue({ names: ['relay.test'] });
  const p = await startSmtpPeer({
    tls: { key: leaf.keyPem, cert: leaf.chainPem },
    server: {
      secure: opts.secure ?? false,
      authOptional: false,
      disabledCommands: opts.secure ? ['STARTTLS'] : [],
      authMethods: opts.methods ?? ['PLAIN', 'LOGIN', 'CRAM-MD5'],
      onAuth(auth, _session, cb) {
        const ok = auth.method === 'CRAM-MD5' ? auth.validatePassword!(PASSWORD) : auth.password === PASSWORD;
        if (auth.username !== 'me' || !ok) return cb(new Error('Invalid username or password'));
        auths.push({ method: auth.method, user: auth.username! });
        cb(null, { user: auth.username });
      },
    },
  });
  peers.push(p);
  h.routes.set('127.0.1.50', p.port);
  return Object.assign(p, { auths });
}

function addRelay(over: Record<string, unknown> = {}, password: PasswordInput | null = { kind: 'env', name: 'RELAY_PW' }) {
  const r = h.core.transports.save({ name: 'relay', type: 'submission', host: 'relay.test', user: 'me', ...over }, password);
  expect(r).toMatchObject({ ok: true });
  const route = h.core.transports.addRoute({ transport: 'relay' });
  expect(route.ok).toBe(true);
}

async function everything(id: string): Promise<string> {
  const chunks: Buffer[] = [];
  for (const format of ['csv', 'json', 'ndjson'] as const) {
    await exportAttempts(h.core.store, { format }, new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }));
  }
  return [JSON.stringify(h.core.store.getMessage(id)), JSON.stringify(h.core.transports.list()), Buffer.concat(chunks).toString('utf8')].join('\n');
}

describe('submission (RFC 6409 + RFC 4954)', () => {
  test.each(['plain', 'login', 'cram-md5'] as const)('delivers with AUTH %s after STARTTLS; the transcript hides the credentials', async (auth) => {
    const peer = await submissionPeer();
    addRelay({ auth });
    const id = await h.send({ to: ['x@far.test'] });
    const m = h.core.store.getMessage(id)!;
    expect(m.recipients[0]!.state).toBe('delivered');
    expect(peer.messages).toHaveLength(1);
    expect(peer.messages[0]!.secure).toBe(true);
    expect(peer.auths).toEqual([{ method: auth.toUpperCase(), user: 'me' }]);
    const a = m.attempts[0]!;
    expect(a).toMatchObject({ transport: 'relay', host: 'relay.test', port: 587, starttls: true, verification: 'pkix' });
    expect(a.routeId).toBe(h.core.transports.routes()[0]!.id);
    // AUTH comes only after STARTTLS, and what the client sent is not in the transcript.
    const cmds = a.transcript.filter((l) => l.dir === 'c').map((l) => l.text);
    expect(cmds.indexOf('STARTTLS')).toBeLessThan(cmds.findIndex((c) => c.startsWith('AUTH ')));
    expect(cmds.some((c) => c === '[credentials]' || c.endsWith('[credentials]'))).toBe(true);
    const all = await everything(id);
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toContain(Buffer.from(PASSWORD).toString('base64'));
    expect(all).not.toContain(Buffer.from(`\0me\0${PASSWORD}`).toString('base64'));
  });

  test('picks the strongest mechanism offered when none is configured', async () => {
    const peer = await submissionPeer({ methods: ['PLAIN', 'LOGIN', 'CRAM-MD5'] });
    addRelay();
    await h.send({ to: ['x@far.test'] });
    expect(peer.auths.map((a) => a.method)).toEqual(['CRAM-MD5']);
  });

  test('a wrong password fails permanently at once, with a clear reason, without leaking the password', async () => {
    const peer = await submissionPeer();
    vi.stubEnv('RELAY_PW', 'wrong-password-123');
    addRelay({ auth: 'plain' });
    const id = await h.send({ to: ['x@far.test', 'y@far.test'] });
    const m = h.core.store.getMessage(id)!;
    expect(m.recipients.map((r) => r.state)).toEqual(['failed', 'failed']);
    expect(m.recipients[0]!.lastErrorCode).toBe('AUTH_FAILED');
    expect(m.recipients[0]!.lastReply).toMatch(/refused the user name or password of transport relay/);
    expect(m.recipients[0]!.nextAttemptAt).toBeNull(); // no retry storm
    expect(m.attempts).toHaveLength(1);
    expect(peer.messages).toHaveLength(0);
    expect(await everything(id)).not.toContain('wrong-password-123');
  });

  test('RFC 8314 implicit TLS on 465', async () => {
    const peer = await submissionPeer({ secure: true });
    addRelay({ tls: 'implicit' });
    const id = await h.send({ to: ['x@far.test'] });
    const m = h.core.store.getMessage(id)!;
    expect(m.recipients[0]!.state).toBe('delivered');
    expect(m.attempts[0]).toMatchObject({ port: 465, starttls: true, verification: 'pkix' });
    expect(m.attempts[0]!.transcript.some((l) => l.text === 'STARTTLS')).toBe(false);
    expect(peer.auths).toHaveLength(1);
  });

  test('REQUIRETLS through a relay that does not announce it: 5.7.30 at once, nothing sent', async () => {
    const peer = await submissionPeer();
    addRelay();
    const id = await h.send({ to: ['x@far.test'], tlsMode: 'requiretls' });
    const m = h.core.store.getMessage(id)!;
    expect(m.recipients[0]).toMatchObject({ state: 'failed', lastEnhanced: '5.7.30', lastErrorCode: 'REQUIRETLS_UNSUPPORTED' });
    expect(peer.auths).toHaveLength(0);
    expect(peer.messages).toHaveLength(0);
  });

  test('TLS-Required: No stays in the message the relay gets', async () => {
    const peer = await submissionPeer();
    addRelay();
    await h.send({ to: ['x@far.test'], tlsMode: 'tls-optional' });
    expect(peer.messages[0]!.body.toString()).toMatch(/^TLS-Required: No\r$/im);
  });

  test('a certificate that does not verify: deferred; delivered only when the transport is set to unverified, and shown so', async () => {
    const self = createSelfSigned({ names: ['relay.test'] });
    try {
      const peer = await submissionPeer({ cert: { keyPem: self.keyPem, chainPem: self.certPem } });
      addRelay();
      const id = await h.send({ to: ['x@far.test'] });
      const m = h.core.store.getMessage(id)!;
      expect(m.recipients[0]).toMatchObject({ state: 'deferred', lastErrorCode: 'CERT_INVALID' });
      expect(peer.auths).toHaveLength(0); // no password to an unverified server
      expect(h.core.transports.save({ name: 'relay', type: 'submission', host: 'relay.test', user: 'me', tlsVerify: 'none' }, undefined).ok).toBe(true);
      const id2 = await h.send({ to: ['y@far.test'] });
      const m2 = h.core.store.getMessage(id2)!;
      expect(m2.recipients[0]!.state).toBe('delivered');
      expect(m2.attempts[0]).toMatchObject({ verification: 'none', verificationReason: expect.stringMatching(/set to unverified/) });
    } finally {
      self.cleanup();
    }
  });
});

describe('hostile relays', () => {
  test('AUTH offered without STARTTLS is never used: nothing is sent, the attempt is deferred', async () => {
    const seen: string[] = [];
    const peer = await startScriptedPeer(async (c) => {
      c.write('220 hostile.test ESMTP\r\n');
      for (;;) {
        const line = await c.readLine();
        if (line === null) return;
        seen.push(line);
        if (line.startsWith('EHLO')) c.write('250-hostile.test\r\n250-AUTH PLAIN LOGIN\r\n250 PIPELINING\r\n');
        else if (line === 'QUIT') return void (c.write('221 bye\r\n'), c.end());
        else c.write('235 2.7.0 whatever you say\r\n');
      }
    });
    peers.push(peer);
    h.routes.set('127.0.1.50', peer.port);
    addRelay();
    const id = await h.send({ to: ['x@far.test'] });
    const m = h.core.store.getMessage(id)!;
    expect(m.recipients[0]).toMatchObject({ state: 'deferred', lastErrorCode: 'TLS_REQUIRED' });
    expect(seen.some((l) => /^AUTH/i.test(l))).toBe(false);
    expect(seen.some((l) => /^MAIL/i.test(l))).toBe(false);
    expect(seen.join('\n')).not.toContain(PASSWORD);
  });

  test('a SCRAM server that cannot prove the password: authentication fails, no mail goes out', async () => {
    const leaf = ca.issue({ names: ['relay.test'] });
    const seen: string[] = [];
    const peer = await startScriptedPeer(async (c) => {
      c.write('220 relay.test ESMTP\r\n');
      let tls = false;
      for (;;) {
        const line = await c.readLine();
        if (line === null) return;
        seen.push(line);
        if (line.startsWith('EHLO')) c.write(tls ? '250-relay.test\r\n250 AUTH SCRAM-SHA-256 PLAIN\r\n' : '250-relay.test\r\n250 STARTTLS\r\n');
        else if (line === 'STARTTLS') {
          c.write('220 go\r\n');
          await c.startTls({ key: leaf.keyPem, cert: leaf.chainPem });
          tls = true;
        } else if (line.startsWith('AUTH SCRAM-SHA-256 ')) {
          const first = Buffer.from(line.split(' ')[2]!, 'base64').toString();
          const nonce = /r=([^,]+)/.exec(first)![1]!;
          c.write(`334 ${Buffer.from(`r=${nonce}srv,s=${Buffer.from('salt').toString('base64')},i=4096`).toString('base64')}\r\n`);
          await c.readLine(); // client-final
          c.write(`334 ${Buffer.from(`v=${Buffer.alloc(32).toString('base64')}`).toString('base64')}\r\n`);
        } else if (line === '*') c.write('501 5.7.0 canceled\r\n');
        else if (line === 'QUIT') return void (c.write('221 bye\r\n'), c.end());
        else c.write('250 ok\r\n');
      }
    });
    peers.push(peer);
    h.routes.set('127.0.1.50', peer.port);
    addRelay();
    const id = await h.send({ to: ['x@far.test'] });
    const m = h.core.store.getMessage(id)!;
    expect(m.recipients[0]).toMatchObject({ state: 'failed', lastErrorCode: 'AUTH_FAILED' });
    expect(m.recipients[0]!.lastReply).toMatch(/signature does not match/);
    expect(seen.some((l) => l.startsWith('MAIL'))).toBe(false);
  });
});

describe('smarthost', () => {
  test('plain relay: STARTTLS, no AUTH, delivered; recorded as the smarthost transport', async () => {
    const leaf = ca.issue({ names: ['relay.test'] });
    const peer = await startSmtpPeer({ tls: { key: leaf.keyPem, cert: leaf.chainPem } });
    peers.push(peer);
    h.routes.set('127.0.1.50', peer.port);
    expect(h.core.transports.save({ name: 'sh', type: 'smarthost', host: 'relay.test' }, null)).toMatchObject({ ok: true, value: { port: 25, tls: 'starttls' } });
    h.core.transports.addRoute({ transport: 'sh', recipientDomain: 'far.test' });
    const id = await h.send({ to: ['x@far.test'] });
    const m = h.core.store.getMessage(id)!;
    expect(m.recipients[0]!.state).toBe('delivered');
    expect(m.attempts[0]).toMatchObject({ transport: 'sh', host: 'relay.test', starttls: true });
    expect(m.attempts[0]!.transcript.some((l) => l.text.startsWith('AUTH'))).toBe(false);
  });
});

describe('password file', () => {
  test('a 0600 file works; the store holds only its path', async () => {
    const peer = await submissionPeer();
    const file = path.join(h.core.dataDir, 'relay.pw');
    fs.writeFileSync(file, `${PASSWORD}\n`, { mode: 0o600 });
    addRelay({}, { kind: 'file', path: file });
    await h.send({ to: ['x@far.test'] });
    expect(peer.auths).toHaveLength(1);
    const db = fs.readFileSync(path.join(h.core.dataDir, 'outbox.sqlite3'));
    expect(db.includes(Buffer.from(PASSWORD))).toBe(false);
  });
});

describe('routes per attempt, and the IP family', () => {
  test('a route "from attempt 2" sends the retry through the relay; each attempt records its transport and route', async () => {
    const peer = await submissionPeer();
    expect(h.core.transports.save({ name: 'relay', type: 'submission', host: 'relay.test', user: 'me' }, { kind: 'env', name: 'RELAY_PW' }).ok).toBe(true);
    const route = h.core.transports.addRoute({ transport: 'relay', recipientDomain: 'far.test', fromAttempt: 2 });
    if (!route.ok) throw new Error('route');
    // Direct: far.test's MX refuses connections (port 25 blocked, say).
    h.dns.add('far.test', 'MX', [{ preference: 10, exchange: 'mx.far.test' }]);
    h.dns.add('mx.far.test', 'A', ['127.0.1.61']);
    const id = await h.send({ to: ['x@far.test'] });
    expect(h.core.store.getMessage(id)!.recipients[0]!.state).toBe('deferred');
    h.core.queue.act('retry', id);
    h.core.queue.onlyMessage(id);
    h.core.queue.start();
    await h.core.queue.drain();
    await h.core.queue.stop();
    const m = h.core.store.getMessage(id)!;
    expect(m.recipients[0]!.state).toBe('delivered');
    expect(m.attempts.map((a) => [a.transport, a.routeId])).toEqual([['direct', null], ['relay', route.value.id]]);
    expect(peer.messages).toHaveLength(1);
  });

  test('an IPv4-only transport never dials IPv6', async () => {
    const leaf = ca.issue({ names: ['mx.dual.test'] });
    const peer = await startSmtpPeer({ tls: { key: leaf.keyPem, cert: leaf.chainPem } });
    peers.push(peer);
    h.dns.add('dual.test', 'MX', [{ preference: 10, exchange: 'mx.dual.test' }]);
    h.dns.add('mx.dual.test', 'AAAA', ['fd00::61']);
    h.dns.add('mx.dual.test', 'A', ['127.0.1.62']);
    h.routes.set('fd00::61', peer.port);
    h.routes.set('127.0.1.62', peer.port);
    expect(h.core.transports.save({ name: 'v4', type: 'direct', ipFamily: 'ipv4' }, null).ok).toBe(true);
    h.core.transports.addRoute({ transport: 'v4' });
    const id = await h.send({ to: ['x@dual.test'] });
    expect(h.core.store.getMessage(id)!.recipients[0]!.state).toBe('delivered');
    expect(h.dialed).toEqual(['127.0.1.62']);
    // And an IPv6-only one never dials IPv4.
    expect(h.core.transports.save({ name: 'v4', type: 'direct', ipFamily: 'ipv6' }, null).ok).toBe(true);
    h.dialed.length = 0;
    await h.send({ to: ['y@dual.test'] });
    expect(h.dialed).toEqual(['fd00::61']);
  });
});

describe('direct-socks5 (in-process SOCKS5 server; Dante in test/peers)', () => {
  test('direct delivery as usual, the TCP connection through the proxy with RFC 1929 credentials', async () => {
    const leaf = ca.issue({ names: ['mx.viaproxy.test'] });
    const mx = await startSmtpPeer({ tls: { key: leaf.keyPem, cert: leaf.chainPem } });
    peers.push(mx);
    const proxy = await startSocks5Peer({ user: 'puser', password: PASSWORD, route: (host) => (host === '127.0.1.70' ? mx.port : undefined) });
    peers.push(proxy);
    h.dns.add('viaproxy.test', 'MX', [{ preference: 10, exchange: 'mx.viaproxy.test' }]);
    h.dns.add('mx.viaproxy.test', 'A', ['127.0.1.70']);
    expect(h.core.transports.save({ name: 'px', type: 'direct-socks5', proxy: `127.0.0.1:${proxy.port}`, user: 'puser' }, { kind: 'env', name: 'RELAY_PW' }).ok).toBe(true);
    h.core.transports.addRoute({ transport: 'px' });
    const id = await h.send({ to: ['x@viaproxy.test'] });
    const m = h.core.store.getMessage(id)!;
    expect(m.recipients[0]!.state).toBe('delivered');
    // The engine chose the MX and its address; the proxy only carried the connection.
    expect(proxy.requests).toEqual([{ user: 'puser', host: '127.0.1.70', port: 25 }]);
    expect(h.dialed).toEqual([]); // nothing dialed directly
    expect(m.attempts[0]).toMatchObject({ transport: 'px', host: 'mx.viaproxy.test', ip: '127.0.1.70', starttls: true, verification: 'pkix' });
    expect(await everything(id)).not.toContain(PASSWORD);
  });

  test('a wrong proxy password: failed at once (permanent, even to a dual-stack MX on the first attempt), a clear reason, one attempt, nothing sent', async () => {
    const proxy = await startSocks5Peer({ user: 'puser', password: 'right', route: () => undefined });
    peers.push(proxy);
    h.dns.add('viaproxy2.test', 'MX', [{ preference: 10, exchange: 'mx.viaproxy2.test' }]);
    h.dns.add('mx.viaproxy2.test', 'A', ['127.0.1.71']);
    h.dns.add('mx.viaproxy2.test', 'AAAA', ['::1']);
    expect(h.core.transports.save({ name: 'px', type: 'direct-socks5', proxy: `127.0.0.1:${proxy.port}`, user: 'puser' }, { kind: 'env', name: 'RELAY_PW' }).ok).toBe(true);
    h.core.transports.addRoute({ transport: 'px' });
    const id = await h.send({ to: ['x@viaproxy2.test'] });
    const m = h.core.store.getMessage(id)!;
    // Retrying the same password only gets refused again (and may lock the proxy account).
    expect(m.recipients[0]).toMatchObject({ state: 'failed', lastErrorCode: 'AUTH_FAILED', nextAttemptAt: null });
    expect(m.recipients[0]!.lastReply).toMatch(/SOCKS5 proxy 127\.0\.0\.1:\d+ refused the user name or password \(user puser\) of transport px .*Settings → Sending/);
    expect(m.attempts).toHaveLength(1);
    expect(m.attempts[0]).toMatchObject({ transport: 'px', errorCode: 'AUTH_FAILED', permanent: true });
    expect(proxy.requests).toHaveLength(0);
    expect(await everything(id)).not.toContain(PASSWORD);
  });
});

describe('relay sessions pooled (issue 14: connection reuse for relays)', () => {
  test('two messages through a submission relay: one authenticated session, RSET between; the second attempt says reused; a new password is a new session', async () => {
    const peer = await submissionPeer();
    addRelay({ auth: 'plain' });
    const first = h.core.store.getMessage(await h.send({ to: ['x@far.test'] }))!;
    const second = h.core.store.getMessage(await h.send({ to: ['y@far.test'] }))!;
    expect([first, second].map((m) => m.recipients[0]!.state)).toEqual(['delivered', 'delivered']);
    expect(peer.messages).toHaveLength(2);
    expect(peer.messages.every((m) => m.secure)).toBe(true);
    // Authenticated once: the kept session carried the second message.
    expect(peer.auths).toHaveLength(1);
    const [a, b] = [first.attempts[0]!, second.attempts[0]!];
    expect(a).toMatchObject({ transport: 'relay', reusedSession: false, verification: 'pkix', starttls: true });
    expect(b).toMatchObject({ transport: 'relay', reusedSession: true, verification: 'pkix', starttls: true, host: 'relay.test', port: 587, tlsVersion: a.tlsVersion, certFingerprint: a.certFingerprint });
    const cmds = b.transcript.filter((l) => l.dir === 'c').map((l) => l.text);
    expect(cmds[0]).toBe('RSET');
    expect(cmds.some((c) => c.startsWith('AUTH') || c === 'STARTTLS' || c.startsWith('EHLO'))).toBe(false);

    // A new password (a new credentials reference): never the session authenticated with the old one.
    vi.stubEnv('RELAY_PW2', PASSWORD);
    expect(h.core.transports.save({ name: 'relay', type: 'submission', host: 'relay.test', user: 'me', auth: 'plain' }, { kind: 'env', name: 'RELAY_PW2' })).toMatchObject({ ok: true });
    const third = h.core.store.getMessage(await h.send({ to: ['z@far.test'] }))!;
    expect(third.recipients[0]!.state).toBe('delivered');
    expect(third.attempts[0]!.reusedSession).toBe(false);
    expect(peer.auths).toHaveLength(2);
  });
});
