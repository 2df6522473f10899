/**
 * Proves the real peers behave as README.md says, with no code of the engine involved: if
 * this file fails, an integration test failing next to it says nothing about the engine.
 * DNS through node:dns and raw dns-packet queries (for the AD bit, RFC 4035 §3.2.3), SMTP
 * through nodemailer.
 */
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import * as dnsPacket from 'dns-packet';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Peers } from './peers';
import { usePeers } from './use-peers';

let peers: Peers;
let release: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ peers, release } = await usePeers());
});

afterAll(async () => {
  await release?.();
});

function resolver(): Resolver {
  const r = new Resolver({ timeout: 2_000, tries: 1 });
  r.setServers([`${peers.dns.resolver}:${peers.dns.port}`]);
  return r;
}

/** One UDP query to the resolver with the DO bit set (RFC 3225), so AD is reported. */
async function rawQuery(name: string, type: dnsPacket.RecordType): Promise<dnsPacket.DecodedPacket> {
  const id = randomBytes(2).readUInt16BE(0);
  const query = dnsPacket.encode({
    type: 'query',
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name }],
    additionals: [
      { type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: dnsPacket.DNSSEC_OK, flag_do: true, options: [] },
    ],
  });
  const socket = createSocket('udp4');
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no DNS answer for ${name} ${type}`)), 5_000);
      socket.on('error', reject);
      socket.on('message', (msg) => {
        const packet = dnsPacket.decode(msg);
        if (packet.id !== id) return;
        clearTimeout(timer);
        resolve(packet);
      });
      socket.send(query, peers.dns.port, peers.dns.resolver);
    });
  } finally {
    socket.close();
  }
}

function rcode(packet: dnsPacket.DecodedPacket): string | undefined {
  return (packet as { rcode?: string }).rcode;
}

function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function spkiSha256(certFile: string): string {
  return sha256Hex(new X509Certificate(readFileSync(certFile)).publicKey.export({ type: 'spki', format: 'der' }));
}

/**
 * The certificate an SMTP server presents after STARTTLS (RFC 3207), unverified: what a DANE
 * client matches its TLSA records against.
 */
async function startTlsPeerCert(host: string, port: number, servername: string): Promise<X509Certificate> {
  const socket = connect({ host, port });
  try {
    let buffer = '';
    const waitReply = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const onData = (chunk: Buffer): void => {
          buffer += chunk.toString('latin1');
          // A complete reply ends with a line "NNN text" (no hyphen after the code).
          const m = /(?:^|\r\n)(\d{3}) [^\r\n]*\r\n$/.exec(buffer);
          if (!m) return;
          cleanup();
          const reply = buffer;
          buffer = '';
          resolve(reply);
        };
        const onError = (err: Error): void => {
          cleanup();
          reject(err);
        };
        const cleanup = (): void => {
          socket.off('data', onData);
          socket.off('error', onError);
        };
        socket.on('data', onData);
        socket.on('error', onError);
      });
    expect(await waitReply()).toMatch(/^220 /);
    socket.write('EHLO client.outbox.test\r\n');
    expect(await waitReply()).toMatch(/^250-.*STARTTLS/s);
    socket.write('STARTTLS\r\n');
    expect(await waitReply()).toMatch(/^220 /);
    const secure = tlsConnect({ socket, servername, rejectUnauthorized: false });
    try {
      await once(secure, 'secureConnect');
      const cert = secure.getPeerX509Certificate();
      if (!cert) throw new Error(`${host} presented no certificate`);
      return cert;
    } finally {
      secure.destroy();
    }
  } finally {
    socket.destroy();
  }
}

/** A fresh local part per test, so messages of earlier runs or tests never match. */
function mailbox(prefix: string, domain: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}@${domain}`;
}

function receivedHeaders(raw: string): string[] {
  const head = raw.slice(0, raw.search(/\r?\n\r?\n/));
  return head
    .replace(/\r?\n[ \t]+/g, ' ')
    .split(/\r?\n/)
    .filter((l) => /^received:/i.test(l));
}

