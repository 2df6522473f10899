/**
 * `outbox` — the core without the desktop: send, run the queue, inspect and act on it, export
 * the delivery log, probe a domain, manage identities. Same Outbox object as the app.
 *
 * Exit codes: 0 success (send --wait: every recipient delivered), 1 a recipient failed or was
 * deferred, 2 bad input (one line on stderr; nothing queued).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { describeReply, type Attempt, type DkimAlgorithm, type DkimKey, type LocalDraft, type MessageDetail, type TlsMode } from '../shared/domain';
import { exportAttempts, exportMessageEml } from './core/export/export';
import { checkDns, createIdentity, DEFAULT_DKIM_ALGORITHMS, dkimRecords, getIdentity, IdentityError, publicIdentity } from './core/identities';
import { Outbox, type NetworkOptions } from './core/outbox';
import { dnsServerProblem, hostNameProblem } from '../shared/settings';
import type { QueueAction } from './core/queue/queue';
import { QueueFeatureError } from './core/queue-features';
import { DeliveryError } from './core/errors';
import { parseMyIpQuery, parsePort25Target, parseZone, type ReadinessTargets } from './core/readiness/targets';
import { utcDay } from './core/reports/report';
import { cmdRoute, cmdTransport, TRANSPORT_USAGE, type CliContext } from './cli-transport';

class UsageError extends Error {}

const COMMON = {
  'data-dir': { type: 'string' },
  dns: { type: 'string', multiple: true },
  'smtp-port': { type: 'string' },
  'https-port': { type: 'string' },
  'ca-file': { type: 'string' },
  ehlo: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const USAGE = `usage: outbox <command> [options]
  send     --from ADDR --to ADDR [--to ADDR ...] [--cc ADDR ...] [--bcc ADDR ...] [--subject TEXT]
           [--text FILE|- | --html FILE|-] [--attach FILE ...] [--eml FILE] [--require-tls | --tls-optional] [--wait [SECONDS]]
  run      [--once] [--no-tls-reports]  run the queue (until interrupted, or until nothing is due);
                                    sends the daily TLS reports (RFC 8460) unless --no-tls-reports
  queue                             list messages and recipient states
  hold|resume|retry|cancel ID [--recipient ADDR]
  tls-mode ID default|require|optional   change the TLS mode of a queued or failed message
  recover                           re-queue the queued files of a lost or damaged database
  export   --format csv|json|ndjson [--since ISO] [--until ISO] [--out FILE] | --eml ID [--out FILE] | --dsn ID [--out FILE]
  probe    DOMAIN                   MX, MTA-STS, DANE and STARTTLS/REQUIRETLS per host, without sending
  identity add --address ADDR [--name NAME] [--dkim both|rsa|ed25519|none] [--selector SEL] | list | dkim-record ID | check-dns ID
                                    (default: an RSA and an Ed25519 key, both signing: RFC 8463)
  suppression list | add ADDR [--reason TEXT] [--identity ID] | remove ADDR
  hold-rule add [--sender ADDR|DOMAIN] [--recipient ADDR|DOMAIN] | list | remove ID   (no criteria: everything)
  pause | unpause                   hold everything (kept across restarts) / release it
  tlsrpt build --date YYYY-MM-DD [--json] | send --date YYYY-MM-DD   RFC 8460 reports of that UTC day
  history prune [--older-than DAYS] remove finished messages older than DAYS (default: the setting, 90)
  doctor   [--from ADDR] [--port25-target HOST[:PORT] ...] [--myip-query NAME[@SERVER]] [--dnsbl ZONE ...]
           [--dnssec-signed NAME] [--dnssec-bogus NAME] [--timeout SECONDS]
                                    readiness: port 25, public IP, PTR, block lists, SPF, DMARC, DKIM, MX, DNSSEC, IPv6
${TRANSPORT_USAGE}
common: --data-dir DIR --dns HOST[:PORT] (repeatable) --smtp-port N --https-port N --ca-file FILE --ehlo NAME --json`;

function defaultDataDir(): string {
  const home = os.homedir();
  if (process.platform === 'darwin') return path.join(home, 'Library', 'Application Support', 'Direct Outbox');
  if (process.platform === 'win32') return path.join(process.env.APPDATA ?? home, 'Direct Outbox');
  return path.join(process.env.XDG_CONFIG_HOME ?? path.join(home, '.config'), 'Direct Outbox');
}

function int(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 65535) throw new UsageError(`--${name} must be a port number`);
  return Number(v);
}

function openCore(values: Record<string, unknown>, extra: NetworkOptions = {}): Outbox {
  const network: NetworkOptions = { ...extra };
  const dns = values.dns as string[] | undefined;
  if (dns?.length) {
    // The same rule as the DNS servers setting (shared/settings.ts).
    for (const d of dns) {
      const problem = dnsServerProblem(d);
      if (problem) throw new UsageError(`--dns ${d}: ${problem}`);
    }
    network.dnsServers = dns;
  }
  const smtpPort = int(values['smtp-port'] as string | undefined, 'smtp-port');
  if (smtpPort) network.smtpPort = smtpPort;
  const httpsPort = int(values['https-port'] as string | undefined, 'https-port');
  if (httpsPort) network.httpsPort = httpsPort;
  if (values['ca-file']) {
    try {
      network.extraCa = [fs.readFileSync(values['ca-file'] as string, 'utf8')];
    } catch (e) {
      throw new UsageError(`--ca-file: ${(e as Error).message}`);
    }
  }
  if (values.ehlo !== undefined) {
    const problem = hostNameProblem(values.ehlo as string);
    if (problem) throw new UsageError(`--ehlo: ${problem}`);
    network.ehloName = values.ehlo as string;
  }
  const core = new Outbox({ dataDir: (values['data-dir'] as string | undefined) ?? defaultDataDir(), network, version: '0.1.0' });
  for (const notice of core.startupNotices) console.error(`outbox: warning: ${notice}`);
  return core;
}

function parse<O extends ParseArgsConfig['options']>(args: string[], options: O) {
  try {
    return parseArgs({ args, options: { ...COMMON, ...options }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

async function readBytes(spec: string, flag: string): Promise<Buffer> {
  if (spec === '-') {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }
  try {
    return fs.readFileSync(spec);
  } catch (e) {
    throw new UsageError(`${flag}: ${(e as Error).message}`);
  }
}

async function readText(spec: string | undefined): Promise<string> {
  if (spec === undefined) return '';
  return (await readBytes(spec, '--text')).toString('utf8');
}

/**
 * The HTML of `send --html`: sent like the app's rich text (the core sanitises it and
 * generates the text part, core/compose/body.ts). Refused when it is not UTF-8 (it would go out
 * with U+FFFD in it) or when nothing would be left to send.
 */
