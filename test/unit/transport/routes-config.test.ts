import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { familyAllows, familyDialer } from '../../../src-main/core/net/ip-family';
import { parseProxy } from '../../../src-main/core/net/socks';
import { Store } from '../../../src-main/core/store/store';
import { TransportsRepo } from '../../../src-main/core/store/transports-repo';
import { normalizeTransport } from '../../../src-main/core/transport/config';
import { domainMatches, normalizeRoute, pickRoute } from '../../../src-main/core/sending/routes';
import { SecretStore, type SecretCipher } from '../../../src-main/core/sending/secrets';
import { TransportService } from '../../../src-main/core/sending/service';
import type { Route } from '../../../shared/transport';
import { tmpDir } from '../../helpers/tmp';

const route = (id: number, over: Partial<Route>): Route => ({ id, position: id, transport: 't', recipientDomain: null, sender: null, fromAttempt: null, ...over });

describe('routes (first match wins, evaluated per attempt)', () => {
  const routes = [
    route(1, { transport: 'relay', recipientDomain: 'example.com', fromAttempt: 2 }),
    route(2, { transport: 'socks', sender: 'me@mine.example' }),
    route(3, { transport: 'corp', sender: 'corp.example' }),
  ];
  const q = (recipientDomain: string, mailFrom: string, attempt: number) => pickRoute(routes, { recipientDomain, mailFrom, attempt })?.transport ?? 'direct';

  it('matches the recipient domain and its subdomains, label-wise', () => {
    expect(domainMatches('example.com', 'example.com')).toBe(true);
    expect(domainMatches('mail.Example.COM', 'example.com')).toBe(true);
    expect(domainMatches('badexample.com', 'example.com')).toBe(false);
    expect(q('sub.example.com', 'x@y.example', 2)).toBe('relay');
  });
  it('"from attempt N" switches the transport on the retry', () => {
    expect(q('example.com', 'x@y.example', 1)).toBe('direct');
    expect(q('example.com', 'x@y.example', 2)).toBe('relay');
    expect(q('example.com', 'x@y.example', 7)).toBe('relay');
  });
  it('matches a sender address exactly (local part case-sensitive) or a sender domain with subdomains', () => {
    expect(q('a.example', 'me@MINE.example', 1)).toBe('socks');
    expect(q('a.example', 'Me@mine.example', 1)).toBe('direct');
    expect(q('a.example', 'bob@eu.corp.example', 1)).toBe('corp');
    expect(q('a.example', '', 1)).toBe('direct'); // null sender
  });
  it('the first match in list order wins; no match is direct', () => {
    expect(q('example.com', 'me@mine.example', 1)).toBe('socks');
    expect(q('example.com', 'me@mine.example', 3)).toBe('relay');
    const reordered = [{ ...routes[0]!, position: 9 }, routes[1]!];
    expect(pickRoute(reordered, { recipientDomain: 'example.com', mailFrom: 'me@mine.example', attempt: 3 })?.transport).toBe('socks');
    expect(q('other.example', 'x@y.example', 5)).toBe('direct');
  });
  it('normalizes domains to A-labels and refuses bad input', () => {
    expect(normalizeRoute({ transport: 'relay', recipientDomain: 'Bücher.Example' }, ['relay'])).toMatchObject({ ok: true, value: { recipientDomain: 'xn--bcher-kva.example' } });
    expect(normalizeRoute({ transport: 'relay', sender: 'Me@Bücher.example' }, ['relay'])).toMatchObject({ ok: true, value: { sender: 'Me@xn--bcher-kva.example' } });
    expect(normalizeRoute({ transport: 'nope' }, ['relay'])).toMatchObject({ ok: false, errors: [{ field: 'transport' }] });
    expect(normalizeRoute({ transport: 'relay', recipientDomain: 'a b' }, ['relay'])).toMatchObject({ ok: false });
    expect(normalizeRoute({ transport: 'relay', fromAttempt: 0 }, ['relay'])).toMatchObject({ ok: false });
    expect(normalizeRoute({ transport: 'relay', sender: 'x@y\r\nRCPT' }, ['relay'])).toMatchObject({ ok: false });
  });
});

