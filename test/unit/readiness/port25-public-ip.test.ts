import net from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { checkPort25, reportedAddress } from '../../../src-main/core/readiness/port25';
import { checkPublicIp, isInternal } from '../../../src-main/core/readiness/public-ip';
import { startScriptedPeer, type ScriptedPeer } from '../../helpers/smtp-peer';
import { readinessHarness } from './harness';

let h: Awaited<ReturnType<typeof readinessHarness>>;
const peers: ScriptedPeer[] = [];
beforeAll(async () => {
  h = await readinessHarness();
});
afterAll(async () => {
  await Promise.all(peers.map((p) => p.close()));
  await h.close();
});
beforeEach(() => h.dns.clear());

/** An MX that greets, answers EHLO with `first` as its first line, and says goodbye. */
async function mx(first: string, greeting = '220 mx.example.test ESMTP'): Promise<ScriptedPeer> {
  const p = await startScriptedPeer(async (c) => {
    c.write(`${greeting}\r\n`);
    if (!greeting.startsWith('220')) return c.end();
    for (;;) {
      const line = await c.readLine();
      if (line === null) return;
      if (/^EHLO /i.test(line)) c.write(`250-${first}\r\n250 PIPELINING\r\n`);
      else if (/^QUIT/i.test(line)) return c.write('221 bye\r\n'), c.end();
      else c.write('502 no\r\n');
    }
  });
  peers.push(p);
  return p;
}