async function readHtml(spec: string): Promise<string> {
  const name = spec === '-' ? 'standard input' : spec;
  let html: string;
  try {
    html = new TextDecoder('utf-8', { fatal: true }).decode(await readBytes(spec, '--html'));
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`--html: ${name} is not valid UTF-8`);
  }
  if (html.trim() === '') throw new UsageError(`--html: ${name} is empty`);
  const { messageBody } = await import('./core/compose/body');
  if ((await messageBody({ text: '', html })).html === undefined) {
    throw new UsageError(`--html: ${name} has nothing left to send once sanitised (scripts, styles and event handlers are removed)`);
  }
  return html;
}

/** The per-recipient summary `send --wait --json` prints (issue "Delivery engine" §4). */
function recipientReport(m: MessageDetail) {
  return m.recipients.map((r) => {
    const attempts = m.attempts.filter((a) => a.results.some((x) => x.recipientId === r.id));
    const last: Attempt | undefined = attempts[attempts.length - 1];
    const lastResult = last?.results.find((x) => x.recipientId === r.id);
    const status = r.state === 'delivered' ? 'delivered' : r.state === 'failed' || r.state === 'canceled' ? 'failed' : 'deferred';
    return {
      address: r.address,
      status,
      code: lastResult?.code ?? r.lastCode,
      enhancedCode: lastResult?.enhancedCode ?? r.lastEnhanced,
      reply: lastResult?.reply ?? r.lastReply,
      host: last?.host ?? r.lastHost,
      ip: last?.ip ?? null,
      attempts: r.attempts,
      // Rules §13: which transport carried the last attempt, and which route chose it.
      transport: last?.transport ?? 'direct',
      route: last?.routeId ?? null,
      plaintextFallback: last?.plaintextFallback ?? false,
      tls: last
        ? { starttls: last.starttls, version: last.tlsVersion, cipher: last.tlsCipher, verified: last.verification ?? 'none', mtaSts: last.mtaStsMode, dane: last.dane }
        : null,
    };
  });
}

/** Why a send was refused: bad input (exit 2) — or a full disk, which is no input error (exit 1). */
function refusal(errors: { field: string; index?: number | undefined; code: string; message: string }[]): Error {
  if (errors.some((e) => e.code === 'disk-full')) return new Error(errors.find((e) => e.code === 'disk-full')!.message);
  return new UsageError(errors.map((e) => `${e.field}${e.index !== undefined ? `[${e.index}]` : ''}: ${e.message}`).join('; '));
}