describe('transport validation', () => {
  it('applies the defaults of RFC 6409 and RFC 8314', () => {
    expect(normalizeTransport({ name: 's', type: 'submission', host: 'Smtp.Example.com.', user: 'u' }, { hasPassword: true })).toMatchObject({ ok: true, value: { host: 'smtp.example.com', port: 587, tls: 'starttls', tlsVerify: 'pkix' } });
    expect(normalizeTransport({ name: 's', type: 'submission', host: 'h.example', user: 'u', tls: 'implicit' }, { hasPassword: true })).toMatchObject({ ok: true, value: { port: 465 } });
    expect(normalizeTransport({ name: 's', type: 'submission', host: 'h.example', user: 'u', port: 465 }, { hasPassword: true })).toMatchObject({ ok: true, value: { tls: 'implicit' } });
    expect(normalizeTransport({ name: 'r', type: 'smarthost', host: 'h.example' }, { hasPassword: false })).toMatchObject({ ok: true, value: { port: 25, tls: 'starttls' } });
  });
  it('refuses what does not belong to the type', () => {
    const bad = (input: object, hasPassword = false) => normalizeTransport({ name: 'x', ...input }, { hasPassword });
    expect(bad({ type: 'submission', host: 'h.example' })).toMatchObject({ ok: false });
    expect(bad({ type: 'submission', user: 'u' }, true)).toMatchObject({ ok: false, errors: [{ field: 'host' }] });
    expect(bad({ type: 'smarthost', host: 'h.example', user: 'u' }, true)).toMatchObject({ ok: false });
    expect(bad({ type: 'direct', host: 'h.example' })).toMatchObject({ ok: false });
    expect(bad({ type: 'direct-socks5' })).toMatchObject({ ok: false, errors: [{ field: 'proxy' }] });
    expect(bad({ type: 'direct-socks5', proxy: 'nohost' })).toMatchObject({ ok: false });
    expect(bad({ type: 'direct-socks5', proxy: '127.0.0.1:1080', user: 'u' })).toMatchObject({ ok: false, errors: [{ field: 'password' }] });
    expect(bad({ type: 'submission', host: 'h\r\nx', user: 'u' }, true)).toMatchObject({ ok: false });
    expect(bad({ type: 'submission', host: 'h.example', user: 'u', auth: 'xoauth2' }, true)).toMatchObject({ ok: false });
    expect(normalizeTransport({ name: '-bad name', type: 'direct' }, { hasPassword: false })).toMatchObject({ ok: false });
  });
  it('parses proxies', () => {
    expect(parseProxy('127.0.0.1:1080')).toEqual({ host: '127.0.0.1', port: 1080 });
    expect(parseProxy('[::1]:1080')).toEqual({ host: '::1', port: 1080 });
    expect(parseProxy('proxy.example:99999')).toBeNull();
  });
});

describe('IP family', () => {
  it('decides per address, and the dialer never dials the other family', async () => {
    expect(familyAllows('ipv4', '127.0.0.1')).toBe(true);
    expect(familyAllows('ipv4', '::1')).toBe(false);
    expect(familyAllows('ipv6', '::1')).toBe(true);
    expect(familyAllows('both', 'not-an-ip')).toBe(false);
    const dialed: string[] = [];
    const d = familyDialer('ipv4', async (o) => (dialed.push(o.ip), null as never));
    await expect(d({ ip: '2001:db8::1', port: 25, timeoutMs: 10 })).rejects.toMatchObject({ code: 'CONNECT_FAILED' });
    await d({ ip: '192.0.2.1', port: 25, timeoutMs: 10 });
    expect(dialed).toEqual(['192.0.2.1']);
  });
});

