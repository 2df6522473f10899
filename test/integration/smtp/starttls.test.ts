/**
 * STARTTLS (RFC 3207): handshake with a test CA, Node's PKIX verdict exposed (not enforced),
 * EHLO again after TLS, refusal and handshake failures, and the plaintext-injection regression
 * (RFC 3207 §6): bytes sent after the 220 and before the handshake are discarded.
 */
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SmtpSession } from '../../../src-main/core/smtp/client';
import { createSelfSigned, createTestCa, type CertFiles, type TestCa } from '../../helpers/certs';
import { startScriptedPeer, startSmtpPeer, type ScriptedConnection } from '../../helpers/smtp-peer';

let ca: TestCa;
let leaf: CertFiles;
let expired: CertFiles;
const cleanups: (() => unknown)[] = [];

beforeAll(() => {
  ca = createTestCa();
  leaf = ca.issue({ names: ['mx.example.test'] });
  expired = ca.issue({ names: ['mx.example.test'], expired: true });
});
afterAll(() => ca.cleanup());
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function openTo(port: number, connect: () => Promise<import('node:net').Socket>, host = 'mx.example.test'): Promise<SmtpSession> {
  void port;
  const s = await SmtpSession.open({ socket: await connect(), host, ip: '127.0.0.1', ehloName: 'client.test' });
  cleanups.push(() => s.close());
  return s;
}

async function tlsPeer(cert: CertFiles) {
  const peer = await startSmtpPeer({ tls: { key: cert.keyPem, cert: cert.chainPem }, server: { hideREQUIRETLS: false } });
  cleanups.push(() => peer.close());
  return peer;
}