async function cmdSend(args: string[]): Promise<number> {
  const { values } = parse(args, {
    from: { type: 'string' },
    to: { type: 'string', multiple: true },
    cc: { type: 'string', multiple: true },
    bcc: { type: 'string', multiple: true },
    subject: { type: 'string' },
    text: { type: 'string' },
    html: { type: 'string' },
    attach: { type: 'string', multiple: true },
    eml: { type: 'string' },
    'require-tls': { type: 'boolean' },
    'tls-optional': { type: 'boolean' },
    wait: { type: 'string' },
  });
  // `--wait` may stand alone: parseArgs needs a value, so accept a following flag as "no value".
  if (values['require-tls'] && values['tls-optional']) throw new UsageError('--require-tls and --tls-optional exclude each other (RFC 8689)');
  if (values.html !== undefined && values.text !== undefined) throw new UsageError('--html and --text exclude each other (the text part is generated from the HTML)');
  if (values.html !== undefined && values.eml !== undefined) throw new UsageError('--html and --eml exclude each other');
  if (!values.from) throw new UsageError('--from is required');
  const to = values.to ?? [];
  const cc = values.cc ?? [];
  const bcc = values.bcc ?? [];
  if (to.length + cc.length + bcc.length === 0) throw new UsageError('at least one --to, --cc or --bcc is required');
  const tlsMode: TlsMode = values['require-tls'] ? 'requiretls' : values['tls-optional'] ? 'tls-optional' : 'default';
  const waitSeconds = values.wait === undefined ? null : values.wait === '' ? Infinity : Number(values.wait);
  if (waitSeconds !== null && !(waitSeconds > 0)) throw new UsageError('--wait takes a number of seconds');

  const core = openCore(values);
  try {
    let messageId: string;
    if (values.eml) {
      const { submitRaw } = await import('./core/submit-raw');
      const r = await submitRaw(values.eml, { from: values.from, to: [...to, ...cc, ...bcc], tlsMode }, { store: core.store, clock: core.clock });
      if (!r.ok) throw refusal(r.errors);
      messageId = r.messageId;
    } else {
      const draft: LocalDraft = {
        from: values.from,
        to,
        cc,
        bcc,
        subject: values.subject ?? '',
        // Rich text goes the app's way: the HTML with an empty text, which the core replaces
        // with the text part it generates from the sanitised HTML.
        ...(values.html !== undefined ? { text: '', html: await readHtml(values.html) } : { text: await readText(values.text) }),
        attachments: (values.attach ?? []).map((p) => ({ path: path.resolve(p) })),
        tlsMode,
      };
      const r = await core.submit(draft);
      if (!r.ok) throw refusal(r.errors);
      messageId = r.messageId;
    }
    if (waitSeconds === null) {
      print(values.json, { messageId, queued: true }, `queued ${messageId}`);
      return 0;
    }
    // Deliver this message now: first attempt for every recipient, then report.
    core.queue.onlyMessage(messageId);
    core.queue.start();
    const deadline = Date.now() + (Number.isFinite(waitSeconds) ? waitSeconds * 1000 : 24 * 3600_000);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([core.queue.firstAttemptsDone(messageId), new Promise((r) => (timer = setTimeout(r, Math.max(0, deadline - Date.now()))))]);
    clearTimeout(timer);
    // The deadline holds: deliveries still on the wire are interrupted and recorded as deferred.
    await core.queue.stop({ abort: true });
    const m = core.store.getMessage(messageId)!;
    const recipients = recipientReport(m);
    if (values.json) process.stdout.write(`${JSON.stringify({ messageId, recipients })}\n`);
    else for (const r of recipients) console.log(`${r.status.padEnd(9)} ${r.address}  ${describeReply(r)}${r.host ? `  (${r.host})` : ''}`);
    return recipients.every((r) => r.status === 'delivered') ? 0 : 1;
  } finally {
    await core.close();
  }
}