describe('secrets and the transport service', () => {
  let cleanup: () => void = () => {};
  afterEach(() => cleanup());
  const PW = 'hunter2-keychain-secret';
  // A stand-in for safeStorage: reversible, and the plain text is not in the blob.
  const cipher: SecretCipher = { isAvailable: () => true, encrypt: (s) => Buffer.from(Buffer.from(s).map((b) => b ^ 0x5a)), decrypt: (b) => Buffer.from(b.map((x) => x ^ 0x5a)).toString() };

  function open(c: SecretCipher | null, env: NodeJS.ProcessEnv = {}) {
    const t = tmpDir('outbox-transport-');
    cleanup = t.cleanup;
    const store = Store.open(t.dir);
    const repo = new TransportsRepo(store);
    const secrets = new SecretStore(repo, c, env);
    const svc = new TransportService(repo, secrets, () => { throw new Error('no engine in this test'); }, () => 1);
    return { store, repo, secrets, svc, dir: t.dir };
  }

  it('keychain passwords are stored encrypted, resolved on demand and never listed', () => {
    const { store, repo, secrets, svc, dir } = open(cipher);
    const r = svc.save({ name: 'relay', type: 'submission', host: 'h.example', user: 'u' }, { kind: 'value', value: PW });
    expect(r).toMatchObject({ ok: true, value: { hasPassword: true, passwordSource: 'keychain' } });
    expect(JSON.stringify(svc.list())).not.toContain(PW);
    const ref = repo.get('relay')!.secretRef!;
    expect(secrets.resolve(ref)).toBe(PW);
    store.close();
    expect(fs.readFileSync(path.join(dir, 'outbox.sqlite3')).includes(Buffer.from(PW))).toBe(false);
  });
  it('replacing a password releases the old blob; removing the transport releases its blob', () => {
    const { repo, svc, store } = open(cipher);
    svc.save({ name: 'relay', type: 'submission', host: 'h.example', user: 'u' }, { kind: 'value', value: PW });
    svc.save({ name: 'relay', type: 'submission', host: 'h.example', user: 'u' }, { kind: 'value', value: 'other' });
    expect((store.db.prepare('SELECT count(*) AS n FROM secrets').get() as { n: number }).n).toBe(1);
    // Saving without a password keeps the stored one.
    expect(svc.save({ name: 'relay', type: 'submission', host: 'h2.example', user: 'u' }, undefined)).toMatchObject({ ok: true, value: { host: 'h2.example', hasPassword: true } });
    expect(svc.remove('relay').ok).toBe(true);
    expect(repo.get('relay')).toBeUndefined();
    expect((store.db.prepare('SELECT count(*) AS n FROM secrets').get() as { n: number }).n).toBe(0);
  });
  it('without a keychain (the CLI) a password value is refused; env and 0600 files work, errors never hold the value', () => {
    const { secrets, svc, dir } = open(null, { PW_VAR: PW });
    expect(svc.save({ name: 'r', type: 'submission', host: 'h.example', user: 'u' }, { kind: 'value', value: PW })).toMatchObject({ ok: false, errors: [{ field: 'password', message: expect.stringMatching(/keychain/) }] });
    expect(svc.save({ name: 'r', type: 'submission', host: 'h.example', user: 'u' }, { kind: 'env', name: 'PW_VAR' })).toMatchObject({ ok: true, value: { passwordSource: 'env' } });
    expect(svc.save({ name: 'r2', type: 'submission', host: 'h.example', user: 'u' }, { kind: 'env', name: 'UNSET_VAR' })).toMatchObject({ ok: false });
    const f = path.join(dir, 'pw');
    fs.writeFileSync(f, `${PW}\n`, { mode: 0o644 });
    const loose = svc.save({ name: 'r3', type: 'submission', host: 'h.example', user: 'u' }, { kind: 'file', path: f });
    expect(loose).toMatchObject({ ok: false, errors: [{ message: expect.stringMatching(/chmod 600/) }] });
    expect(JSON.stringify(loose)).not.toContain(PW);
    fs.chmodSync(f, 0o600);
    expect(svc.save({ name: 'r3', type: 'submission', host: 'h.example', user: 'u' }, { kind: 'file', path: f }).ok).toBe(true);
    expect(secrets.resolve(`file:${f}`)).toBe(PW);
    expect(() => secrets.resolve('keychain:nope')).toThrow(/missing/);
  });
  it('match: which transport the attempts to each domain take, and from which attempt port 25 is avoided', () => {
    const { svc } = open(cipher);
    svc.save({ name: 'relay', type: 'smarthost', host: 'r.example' }, null);
    svc.save({ name: 'v4', type: 'direct', ipFamily: 'ipv4' }, null);
    svc.addRoute({ transport: 'v4', recipientDomain: 'v4.example' });
    svc.addRoute({ transport: 'relay', recipientDomain: 'late.example', fromAttempt: 3 });
    svc.addRoute({ transport: 'relay', sender: 'corp.example' });
    expect(svc.match('me@home.example', ['v4.example', 'late.example', 'other.example'])).toEqual([
      { domain: 'v4.example', transport: 'v4', type: 'direct', route: 1, avoidsPort25From: null },
      { domain: 'late.example', transport: 'direct', type: 'direct', route: null, avoidsPort25From: 3 },
      { domain: 'other.example', transport: 'direct', type: 'direct', route: null, avoidsPort25From: null },
    ]);
    expect(svc.match('boss@corp.example', ['other.example'])[0]).toMatchObject({ transport: 'relay', type: 'smarthost', route: 3, avoidsPort25From: 1 });
  });
  it('routes keep creation order, move before another, and protect the transports they use', () => {
    const { svc } = open(cipher);
    svc.save({ name: 'a', type: 'smarthost', host: 'a.example' }, null);
    const r1 = svc.addRoute({ transport: 'a', recipientDomain: 'x.example' });
    const r2 = svc.addRoute({ transport: 'direct', fromAttempt: 3 });
    const r3 = svc.addRoute({ transport: 'a' });
    if (!r1.ok || !r2.ok || !r3.ok) throw new Error('routes');
    expect(svc.routes().map((r) => r.id)).toEqual([r1.value.id, r2.value.id, r3.value.id]);
    expect(svc.moveRoute(r3.value.id, r1.value.id)).toMatchObject({ ok: true });
    expect(svc.routes().map((r) => [r.id, r.position])).toEqual([[r3.value.id, 0], [r1.value.id, 1], [r2.value.id, 2]]);
    expect(svc.moveRoute(99, r1.value.id).ok).toBe(false);
    expect(svc.remove('a')).toMatchObject({ ok: false, errors: [{ message: expect.stringMatching(/used by routes/) }] });
    expect(svc.remove('direct').ok).toBe(false);
    // The built-in direct transport: only its IP family can be set; it stays direct delivery.
    expect(svc.save({ name: 'direct', type: 'smarthost', host: 'relay.test' }, null).ok).toBe(false);
    expect(svc.save({ name: 'direct', type: 'direct', ipFamily: 'ipv6' }, null)).toMatchObject({ ok: true, value: { name: 'direct', builtin: true, ipFamily: 'ipv6' } });
    expect(svc.list().filter((t) => t.name === 'direct')).toHaveLength(1);
    expect(svc.remove('direct').ok).toBe(false);
    expect(svc.removeRoute(r1.value.id).ok).toBe(true);
    expect(svc.removeRoute(r1.value.id).ok).toBe(false);
  });
});