describe('STARTTLS against smtp-server', () => {
  it('upgrades, exposes version/cipher/chain and a positive PKIX verdict with the CA, EHLOs again', async () => {
    const peer = await tlsPeer(leaf);
    const s = await openTo(peer.port, peer.connect);
    expect(s.capabilities.starttls).toBe(true);
    expect(s.capabilities.requireTls).toBe(false);
    const info = await s.starttls({ ca: ca.certPem });
    expect(info.version).toMatch(/^TLSv1\.[23]$/);
    expect(info.cipher).toMatch(/^TLS_|ECDHE/);
    expect(info.authorized).toBe(true);
    expect(info.authorizationError).toBeUndefined();
    expect(info.chain[0]!.equals(leaf.der)).toBe(true);
    expect(info.chain.some((c) => c.equals(ca.der))).toBe(true);
    expect(info.leafFingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(s.tls).toBe(info);
    // RFC 3207 §4.2: the post-TLS EHLO decides; smtp-server offers REQUIRETLS only over TLS.
    expect(s.capabilities.starttls).toBe(false);
    expect(s.capabilities.requireTls).toBe(true);
    const ehlos = s.transcript.filter((l) => l.dir === 'c' && l.text.startsWith('EHLO'));
    expect(ehlos).toHaveLength(2);
    expect(s.transcript.some((l) => l.dir === 'i' && l.text.startsWith(`TLS established: ${info.version} ${info.cipher}`))).toBe(true);

    // REQUIRETLS is sent as a MAIL parameter once announced (RFC 8689 §4.2.1).
    const r = await s.send({ mailFrom: 'a@client.test', rcptTo: ['b@example.test'], size: 6, requireTls: true }, () => Readable.from(['hello\n']));
    expect(r.dataAccepted).toBe(true);
    expect(s.transcript.find((l) => l.text.startsWith('MAIL'))!.text).toMatch(/ REQUIRETLS$/);
    expect(peer.messages[0]!.secure).toBe(true);
    await s.quit();
  });

  it('reports PKIX failure without the CA but still completes the handshake', async () => {
    const peer = await tlsPeer(leaf);
    const s = await openTo(peer.port, peer.connect);
    const info = await s.starttls({});
    expect(info.authorized).toBe(false);
    expect(info.authorizationError).toMatch(/SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(GET_ISSUER_CERT_LOCALLY|VERIFY_LEAF_SIGNATURE)/);
    expect(info.chain[0]!.equals(leaf.der)).toBe(true);
    expect(s.transcript.some((l) => l.dir === 'i' && /PKIX not verified/.test(l.text))).toBe(true);
  });

  it('reports a host name mismatch', async () => {
    const peer = await tlsPeer(leaf);
    const s = await openTo(peer.port, peer.connect, 'other.example.test');
    const info = await s.starttls({ ca: ca.certPem });
    expect(info.authorized).toBe(false);
    expect(info.authorizationError).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('reports an expired certificate', async () => {
    const peer = await tlsPeer(expired);
    const s = await openTo(peer.port, peer.connect);
    const info = await s.starttls({ ca: ca.certPem });
    expect(info.authorized).toBe(false);
    expect(info.authorizationError).toBe('CERT_HAS_EXPIRED');
  });

  it('reports a self-signed certificate', async () => {
    const self = createSelfSigned({ names: ['mx.example.test'] });
    cleanups.push(() => self.cleanup());
    const peer = await tlsPeer(self);
    const s = await openTo(peer.port, peer.connect);
    const info = await s.starttls({ ca: ca.certPem });
    expect(info.authorized).toBe(false);
    expect(info.authorizationError).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(info.chain).toHaveLength(1);
  });
});

describe('STARTTLS against scripted peers', () => {
  async function scripted(script: (c: ScriptedConnection) => Promise<void>) {
    const peer = await startScriptedPeer(script);
    cleanups.push(() => peer.close());
    return peer;
  }

  it('RFC 3207 §6 regression: bytes injected after the 220, before the handshake, are discarded', async () => {
    const peer = await scripted(async (c) => {
      c.write('220 scripted.test ESMTP\r\n');
      expect(await c.readLine()).toBe('EHLO client.test');
      c.write('250-scripted.test\r\n250 STARTTLS\r\n');
      expect(await c.readLine()).toBe('STARTTLS');
      // A MITM appends a fake EHLO reply to the 220, hoping it is read as the answer to the
      // client's first command under TLS (and hides the real extensions).
      c.write('220 2.0.0 ready\r\n250-injected.example\r\n250 INJECTED\r\n');
      await c.startTls({ key: leaf.keyPem, cert: leaf.chainPem });
      expect(await c.readLine()).toBe('EHLO client.test');
      c.write('250-scripted.test\r\n250-SIZE 1000\r\n250 REQUIRETLS\r\n');
      expect(await c.readLine()).toBe('QUIT');
      c.write('221 bye\r\n');
      c.end();
    });
    const s = await openTo(peer.port, peer.connect);
    await s.starttls({ ca: ca.certPem });
    // The real post-TLS reply was read, not the injected one.
    expect(s.capabilities.size).toBe(1000);
    expect(s.capabilities.requireTls).toBe(true);
    expect(s.transcript.some((l) => l.dir === 's' && /injected/i.test(l.text))).toBe(false);
    expect(s.transcript.some((l) => l.dir === 'i' && /^discarded \d+ bytes received before the TLS handshake/.test(l.text))).toBe(true);
    await s.quit();
    expect(peer.errors).toEqual([]);
    expect(peer.connections[0]!.lines).toEqual(['EHLO client.test', 'STARTTLS', 'EHLO client.test', 'QUIT']);
  });

  it('a refused STARTTLS is TLS_FAILED at stage starttls, temporary; the session stays usable in plaintext', async () => {
    const peer = await scripted(async (c) => {
      c.write('220 scripted.test ESMTP\r\n');
      await c.readLine();
      c.write('250-scripted.test\r\n250 STARTTLS\r\n');
      await c.readLine();
      c.write('454 4.7.0 TLS not available\r\n');
      expect(await c.readLine()).toBe('QUIT');
      c.write('221 bye\r\n');
    });
    const s = await openTo(peer.port, peer.connect);
    const err = await s.starttls({ ca: ca.certPem }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TLS_FAILED', stage: 'starttls', permanent: false, smtpCode: 454, enhancedCode: '4.7.0', command: 'STARTTLS', host: 'mx.example.test' });
    await s.quit();
    expect(peer.errors).toEqual([]);
    expect(peer.connections[0]!.lines.at(-1)).toBe('QUIT');
  });

  it('a failed handshake is TLS_FAILED at stage tls', async () => {
    const peer = await scripted(async (c) => {
      c.write('220 scripted.test ESMTP\r\n');
      await c.readLine();
      c.write('250-scripted.test\r\n250 STARTTLS\r\n');
      await c.readLine();
      c.write('220 go ahead\r\n');
      // Not a TLS server hello.
      await new Promise((r) => setTimeout(r, 20));
      c.write('HTTP/1.1 400 Bad Request\r\n\r\n');
      c.end();
    });
    const s = await openTo(peer.port, peer.connect);
    const err = await s.starttls({ ca: ca.certPem }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'TLS_FAILED', stage: 'tls', permanent: false });
    // The session is dead afterwards.
    await expect(s.send({ mailFrom: '', rcptTo: ['a@b.test'], size: 1 }, () => Readable.from(['x']))).rejects.toMatchObject({ code: 'TLS_FAILED' });
  });

  it('STARTTLS not announced: TLS_REQUIRED without sending anything', async () => {
    const peer = await scripted(async (c) => {
      c.write('220 scripted.test ESMTP\r\n');
      await c.readLine();
      c.write('250 scripted.test\r\n');
      await c.readLine();
    });
    const s = await openTo(peer.port, peer.connect);
    await expect(s.starttls()).rejects.toMatchObject({ code: 'TLS_REQUIRED', stage: 'starttls' });
    expect(s.transcript.some((l) => l.text === 'STARTTLS')).toBe(false);
  });
});