async function cmdRun(args: string[]): Promise<number> {
  const { values } = parse(args, { once: { type: 'boolean' }, 'no-tls-reports': { type: 'boolean' } });
  const core = openCore(values);
  core.queue.start();
  if (values.once) {
    await core.queue.drain();
    const { paused, unwritten } = core.queue;
    await core.close();
    if (paused) {
      console.error(`outbox: disk full: sending paused${unwritten ? ` (${unwritten} delivery result(s) could not be written; they are retried at the next run)` : ''}`);
      return 1;
    }
    return 0;
  }
  core.retention.start(); // history retention in the background (setting historyDays)
  // RFC 8460 reports: on by default for a server-like `run`; off with --no-tls-reports.
  if (!values['no-tls-reports']) core.tlsReports.start();
  console.error(`outbox: running the queue in ${core.dataDir} (Ctrl+C to stop)`);
  // The queue's retry timers do not hold the process open (a CLI command must not linger on
  // them); a runner does, until it is told to stop.
  const keepAlive = setInterval(() => {}, 1 << 30);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  clearInterval(keepAlive);
  await core.close();
  return 0;
}

async function cmdQueue(args: string[]): Promise<number> {
  const { values } = parse(args, {});
  const core = openCore(values);
  try {
    const items = [];
    for (let offset = 0; ; offset += 500) {
      const page = core.store.listMessages({ offset, limit: 500, sort: 'oldest' });
      items.push(...page.items);
      if (items.length >= page.total || page.items.length === 0) break;
    }
    const rules = new Map(core.features.listHoldRules().map((r) => [r.id, { id: r.id, sender: r.sender, recipient: r.recipient }]));
    if (values.json) {
      const messages = items.map((m) => ({ ...m, recipients: m.recipients.map((r) => ({ ...r, holdRule: r.state === 'held' && r.heldByRule !== null ? (rules.get(r.heldByRule) ?? null) : null })) }));
      process.stdout.write(`${JSON.stringify({ paused: core.features.paused, messages })}\n`);
    } else {
      if (core.features.paused) console.log('sending is paused (outbox unpause)');
      for (const m of items) {
        console.log(`${m.id}  ${new Date(m.createdAt).toISOString()}  ${m.subject || '(no subject)'}${m.unencrypted ? '  [UNENCRYPTED]' : ''}`);
        for (const r of m.recipients) {
          const next = r.nextAttemptAt && (r.state === 'deferred' || r.state === 'queued') ? ` next ${new Date(r.nextAttemptAt).toISOString()}` : '';
          const rule = r.state === 'held' && r.heldByRule !== null ? rules.get(r.heldByRule) : undefined;
          const by = rule ? `  by hold rule ${rule.id}${rule.sender ? ` sender ${rule.sender}` : ''}${rule.recipient ? ` recipient ${rule.recipient}` : ''}${!rule.sender && !rule.recipient ? ' (paused)' : ''}` : '';
          console.log(`    ${r.state.padEnd(9)} ${r.address}  attempts ${r.attempts}${next}${by}${r.lastReply ? `  ${r.lastReply}` : ''}`);
        }
      }
    }
    return 0;
  } finally {
    await core.close();
  }
}

async function cmdAction(action: QueueAction, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { recipient: { type: 'string' } });
  const id = positionals[0];
  if (!id) throw new UsageError(`${action} needs a message ID`);
  const core = openCore(values);
  try {
    const m = core.store.getMessage(id);
    if (!m) throw new UsageError(`no message ${id}`);
    let recipientId: number | undefined;
    if (values.recipient) {
      const r = m.recipients.find((x) => x.address.toLowerCase() === values.recipient!.toLowerCase() || x.envelope.toLowerCase() === values.recipient!.toLowerCase());
      if (!r) throw new UsageError(`message ${id} has no recipient ${values.recipient}`);
      recipientId = r.id;
    }
    const changed = core.queue.act(action, id, recipientId);
    print(values.json, { messageId: id, action, changed }, `${action}: ${changed.length} recipient(s) changed`);
    return 0;
  } finally {
    await core.close();
  }
}

const TLS_MODES: Record<string, TlsMode> = { default: 'default', require: 'requiretls', optional: 'tls-optional' };