/** A port on 127.0.0.1 where nothing listens. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('port25', () => {
  it('pass: a host answers EHLO; the address it names in its reply is learnt', async () => {
    const p = await mx('mx.example.test at your service, [198.51.100.7]');
    const r = await checkPort25(h.deps({ targets: { port25: [{ host: '127.0.0.1', port: p.port }] } }));
    expect(r.check.status).toBe('pass');
    expect(r.check.summary).toBe('Outbound port 25 is open: mx.example.test [127.0.0.1] answered EHLO.');
    expect(r.check.fix).toBeNull();
    expect(r.attempts).toEqual([expect.objectContaining({ outcome: 'ehlo', reportedIp: '198.51.100.7', ip: '127.0.0.1' })]);
    expect(p.connections[0]!.lines[0]).toBe('EHLO desk.example.test');
  });

  it('pass through the MX of a domain, resolved at run time', async () => {
    const p = await mx('mx.example.test Hello [198.51.100.8]');
    h.dns.add('provider.test', 'MX', [{ preference: 20, exchange: 'backup.provider.test' }, { preference: 10, exchange: 'mx.provider.test' }]);
    h.dns.add('mx.provider.test', 'A', ['127.0.0.1']);
    const r = await checkPort25(h.deps({ targets: { port25: [{ mxOf: 'provider.test', port: p.port }] } }));
    expect(r.check.status).toBe('pass');
    expect(r.attempts[0]).toMatchObject({ host: 'mx.provider.test', reportedIp: '198.51.100.8' });
  });

  it('warn: port 25 reaches the host, but it refuses the session (554 greeting)', async () => {
    const p = await mx('', '554 5.7.1 your address is listed');
    const r = await checkPort25(h.deps({ targets: { port25: [{ host: '127.0.0.1', port: p.port }] } }));
    expect(r.check.status).toBe('warn');
    expect(r.check.summary).toContain('554');
    expect(r.check.fix).toMatch(/block list/);
  });

  it('fail: every connection times out (a filter drops port 25)', async () => {
    // Accepts the TCP connection and never says anything: the greeting times out.
    const silent = await startScriptedPeer(() => new Promise<void>(() => {}));
    peers.push(silent);
    const r = await checkPort25(h.deps({ timeoutMs: 200, targets: { port25: [{ host: '127.0.0.1', port: silent.port }] } }));
    expect(r.check.status).toBe('fail');
    expect(r.check.summary).toContain('every connection timed out');
    expect(r.check.fix).toMatch(/transport/);
    expect(r.attempts[0]!.outcome).toBe('timeout');
  });

  it('fail: every connection is refused', async () => {
    const port = await closedPort();
    const r = await checkPort25(h.deps({ targets: { port25: [{ host: '127.0.0.1', port }] } }));
    expect(r.check.status).toBe('fail');
    expect(r.attempts[0]!.outcome).toBe('connection-refused');
  });

  it('pass when one host of several answers', async () => {
    const p = await mx('ok.example.test');
    const port = await closedPort();
    const r = await checkPort25(h.deps({ targets: { port25: [{ host: '127.0.0.1', port }, { host: '127.0.0.1', port: p.port }] } }));
    expect(r.check.status).toBe('pass');
    expect(r.attempts.map((a) => a.outcome).sort()).toEqual(['connection-refused', 'ehlo']);
  });

  it('unknown: no test host could be looked up', async () => {
    h.dns.nxdomain('gone.test');
    const r = await checkPort25(h.deps({ targets: { port25: [{ mxOf: 'gone.test', port: 25 }] } }));
    expect(r.check.status).toBe('unknown');
    expect(r.check.evidence.unresolved).toEqual([expect.objectContaining({ target: 'MX of gone.test' })]);
  });

  it('reads only well-formed address literals from an EHLO line', () => {
    expect(reportedAddress('mx.google.com at your service, [2001:db8::7]')).toBe('2001:db8::7');
    expect(reportedAddress('x Hello [IPv6:2001:db8::8]')).toBe('2001:db8::8');
    expect(reportedAddress('x Hello [999.1.1.1] [not-an-ip]')).toBeNull();
    expect(reportedAddress('x Hello')).toBeNull();
  });
});

describe('public-ip', () => {
  const ehloSaw = (ip: string) => [{ target: 't', host: 'mx.example.test', ip: '127.0.0.1', port: 25, outcome: 'ehlo' as const, reply: '', reportedIp: ip }];

  it('pass: the what-is-my-IP query answers A and AAAA, asked of its own server', async () => {
    const own = await (await import('../../helpers/fake-dns')).startFakeDns();
    try {
      own.add('myip.example.test', 'A', ['198.51.100.7']).add('myip.example.test', 'AAAA', ['2001:db8::7']);
      const r = await checkPublicIp(h.deps({ targets: { myIp: [{ name: 'myip.example.test', server: own.address }] } }), []);
      expect(r.check.status).toBe('pass');
      expect(r.ipv4).toEqual(['198.51.100.7']);
      expect(r.ipv6).toEqual(['2001:db8::7']);
      // Asked of that server, not of the configured resolver.
      expect(own.queries.map((q) => q.type).sort()).toEqual(['A', 'AAAA']);
      expect(h.dns.queries.filter((q) => q.name === 'myip.example.test')).toEqual([]);
    } finally {
      await own.close();
    }
  });

  it('pass: the address named in an EHLO reply and the DNS answer agree', async () => {
    h.dns.add('myip.example.test', 'A', ['198.51.100.7']);
    const r = await checkPublicIp(h.deps({ targets: { myIp: [{ name: 'myip.example.test', server: undefined }] } }), ehloSaw('198.51.100.7'));
    expect(r.check.status).toBe('pass');
    expect(r.check.evidence.sightings).toHaveLength(2);
  });

  it('warn: the sources disagree (several egress addresses)', async () => {
    h.dns.add('myip.example.test', 'A', ['198.51.100.9']);
    const r = await checkPublicIp(h.deps({ targets: { myIp: [{ name: 'myip.example.test', server: undefined }] } }), ehloSaw('198.51.100.7'));
    expect(r.check.status).toBe('warn');
    expect(r.ipv4.sort()).toEqual(['198.51.100.7', '198.51.100.9']);
  });

  it('fail: the answer is a private address (the source is behind the NAT)', async () => {
    h.dns.add('myip.example.test', 'A', ['100.64.1.2']);
    const r = await checkPublicIp(h.deps({ targets: { myIp: [{ name: 'myip.example.test', server: undefined }] } }), []);
    expect(r.check.status).toBe('fail');
    expect(r.check.summary).toContain('100.64.1.2');
    // Nothing downstream (PTR, block lists, SPF) is asked about an address no receiver sees.
    expect(r.ipv4).toEqual([]);
  });

  it('unknown: no EHLO reply named an address and the query has no answer', async () => {
    h.dns.nxdomain('myip.example.test');
    const r = await checkPublicIp(h.deps({ targets: { myIp: [{ name: 'myip.example.test', server: undefined }] } }), []);
    expect(r.check.status).toBe('unknown');
    expect(r.check.fix).toMatch(/what is my IP/);
  });

  it('classifies internal ranges', () => {
    for (const ip of ['10.0.0.1', '172.16.0.1', '192.168.1.1', '100.64.0.1', '169.254.1.1', 'fd00::1', 'fe80::1']) expect(isInternal(ip)).toBe(true);
    for (const ip of ['198.51.100.7', '172.32.0.1', '2001:db8::1', '127.0.0.30']) expect(isInternal(ip)).toBe(false);
  });
});
