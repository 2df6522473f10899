/**
 * The `outbox` CLI end to end under plain Node, against in-process peers on loopback: a fake
 * DNS server (--dns) and an smtp-server peer (--smtp-port). Covers queueing and the queue
 * commands, identities with DKIM (verified by an independent verifier, dkimpy, against the key
 * the test DNS serves), export, and bad input.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startFakeDns, type FakeDns } from '../../helpers/fake-dns';
import { startSmtpPeer, type SmtpPeer } from '../../helpers/smtp-peer';
import { tmpDir } from '../../helpers/tmp';
import { runCli } from '../../helpers/cli';
import { parseCsvStrict as parseCsv } from '../../unit/export/rfc4180';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
let dns: FakeDns;
let peer: SmtpPeer;
let dir: string;
let cleanup: () => void;

const cli = runCli;
const common = () => ['--data-dir', dir, '--dns', dns.address, '--smtp-port', String(peer.port), '--ehlo', 'cli.outbox.test'];

beforeAll(async () => {
  ({ dir, cleanup } = tmpDir('outbox-cli-'));
  dns = await startFakeDns();
  peer = await startSmtpPeer();
  dns.add('dest.test', 'MX', [{ preference: 10, exchange: 'mx.dest.test' }]);
  dns.add('mx.dest.test', 'A', ['127.0.0.1']);
});
afterAll(async () => {
  await peer.close();
  await dns.close();
  cleanup();
});

test('identity add gives a new identity an RSA-2048 and an Ed25519 key and prints both TXT records; list shows them', async () => {
  const add = await cli(['identity', 'add', '--address', 'me@sender.test', '--name', 'Me Sender', '--selector', 'desk', '--json', ...common()]);
  expect(add.stderr).toBe('');
  expect(add.code).toBe(0);
  const added = JSON.parse(add.stdout);
  expect(added.dkimRecords.map((r: { name: string }) => r.name)).toEqual(['desk-rsa._domainkey.sender.test', 'desk-ed25519._domainkey.sender.test']);
  expect(added.dkimRecords[0].value).toMatch(/^v=DKIM1; k=rsa; p=MII[A-Za-z0-9+/=]{300,}$/);
  expect(added.dkimRecords[1].value).toMatch(/^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/=]{40,}$/);
  const list = JSON.parse((await cli(['identity', 'list', '--json', ...common()])).stdout);
  expect(list.identities).toMatchObject([
    { address: 'me@sender.test', displayName: 'Me Sender', isDefault: true, dkimKeys: [{ algorithm: 'rsa-sha256', selector: 'desk-rsa' }, { algorithm: 'ed25519-sha256', selector: 'desk-ed25519' }] },
  ]);
  expect(JSON.stringify(list)).not.toContain('PRIVATE');
  const rec = await cli(['identity', 'dkim-record', String(added.id), ...common()]);
  expect(rec.stdout).toContain('desk-rsa._domainkey.sender.test TXT "v=DKIM1; k=rsa;');
  expect(rec.stdout).toContain('desk-ed25519._domainkey.sender.test TXT "v=DKIM1; k=ed25519;');

  // Not published yet → check-dns says so (exit 1); one of two published → still 1; both → 0.
  expect((await cli(['identity', 'check-dns', String(added.id), ...common()])).code).toBe(1);
  dns.add(added.dkimRecords[1].name, 'TXT', [added.dkimRecords[1].value]);
  const half = await cli(['identity', 'check-dns', String(added.id), '--json', ...common()]);
  expect(half.code).toBe(1);
  expect(JSON.parse(half.stdout).keys.map((k: { matches: boolean }) => k.matches)).toEqual([false, true]);
  const v = added.dkimRecords[0].value as string;
  dns.add(added.dkimRecords[0].name, 'TXT', [[v.slice(0, 250), v.slice(250)]]);
  const check = await cli(['identity', 'check-dns', String(added.id), '--json', ...common()]);
  expect(JSON.parse(check.stdout)).toMatchObject({ published: true, matches: true });
});

test('identity add refuses a bad address, a bidi control in the name, a bad --dkim or selector (exit 2, nothing stored)', async () => {
  for (const args of [
    ['--address', 'not-an-address'],
    ['--address', 'x@sender.test', '--name', 'Evil \u202egnp.exe'],
    ['--address', 'x@sender.test', '--dkim', 'dsa'],
    ['--address', 'x@sender.test', '--selector', 'a;b'],
  ]) {
    const r = await cli(['identity', 'add', ...args, ...common()]);
    expect(r.code, args.join(' ')).toBe(2);
    expect(r.stderr).toMatch(/^outbox: /);
  }
  const list = JSON.parse((await cli(['identity', 'list', '--json', ...common()])).stdout);
  expect(list.identities.map((i: { address: string }) => i.address)).not.toContain('x@sender.test');
});

/** dkimpy (Debian python3-dkim) and dig (dnsutils): installed by test/peers/install.sh; CI must have them. */
const hasVerifier = (() => {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import dkim, nacl'], { stdio: 'ignore' });
    execFileSync('dig', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

test.skipIf(!hasVerifier && !process.env.CI)('send --wait signs with the identity; dkimpy verifies it against the key served by the test DNS', async () => {
  // Its own data folder and identity: no test depends on another having run.
  const own = tmpDir('outbox-cli-dkim-');
  const mine = () => ['--data-dir', own.dir, '--dns', dns.address, '--smtp-port', String(peer.port), '--ehlo', 'cli.outbox.test'];
  const added = JSON.parse((await cli(['identity', 'add', '--address', 'me@signer.test', '--dkim', 'ed25519', '--selector', 'sig', '--json', ...mine()])).stdout);
  for (const r of added.dkimRecords as { name: string; value: string }[]) dns.add(r.name, 'TXT', r.value.length > 255 ? [[r.value.slice(0, 250), r.value.slice(250)]] : [r.value]);
  const out = await cli(['send', '--from', 'me@signer.test', '--to', 'rcpt@dest.test', '--subject', 'signed', '--text', '-', '--wait', '30', '--json', ...mine()], 'Signed hello.\n');
  own.cleanup();
  expect(out.stderr).toBe('');
  expect(out.code).toBe(0);
  const sent = JSON.parse(out.stdout);
  expect(sent.recipients[0]).toMatchObject({ address: 'rcpt@dest.test', status: 'delivered', code: 250, host: 'mx.dest.test', attempts: 1 });
  const body = peer.messages.at(-1)!.body;
  expect(body.toString()).toMatch(/^DKIM-Signature: .*a=ed25519-sha256/m);
  const file = path.join(dir, 'received.eml');
  fs.writeFileSync(file, body);
  // dkimpy (Debian python3-dkim) with a DNS function that asks the test DNS through dig.
  const script = `
import dkim, re, subprocess, sys
def dnsfunc(name, timeout=5):
    out = subprocess.run(['dig', '@127.0.0.1', '-p', '${dns.port}', '+short', 'TXT', name.decode().rstrip('.')], capture_output=True, text=True).stdout
    return ''.join(re.findall(r'"((?:[^"\\\\]|\\\\.)*)"', out)).encode()
print(dkim.verify(open(sys.argv[1], 'rb').read(), dnsfunc=dnsfunc))
`;
  // Async: the test DNS answers from this very process, so its event loop must stay free.
  const { stdout } = await promisify(execFile)('/usr/bin/python3', ['-c', script, file]);
  expect(stdout.trim()).toBe('True');
});

test('queue, hold, resume, cancel and run --once drive the same queue', async () => {
  const queued = await cli(['send', '--from', 'me@sender.test', '--to', 'a@dest.test', '--to', 'b@dest.test', '--subject', 'later', '--json', ...common()]);
  expect(queued.code).toBe(0);
  const { messageId } = JSON.parse(queued.stdout);
  let q = JSON.parse((await cli(['queue', '--json', ...common()])).stdout);
  expect(q.messages.find((m: { id: string }) => m.id === messageId).recipients.map((r: { state: string }) => r.state)).toEqual(['queued', 'queued']);

  expect(JSON.parse((await cli(['hold', messageId, '--json', ...common()])).stdout).changed).toHaveLength(2);
  expect(JSON.parse((await cli(['resume', messageId, '--recipient', 'a@dest.test', '--json', ...common()])).stdout).changed).toHaveLength(1);
  expect((await cli(['cancel', messageId, '--recipient', 'b@dest.test', ...common()])).code).toBe(0);
  const before = peer.messages.length;
  expect((await cli(['run', '--once', ...common()])).code).toBe(0);
  q = JSON.parse((await cli(['queue', '--json', ...common()])).stdout);
  expect(q.messages.find((m: { id: string }) => m.id === messageId).recipients.map((r: { state: string }) => r.state)).toEqual(['delivered', 'canceled']);
  expect(peer.messages.length).toBe(before + 1);
  expect(peer.messages.at(-1)!.rcptTo).toEqual(['a@dest.test']);
});

test('send --eml queues a ready-made message unchanged, with the envelope from the flags', async () => {
  const eml = path.join(dir, 'ready.eml');
  fs.writeFileSync(eml, 'From: me@sender.test\r\nTo: x@dest.test\r\nSubject: ready made\r\nMessage-ID: <ready@sender.test>\r\n\r\nBody as is.\r\n');
  const out = await cli(['send', '--eml', eml, '--from', 'me@sender.test', '--to', 'x@dest.test', '--wait', '--json', ...common()]);
  expect(out.code).toBe(0);
  expect(peer.messages.at(-1)!.body.toString()).toBe(fs.readFileSync(eml, 'utf8'));
});

test('export: CSV parses back with one row per attempt result; --eml returns the stored bytes', async () => {
  // Its own deliveries: the export does not depend on other tests having sent something.
  for (const to of ['e1@dest.test', 'e2@dest.test']) expect((await cli(['send', '--from', 'me@sender.test', '--to', to, '--subject', 'exported', '--wait', '30', ...common()])).code).toBe(0);
  const csvFile = path.join(dir, 'log.csv');
  const out = await cli(['export', '--format', 'csv', '--out', csvFile, ...common()]);
  expect(out.code).toBe(0);
  const rows = parseCsv(fs.readFileSync(csvFile, 'utf8'));
  const header = rows[0]!;
  expect(header).toEqual(expect.arrayContaining(['message_id', 'recipient', 'status', 'host', 'ip', 'tls_version', 'verification', 'code', 'enhanced_code', 'reply', 'plaintext_fallback']));
  const recipient = header.indexOf('recipient');
  expect(rows.slice(1).map((r) => r[recipient])).toEqual(expect.arrayContaining(['e1@dest.test', 'e2@dest.test']));
  const nd = await cli(['export', '--format', 'ndjson', ...common()]);
  const lines = nd.stdout.trim().split('\n').map((l) => JSON.parse(l));
  expect(lines.every((l) => Array.isArray(l.transcript))).toBe(true);

  const q = JSON.parse((await cli(['queue', '--json', ...common()])).stdout);
  const id = q.messages[0].id;
  const eml = await cli(['export', '--eml', id, ...common()]);
  expect(eml.stdout).toBe(fs.readFileSync(path.join(dir, 'messages', `${id}.eml`), 'utf8'));
});

test('arguments that are not UTF-8 are refused (exit 2), not sent with U+FFFD in them', async () => {
  const fresh = tmpDir('outbox-cli-latin1-');
  try {
    // A Latin-1 "café" (0xE9) from the shell, as an old script would pass it.
    const child = spawn('/bin/sh', ['-c', `exec "$0" "$1" send --from me@sender.test --to a@dest.test --subject "$(printf 'caf\\351')" --data-dir "$2" --dns "$3"`, process.execPath, path.join(root, 'bin/outbox.mjs'), fresh.dir, dns.address]);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
    expect(code).toBe(2);
    expect(stderr).toMatch(/^outbox: argument 7 is not valid UTF-8/);
    expect(fs.existsSync(path.join(fresh.dir, 'messages')) ? fs.readdirSync(path.join(fresh.dir, 'messages')) : []).toEqual([]);
  } finally {
    fresh.cleanup();
  }
});

test('a subject of 998 characters is folded (RFC 5322 §2.2.3) and sent, not refused', async () => {
  const fresh = tmpDir('outbox-cli-long-subject-');
  try {
    // One word too long to fold at whitespace (a pasted token): before this, "line of 999 characters".
    const subject = 'x'.repeat(998);
    expect(subject).toHaveLength(998);
    const before = peer.messages.length;
    const out = await cli(['send', '--from', 'me@sender.test', '--to', 'long@dest.test', '--subject', subject, '--wait', '30', '--json', '--data-dir', fresh.dir, '--dns', dns.address, '--smtp-port', String(peer.port), '--ehlo', 'cli.outbox.test']);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout).recipients).toMatchObject([{ address: 'long@dest.test', status: 'delivered' }]);
    const got = peer.messages.slice(before).find((m) => m.rcptTo.includes('long@dest.test'))!;
    const raw = got.body.toString('utf8');
    const header = raw.slice(0, raw.indexOf('\r\n\r\n'));
    // Folded: every header line is within the §2.1.1 limit, and the Subject reads back whole.
    expect(Math.max(...header.split('\r\n').map((l) => l.length))).toBeLessThanOrEqual(998);
    expect(header.split('\r\n').filter((l) => /^Subject:|^[ \t]/.test(l)).length).toBeGreaterThan(1);
    expect((await simpleParser(raw)).subject).toBe(subject);
  } finally {
    fresh.cleanup();
  }
});

test('send --html sends rich text as multipart/alternative through the core: the HTML sanitised, the text part generated from it', async () => {
  const file = path.join(dir, 'rich.html');
  fs.writeFileSync(file, '<p>Hello <b>Bob</b>, see <a href="https://example.org/notes">the notes</a>.</p><script>alert(1)</script><p onclick="steal()">Bye</p>\n');
  const before = peer.messages.length;
  const out = await cli(['send', '--from', 'me@sender.test', '--to', 'rich@dest.test', '--subject', 'rich', '--html', file, '--wait', '30', '--json', ...common()]);
  expect(out.stderr).toBe('');
  expect(out.code).toBe(0);
  const { messageId } = JSON.parse(out.stdout);
  const got = peer.messages.slice(before).find((m) => m.rcptTo.includes('rich@dest.test'))!;
  const stored = fs.readFileSync(path.join(dir, 'messages', `${messageId}.eml`));
  for (const raw of [got.body, stored]) {
    const mail = await simpleParser(raw);
    expect(mail.headers.get('content-type')).toMatchObject({ value: 'multipart/alternative' });
    expect(mail.html).toContain('<p>Hello <b>Bob</b>, see <a href="https://example.org/notes">the notes</a>.</p>');
    expect(mail.html).not.toMatch(/script|alert|onclick|steal/);
    expect(mail.text).toMatch(/^Hello Bob, see the notes \[https:\/\/example\.org\/notes\]\.\n\nBye/);
  }
});

test('send --html refuses what it cannot send as written (exit 2, nothing queued): no file, not UTF-8, empty, nothing left after sanitising, with --text or --eml', async () => {
  const fresh = tmpDir('outbox-cli-html-bad-');
  try {
    const f = (name: string, data: string | Buffer) => (fs.writeFileSync(path.join(fresh.dir, name), data), path.join(fresh.dir, name));
    const cases: [string[], RegExp][] = [
      [['--html', path.join(fresh.dir, 'missing.html')], /^outbox: --html: .*ENOENT/],
      [['--html', f('latin1.html', Buffer.from('<p>caf\xe9</p>', 'latin1'))], /^outbox: --html: .* is not valid UTF-8/],
      [['--html', f('empty.html', ' \n')], /^outbox: --html: .* is empty/],
      [['--html', f('script.html', '<script>alert(1)</script><style>p{}</style>')], /^outbox: --html: .* has nothing left to send once sanitised/],
      [['--html', f('ok.html', '<p>x</p>'), '--text', f('ok.txt', 'x')], /^outbox: --html and --text exclude each other/],
      [['--html', path.join(fresh.dir, 'ok.html'), '--eml', f('ok.eml', 'Subject: x\r\n\r\nx\r\n')], /^outbox: --html and --eml exclude each other/],
    ];
    for (const [extra, message] of cases) {
      const out = await cli(['send', '--from', 'me@sender.test', '--to', 'a@dest.test', ...extra, '--data-dir', path.join(fresh.dir, 'data'), '--dns', dns.address]);
      expect(out.stderr, extra.join(' ')).toMatch(message);
      expect(out.code).toBe(2);
      expect(out.stderr.trim().split('\n')).toHaveLength(1);
    }
    const q = await cli(['queue', '--json', '--data-dir', path.join(fresh.dir, 'data')]);
    expect(JSON.parse(q.stdout).messages).toEqual([]);
  } finally {
    fresh.cleanup();
  }
});

test.each([
  [['send', '--to', 'a@dest.test'], /--from is required/],
  [['send', '--from', 'me@sender.test'], /at least one --to/],
  [['send', '--from', 'me@sender.test', '--to', 'a@dest.test', '--require-tls', '--tls-optional'], /exclude each other/],
  [['send', '--from', 'me@sender.test', '--to', 'a@dest.test\r\nBcc: x@y.test'], /^outbox: to/],
  [['send', '--from', 'me@sender.test', '--to', 'a@dest.test', '--attach', '/nonexistent/file.pdf'], /attachments/],
  [['send', '--from', 'me@sender.test', '--to', 'a@dest.test', '--bogus'], /Unknown option/],
  [['send', '--from', 'me@sender.test', '--to', 'a@dest.test', '--dns', '127.0.0.1#5353'], /^outbox: --dns 127\.0\.0\.1#5353: must be an IP address/],
  [['send', '--from', 'me@sender.test', '--to', 'a@dest.test', '--ehlo', 'bad host!'], /^outbox: --ehlo: must be a host name/],
  [['send', '--from', 'me@sender.test', '--to', 'a@dest.test', '--subject', 'Invoice \u202efdp.exe'], /^outbox: subject: subject contains a bidirectional control character/],
  [['send', '--from', 'Eve\u2066 <me@sender.test>', '--to', 'a@dest.test'], /^outbox: from/],
  [['send', '--from', 'me@sender.test', '--to', 'a@dest.test', '--subject', 'line\u2028break'], /^outbox: subject: subject contains a line break or control character/],
  [['identity', 'add', '--address', 'me@sender.test', '--name', 'Me\u202eSender'], /bidirectional control character/],
  [['identity', 'add', '--address', 'me@sender.test', '--name', 'Me\u0085Sender'], /control character/],
  [['hold', 'no-such-id'], /no message/],
  [['export', '--format', 'xlsx'], /--format/],
  [['frobnicate'], /unknown command/],
])('bad input %j → exit 2, one line on stderr, nothing queued', async (args, message) => {
  const fresh = tmpDir('outbox-cli-bad-');
  try {
    const out = await cli([...args, '--data-dir', fresh.dir, '--dns', dns.address]);
    expect(out.code).toBe(2);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(out.stderr).toMatch(message);
    const q = await cli(['queue', '--json', '--data-dir', fresh.dir]);
    expect(JSON.parse(q.stdout).messages).toEqual([]);
  } finally {
    fresh.cleanup();
  }
});