/** RFC 8689: change a queued or failed message's TLS mode; the next attempt uses it. */
async function cmdTlsMode(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {});
  const [id, modeName] = positionals;
  if (!id || !modeName) throw new UsageError('tls-mode needs a message ID and default|require|optional');
  const mode = TLS_MODES[modeName];
  if (!mode) throw new UsageError('tls-mode: the mode must be default, require or optional');
  const core = openCore(values);
  try {
    if (!core.queue.setTlsMode(id, mode)) throw new UsageError(`no message ${id}`);
    const failed = core.store.getMessage(id)!.recipients.filter((r) => r.state === 'failed').length;
    print(values.json, { messageId: id, tlsMode: mode }, `${id}: TLS mode ${modeName}${failed ? ` (${failed} failed recipient(s): \`outbox retry ${id}\` queues them again)` : ''}`);
    return 0;
  } finally {
    await core.close();
  }
}

/** Re-queues the messages of a data folder whose database was lost or damaged (issue 10 item 8). */
async function cmdRecover(args: string[]): Promise<number> {
  const { values } = parse(args, {});
  const dataDir = (values['data-dir'] as string | undefined) ?? defaultDataDir();
  const report = await Outbox.recover(dataDir);
  const lines = [
    ...(report.movedAside ? [`the damaged database was moved to ${report.movedAside}`] : []),
    `re-queued ${report.requeued.length} message(s)${report.requeued.length ? `: ${report.requeued.join(', ')}` : ''}`,
    ...report.problems.map((p) => `not recovered: ${p.file}: ${p.reason} (kept in ${p.keptIn}/)`),
  ];
  print(values.json, report, lines.join('\n'));
  return report.problems.length ? 1 : 0;
}

async function cmdExport(args: string[]): Promise<number> {
  const { values } = parse(args, { format: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' }, out: { type: 'string' }, eml: { type: 'string' }, dsn: { type: 'string' } });
  const core = openCore(values);
  try {
    if (values.dsn) {
      // Checked before the output file is created: a bad ID leaves nothing behind.
      if (!core.store.messageRow(values.dsn)) throw new UsageError(`no message ${values.dsn}`);
      const dsn = core.dsn(values.dsn);
      if (!dsn) throw new UsageError(`message ${values.dsn} has no failed or delayed recipient: no DSN`);
      if (values.out) fs.writeFileSync(values.out, dsn.eml, { mode: 0o600 });
      else process.stdout.write(dsn.eml);
      return 0;
    }
    const out = values.out ? fs.createWriteStream(values.out) : process.stdout;
    if (values.eml) {
      if (!core.store.messageRow(values.eml)) throw new UsageError(`no message ${values.eml}`);
      await exportMessageEml(core.store, values.eml, out);
    } else {
      const format = values.format ?? 'csv';
      if (format !== 'csv' && format !== 'json' && format !== 'ndjson') throw new UsageError('--format must be csv, json or ndjson');
      const time = (v: string | undefined, name: string) => {
        if (v === undefined) return undefined;
        const t = Date.parse(v);
        if (Number.isNaN(t)) throw new UsageError(`--${name} must be an ISO 8601 time`);
        return t;
      };
      const since = time(values.since, 'since');
      const until = time(values.until, 'until');
      const { rows } = await exportAttempts(core.store, { format, ...(since !== undefined ? { since } : {}), ...(until !== undefined ? { until } : {}) }, out);
      if (values.out) console.error(`exported ${rows} row(s) to ${values.out}`);
    }
    if (out !== process.stdout) await new Promise<void>((resolve, reject) => (out as fs.WriteStream).end(() => resolve()).once('error', reject));
    return 0;
  } finally {
    await core.close();
  }
}

async function cmdProbe(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {});
  const domain = positionals[0];
  if (!domain) throw new UsageError('probe needs a DOMAIN');
  const core = openCore(values);
  try {
    const r = await core.probe(domain);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(r)}\n`);
    } else {
      console.log(`${r.domain}: MX ${r.mx.join(', ') || '(none)'}; MTA-STS ${r.mtaStsMode ?? 'none'}${r.mtaStsId ? ` (id ${r.mtaStsId})` : ''}; DANE ${r.dane ? 'yes' : 'no'}${r.error ? `; ${r.error}` : ''}`);
      for (const h of r.hosts) {
        console.log(`  ${h.host} ${h.ip ?? ''}  STARTTLS ${h.starttls ? h.tlsVersion : 'no'}  REQUIRETLS ${h.requiretls ? 'yes' : 'no'}  cert ${h.verification ?? '-'}${h.verificationReason ? ` (${h.verificationReason})` : ''}${h.error ? `  error: ${h.error}` : ''}`);
      }
    }
    return r.error ? 1 : 0;
  } finally {
    await core.close();
  }
}