describe('DNS: unbound in front of knot', () => {
  it('resolves the MX records of the unsigned zone', async () => {
    const r = resolver();
    expect(await r.resolveMx('tls.test')).toEqual([{ exchange: 'mx1.tls.test', priority: 10 }]);
    expect(await r.resolve4('mx1.tls.test')).toEqual([peers.hosts.mx1.ip]);
    const fallthrough = (await r.resolveMx('fallthrough.tls.test')).sort((a, b) => a.priority - b.priority);
    expect(fallthrough).toEqual([
      { exchange: 'dead.tls.test', priority: 10 },
      { exchange: 'mx1.tls.test', priority: 20 },
    ]);
    expect(await r.resolve4('dead.tls.test')).toEqual([peers.hosts.dead.ip]);
    expect(await r.resolveMx('nullmx.tls.test')).toEqual([{ exchange: '', priority: 0 }]);
    expect(await r.resolve4('implicit.tls.test')).toEqual([peers.hosts.mx1.ip]);
    await expect(r.resolveMx('implicit.tls.test')).rejects.toMatchObject({ code: 'ENODATA' });
  });

  it('serves the MTA-STS records', async () => {
    const r = resolver();
    expect((await r.resolveTxt('_mta-sts.sts.test')).map((t) => t.join(''))).toEqual([
      'v=STSv1; id=20240101T000000;',
    ]);
    for (const name of peers.https.names) {
      expect(await r.resolve4(name)).toEqual([peers.https.ip]);
    }
    expect(await r.resolveMx('self.sts.test')).toEqual([{ exchange: 'mx-self.sts.test', priority: 10 }]);
  });

  it('answers NXDOMAIN under the test zones and nothing outside them', async () => {
    const r = resolver();
    await expect(r.resolve4('nope.tls.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    await expect(r.resolve4('nope.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
    expect(rcode(await rawQuery('example.com', 'A'))).toBe('REFUSED');
  });

  it('sets AD for the signed zone only', async () => {
    const signed = await rawQuery('dane.test', 'MX');
    expect(rcode(signed)).toBe('NOERROR');
    expect(signed.flag_ad).toBe(true);
    const unsigned = await rawQuery('tls.test', 'MX');
    expect(rcode(unsigned)).toBe('NOERROR');
    expect(unsigned.answers?.some((a) => a.type === 'MX')).toBe(true);
    expect(unsigned.flag_ad).toBe(false);
  });

  it('publishes an authentic TLSA that matches mx.dane.test and one that does not match mx-bad', async () => {
    const good = await rawQuery('_25._tcp.mx.dane.test', 'TLSA');
    expect(good.flag_ad).toBe(true);
    const tlsa = good.answers?.find((a) => a.type === 'TLSA');
    expect(tlsa?.type === 'TLSA' && tlsa.data).toMatchObject({ usage: 3, selector: 1, matchingType: 1 });
    const digest = tlsa?.type === 'TLSA' ? tlsa.data.certificate.toString('hex') : undefined;
    expect(digest).toBe(spkiSha256(peers.hosts.dane.cert!));

    const bad = await rawQuery('_25._tcp.mx-bad.dane.test', 'TLSA');
    expect(bad.flag_ad).toBe(true);
    const badTlsa = bad.answers?.find((a) => a.type === 'TLSA');
    const badDigest = badTlsa?.type === 'TLSA' ? badTlsa.data.certificate.toString('hex') : undefined;
    expect(badDigest).toBe(peers.tlsa.daneBad);
    expect(badDigest).not.toBe(spkiSha256(peers.hosts.daneBad.cert!));
  });
});

describe('SMTP: Postfix', () => {
  const ca = (): string => readFileSync(peers.ca.cert, 'utf8');

  it('accepts mail over STARTTLS with the test-CA certificate and records TLS in Received', async () => {
    const to = mailbox('smoke', 'tls.test');
    const transport = nodemailer.createTransport({
      host: peers.hosts.mx1.ip,
      port: peers.hosts.mx1.port,
      secure: false,
      requireTLS: true,
      name: 'client.outbox.test',
      tls: { ca: [ca()], servername: peers.hosts.mx1.name },
    });
    try {
      const info = await transport.sendMail({
        from: 'smoke@outbox.test',
        to,
        subject: 'peers smoke test',
        text: 'hello over TLS',
      });
      expect(info.accepted).toEqual([to]);
    } finally {
      transport.close();
    }
    const [raw] = await peers.waitForMail(to);
    const received = receivedHeaders(raw!);
    expect(received[0]).toMatch(/\(using TLSv1\.[23] with cipher /);
    expect(received[0]).toMatch(/by mx1\.tls\.test \(Postfix\) with ESMTPS/);
    expect(raw).toContain('hello over TLS');
  });

  it('accepts plaintext mail on the host without STARTTLS', async () => {
    const to = mailbox('plain', 'plain.tls.test');
    const transport = nodemailer.createTransport({
      host: peers.hosts.plain.ip,
      port: peers.hosts.plain.port,
      secure: false,
      ignoreTLS: true,
      name: 'client.outbox.test',
    });
    try {
      await transport.sendMail({ from: 'smoke@outbox.test', to, subject: 'plain', text: 'hello in clear' });
    } finally {
      transport.close();
    }
    const [raw] = await peers.waitForMail(to);
    const received = receivedHeaders(raw!);
    expect(received[0]).toMatch(/by mx-plain\.tls\.test \(Postfix\) with ESMTP /);
    expect(received[0]).not.toMatch(/using TLS/);
  });

  it('offers no STARTTLS on the plain host', async () => {
    const transport = nodemailer.createTransport({
      host: peers.hosts.plain.ip,
      port: peers.hosts.plain.port,
      secure: false,
      requireTLS: true,
      name: 'client.outbox.test',
    });
    try {
      await expect(transport.verify()).rejects.toThrow(/STARTTLS/i);
    } finally {
      transport.close();
    }
  });

  it('presents a certificate no CA vouches for on mx-self.sts.test', async () => {
    const transport = nodemailer.createTransport({
      host: peers.hosts.self.ip,
      port: peers.hosts.self.port,
      secure: false,
      requireTLS: true,
      name: 'client.outbox.test',
      tls: { ca: [ca()], servername: peers.hosts.self.name },
    });
    try {
      await expect(transport.verify()).rejects.toThrow(/self[- ]signed/i);
    } finally {
      transport.close();
    }
  });

  it('rejects reject-* recipients with 550 5.1.1 and refuses to relay', async () => {
    const transport = nodemailer.createTransport({
      host: peers.hosts.mx1.ip,
      port: peers.hosts.mx1.port,
      secure: false,
      ignoreTLS: true,
      name: 'client.outbox.test',
    });
    try {
      await expect(
        transport.sendMail({ from: 'smoke@outbox.test', to: 'reject-x@tls.test', subject: 'x', text: 'x' }),
      ).rejects.toMatchObject({ responseCode: 550, response: expect.stringContaining('5.1.1') });
      await expect(
        transport.sendMail({ from: 'smoke@outbox.test', to: 'someone@example.com', subject: 'x', text: 'x' }),
      ).rejects.toMatchObject({ responseCode: 554, response: expect.stringContaining('Relay access denied') });
    } finally {
      transport.close();
    }
  });

  it('serves on the DANE hosts the keys the TLSA records do and do not match', async () => {
    const good = await startTlsPeerCert(peers.hosts.dane.ip, peers.hosts.dane.port, peers.hosts.dane.name);
    expect(sha256Hex(good.publicKey.export({ type: 'spki', format: 'der' }))).toBe(peers.tlsa.dane);
    expect(good.checkHost(peers.hosts.dane.name)).toBe(peers.hosts.dane.name);
    const bad = await startTlsPeerCert(peers.hosts.daneBad.ip, peers.hosts.daneBad.port, peers.hosts.daneBad.name);
    expect(sha256Hex(bad.publicKey.export({ type: 'spki', format: 'der' }))).not.toBe(peers.tlsa.daneBad);
    expect(bad.checkHost(peers.hosts.daneBad.name)).toBe(peers.hosts.daneBad.name);
  });

  it('delivers on the DANE host', async () => {
    const to = mailbox('dane', 'dane.test');
    const transport = nodemailer.createTransport({
      host: peers.hosts.dane.ip,
      port: peers.hosts.dane.port,
      secure: false,
      requireTLS: true,
      name: 'client.outbox.test',
      tls: { ca: [ca()], servername: peers.hosts.dane.name },
    });
    try {
      await transport.sendMail({ from: 'smoke@outbox.test', to, subject: 'dane', text: 'hello dane' });
    } finally {
      transport.close();
    }
    const [raw] = await peers.waitForMail(to);
    expect(receivedHeaders(raw!)[0]).toMatch(/by mx\.dane\.test \(Postfix\) with ESMTPS/);
  });
});