async function cmdIdentity(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parse(rest, { address: { type: 'string' }, name: { type: 'string' }, dkim: { type: 'string' }, selector: { type: 'string' } });
  const core = openCore(values);
  const now = core.clock.now();
  try {
    const byId = (v: string | undefined) => {
      if (!v || !/^\d+$/.test(v)) throw new UsageError(`no identity ${v ?? ''}`);
      return getIdentity(core.store, Number(v));
    };
    const recordsText = (keys: DkimKey[]) => keys.map((k) => `publish TXT ${k.record.name}\n  "${k.record.value}"`).join('\n');
    switch (sub) {
      case 'add': {
        const algorithms = DKIM_CHOICES[values.dkim ?? 'both'];
        if (!algorithms) throw new UsageError('--dkim must be both, rsa, ed25519 or none');
        const i = publicIdentity(
          createIdentity(core.store, now, { address: values.address ?? '', displayName: values.name ?? '', algorithms, ...(values.selector !== undefined ? { selector: values.selector } : {}) }),
        );
        print(values.json, { id: i.id, address: i.address, dkimRecords: i.dkimKeys.map((k) => ({ algorithm: k.algorithm, selector: k.selector, ...k.record })) }, `identity ${i.id}: ${i.address}${i.dkimKeys.length ? `\n${recordsText(i.dkimKeys)}` : ''}`);
        return 0;
      }
      case 'list': {
        const list = core.store.listIdentities().map(publicIdentity);
        print(values.json, { identities: list }, list.map((i) => `${i.id}  ${i.displayName ? `${i.displayName} ` : ''}<${i.address}>${i.dkimKeys.map((k) => `  dkim ${k.algorithm} s=${k.selector}`).join('')}${i.isDefault ? '  (default)' : ''}`).join('\n'));
        return 0;
      }
      case 'dkim-record': {
        const keys = dkimRecords(byId(positionals[0]));
        print(values.json, keys.map((k) => ({ algorithm: k.algorithm, selector: k.selector, ...k.record })), keys.map((k) => `${k.record.name} TXT "${k.record.value}"`).join('\n'));
        return 0;
      }
      case 'check-dns': {
        const check = await core.withDiagnosticResolver((r) => checkDns(r, byId(positionals[0])));
        print(values.json, check, check.keys.map((k) => `${k.name}: ${k.matches ? 'published and matching' : k.reason}`).join('\n'));
        return check.matches ? 0 : 1;
      }
      default:
        throw new UsageError('identity add|list|dkim-record ID|check-dns ID');
    }
  } catch (e) {
    if (e instanceof IdentityError) throw new UsageError(e.field ? `--${e.field === 'displayName' ? 'name' : e.field}: ${e.message}` : e.message);
    throw e;
  } finally {
    await core.close();
  }
}

const DKIM_CHOICES: Record<string, readonly DkimAlgorithm[] | undefined> = {
  both: DEFAULT_DKIM_ALGORITHMS,
  rsa: ['rsa-sha256'],
  ed25519: ['ed25519-sha256'],
  none: [],
};

/** A QueueFeatureError is the user's input being wrong: exit 2 with its message. */
function usage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof QueueFeatureError) throw new UsageError(e.message);
    throw e;
  }
}

async function cmdSuppression(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parse(rest, { reason: { type: 'string' }, identity: { type: 'string' } });
  if (sub !== 'list' && sub !== 'add' && sub !== 'remove') throw new UsageError('suppression list | add ADDR [--reason TEXT] | remove ADDR');
  if (sub !== 'list' && !positionals[0]) throw new UsageError(`suppression ${sub} needs an address`);
  if (values.identity !== undefined && !/^\d+$/.test(values.identity)) throw new UsageError('--identity takes an identity ID');
  const core = openCore(values);
  try {
    if (sub === 'list') {
      const list = core.features.listSuppressions();
      print(values.json, { suppressions: list }, list.map((s) => `${s.address}  ${s.identityId === null ? 'all identities' : `identity ${s.identityId}`}  ${s.source}  ${new Date(s.createdAt).toISOString()}  ${s.reason}${s.reply ? `  (${s.reply})` : ''}`).join('\n'));
    } else if (sub === 'add') {
      const entry = usage(() => core.features.addSuppression(positionals[0]!, values.reason, values.identity === undefined ? null : Number(values.identity)));
      print(values.json, entry, `suppressed ${entry.address}: ${entry.reason}`);
    } else {
      const removed = usage(() => core.features.removeSuppression(positionals[0]!));
      print(values.json, { removed }, removed ? `removed ${positionals[0]} from the suppression list` : `${positionals[0]} was not on the suppression list`);
      return removed ? 0 : 1;
    }
    return 0;
  } finally {
    await core.close();
  }
}

async function cmdHoldRule(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parse(rest, { sender: { type: 'string' }, recipient: { type: 'string' } });
  if (sub !== 'list' && sub !== 'add' && sub !== 'remove') throw new UsageError('hold-rule add [--sender ADDR|DOMAIN] [--recipient ADDR|DOMAIN] | list | remove ID');
  if (sub === 'remove' && !/^\d+$/.test(positionals[0] ?? '')) throw new UsageError('hold-rule remove needs a rule ID');
  const core = openCore(values);
  try {
    const describe = (r: { id: number; sender: string | null; recipient: string | null; held: number }) =>
      `${r.id}  sender ${r.sender ?? 'any'}  recipient ${r.recipient ?? 'any'}  holds ${r.held}${!r.sender && !r.recipient ? '  (pause)' : ''}`;
    if (sub === 'list') {
      const rules = core.features.listHoldRules();
      print(values.json, { paused: core.features.paused, rules }, rules.map(describe).join('\n'));
    } else if (sub === 'add') {
      const rule = usage(() => core.features.addHoldRule({ sender: values.sender, recipient: values.recipient }));
      print(values.json, rule, `hold rule ${describe(rule)}`);
    } else {
      const r = usage(() => core.features.removeHoldRule(Number(positionals[0])));
      print(values.json, r, `removed hold rule ${positionals[0]}; released ${r.released} recipient(s)`);
    }
    return 0;
  } finally {
    await core.close();
  }
}

async function cmdTlsrpt(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parse(rest, { date: { type: 'string' }, wait: { type: 'string' } });
  if (sub !== 'build' && sub !== 'send') throw new UsageError('tlsrpt build --date YYYY-MM-DD [--json] | send --date YYYY-MM-DD');
  const date = values.date;
  if (!date) throw new UsageError('--date YYYY-MM-DD is required');
  try {
    utcDay(date);
  } catch (e) {
    throw new UsageError(`--date: ${(e as Error).message}`);
  }
  const core = openCore(values);
  try {
    if (sub === 'build') {
      // One JSON per policy domain (RFC 8460 §4.4), one per line: nothing is sent.
      for (const r of await core.buildTlsReports(date)) {
        process.stdout.write(`${values.json ? JSON.stringify({ policyDomain: r.policyDomain, dane: r.dane, report: r.report }) : JSON.stringify(r.report, null, 2)}\n`);
      }
      return 0;
    }
    const results = await core.sendTlsReports(date);
    // mailto: reports are queued; deliver them now (first attempt), like `send --wait`.
    const queued = core.store.listMessages({ limit: 500 }).items.filter((m) => m.recipients.some((x) => x.state === 'queued') && /^Report Domain: /.test(m.subject));
    for (const m of queued) {
      core.queue.onlyMessage(m.id);
      core.queue.start();
      await Promise.race([core.queue.firstAttemptsDone(m.id), new Promise((r) => setTimeout(r, 60_000).unref())]);
      await core.queue.stop();
    }
    const delivered = new Map(queued.map((m) => [m.id, core.store.getMessage(m.id)!.recipients.every((x) => x.state === 'delivered')]));
    const report = results.map((r) => {
      const id = /^queued as (\S+)$/.exec(r.detail)?.[1];
      return id && delivered.has(id) ? { ...r, delivered: delivered.get(id) } : r;
    });
    print(values.json, { date, results: report }, report.map((r) => `${r.ok ? 'sent  ' : 'FAILED'} ${r.policyDomain}${r.dane ? ' (DANE)' : ''} → ${r.destination}  ${r.detail}`).join('\n') || 'no reports to send');
    return report.every((r) => r.ok && (r as { delivered?: boolean }).delivered !== false) ? 0 : 1;
  } finally {
    await core.close();
  }
}

async function cmdHistory(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parse(rest, { 'older-than': { type: 'string' } });
  if (sub !== 'prune') throw new UsageError('history prune [--older-than DAYS]');
  const days = values['older-than'];
  if (days !== undefined && (!/^\d+$/.test(days) || Number(days) < 1)) throw new UsageError('--older-than takes a number of days (1 or more)');
  const core = openCore(values);
  try {
    const r = await core.retention.run(days === undefined ? undefined : Number(days));
    print(values.json, r, `removed ${r.messages} message(s) created before ${new Date(r.cutoff).toISOString()} (${r.files} file(s)) in ${r.ms} ms`);
    return 0;
  } finally {
    await core.close();
  }
}

async function cmdPause(pause: boolean, args: string[]): Promise<number> {
  const { values } = parse(args, {});
  const core = openCore(values);
  try {
    if (pause) {
      const rule = core.features.pause();
      print(values.json, { paused: true, rule }, `sending paused (hold rule ${rule.id}); ${rule.held} recipient(s) held`);
    } else {
      const r = core.features.unpause();
      print(values.json, { paused: false, ...r }, `sending resumed; released ${r.released} recipient(s)`);
    }
    return 0;
  } finally {
    await core.close();
  }
}
const cliContext: CliContext = {
  open: openCore,
  parse: (args, options) => parse(args, options ?? {}) as ReturnType<CliContext['parse']>,
  print,
  usage: (m) => new UsageError(m),
};

async function cmdDoctor(args: string[]): Promise<number> {
  const { values } = parse(args, {
    from: { type: 'string' },
    'port25-target': { type: 'string', multiple: true },
    'myip-query': { type: 'string', multiple: true },
    dnsbl: { type: 'string', multiple: true },
    'dnssec-signed': { type: 'string' },
    'dnssec-bogus': { type: 'string' },
    timeout: { type: 'string' },
  });
  const targets: Partial<ReadinessTargets> = {};
  if (values['port25-target']) targets.port25 = inputOrUsage(() => values['port25-target']!.map(parsePort25Target));
  if (values['myip-query']) targets.myIp = inputOrUsage(() => values['myip-query']!.map(parseMyIpQuery));
  if (values.dnsbl) targets.dnsbl = inputOrUsage(() => values.dnsbl!.map(parseZone));
  if (values['dnssec-signed']) targets.dnssecSigned = inputOrUsage(() => parseZone(values['dnssec-signed']!));
  if (values['dnssec-bogus']) targets.dnssecBogus = inputOrUsage(() => parseZone(values['dnssec-bogus']!));
  const timeout = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeout !== undefined && !(timeout > 0 && timeout <= 300)) throw new UsageError('--timeout takes a number of seconds (at most 300)');
  const core = openCore(values, { readinessTargets: targets, ...(timeout ? { readinessTimeoutMs: timeout * 1000 } : {}) });
  try {
    const report = await core.readiness.run({ from: values.from }).catch((e: unknown) => {
      throw toUsage(e);
    });
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ checks: report.checks })}\n`);
    } else {
      for (const c of report.checks) {
        console.log(`${c.status.toUpperCase().padEnd(7)} ${c.id}${c.identity ? ` (${c.identity})` : ''}: ${c.summary}`);
        if (c.fix) console.log(`        → ${c.fix}`);
      }
    }
    return report.checks.some((c) => c.status === 'fail') ? 1 : 0;
  } finally {
    await core.close();
  }
}

/** Runs `f`; the core's INVALID_INPUT errors become usage errors (exit 2, one line). */
function inputOrUsage<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw toUsage(e);
  }
}

function toUsage(e: unknown): unknown {
  return e instanceof DeliveryError && e.code === 'INVALID_INPUT' ? new UsageError(e.message) : e;
}

function print(json: unknown, value: unknown, text: string): void {
  if (json) process.stdout.write(`${JSON.stringify(value)}\n`);
  else if (text) console.log(text);
}

export async function main(argv: string[]): Promise<number> {
  // Node decodes argv as UTF-8 and turns invalid bytes into U+FFFD: a name or subject in another
  // encoding (Latin-1 from an old script) would be sent garbled. Refuse it instead.
  const bad = argv.findIndex((a) => a.includes('\uFFFD'));
  if (bad >= 0) {
    console.error(`outbox: argument ${bad + 1} is not valid UTF-8 (convert it, e.g. with iconv, and try again)`);
    return 2;
  }
  const [command, ...rest] = argv;
  // `--wait` without a number: give it an empty value so parseArgs accepts it.
  const args = rest.flatMap((a, i) => (a === '--wait' && (rest[i + 1] === undefined || rest[i + 1]!.startsWith('--')) ? ['--wait='] : [a]));
  try {
    switch (command) {
      case 'send':
        return await cmdSend(args);
      case 'run':
        return await cmdRun(args);
      case 'queue':
        return await cmdQueue(args);
      case 'hold':
      case 'resume':
      case 'retry':
      case 'cancel':
        return await cmdAction(command, args);
      case 'tls-mode':
        return await cmdTlsMode(args);
      case 'recover':
        return await cmdRecover(args);
      case 'export':
        return await cmdExport(args);
      case 'probe':
        return await cmdProbe(args);
      case 'identity':
        return await cmdIdentity(args);
      case 'suppression':
        return await cmdSuppression(args);
      case 'hold-rule':
        return await cmdHoldRule(args);
      case 'history':
        return await cmdHistory(args);
      case 'tlsrpt':
        return await cmdTlsrpt(args);
      case 'pause':
        return await cmdPause(true, args);
      case 'unpause':
      case 'resume-all':
        return await cmdPause(false, args);
      case 'doctor':
        return await cmdDoctor(args);
      case 'transport':
        return await cmdTransport(args, cliContext);
      case 'route':
        return await cmdRoute(args, cliContext);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${command}`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`outbox: ${e.message}`);
      return 2;
    }
    console.error(`outbox: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
