/**
 * `outbox transport …` and `outbox route …` (issue 12): the same TransportService the app's
 * Settings → Sending uses, on the same store. Passwords come from an environment variable
 * (--password-env VAR: read again whenever a connection needs it) or a file only its owner can
 * read (--password-file F, mode 0600) — never from the command line, where `ps` shows them.
 */
import type { ParseArgsConfig } from 'node:util';
import type { Outbox } from './core/outbox';
import type { FieldError } from './core/transport/config';
import type { PasswordInput } from './core/sending/service';
import type { Route, Transport } from '../shared/transport';

export interface CliContext {
  open(values: Record<string, unknown>): Outbox;
  parse(args: string[], options: ParseArgsConfig['options']): { values: Record<string, unknown>; positionals: string[] };
  print(json: unknown, value: unknown, text: string): void;
  usage(message: string): Error;
}

export const TRANSPORT_USAGE = `  transport add NAME --type direct|direct-socks5|smarthost|submission [--host H] [--port N] [--tls starttls|implicit]
           [--tls-verify pkix|none] [--proxy HOST:PORT] [--user U] [--password-file F | --password-env VAR]
           [--auth scram-sha-256|scram-sha-1|cram-md5|plain|login] [--ip-family both|ipv4|ipv6]
  transport list | remove NAME | test NAME      (test: connect, TLS, AUTH, QUIT; sends nothing)
  route    add --transport NAME [--recipient-domain D] [--sender ADDR|DOMAIN] [--from-attempt N]
  route    list | remove ID | move ID --before ID2`;

const fieldErrors = (errors: FieldError[]) => errors.map((e) => `${e.field}: ${e.message}`).join('; ');

export function describeTransport(t: Transport): string {
  const where = t.type === 'direct-socks5' ? ` via ${t.proxy}` : t.host ? ` ${t.host}:${t.port} ${t.tls}` : '';
  const extra = [
    t.ipFamily !== 'both' ? `${t.ipFamily} only` : '',
    t.host && t.tlsVerify === 'none' ? 'UNVERIFIED TLS' : '',
    t.user ? `user ${t.user}` : '',
    t.auth ? `auth ${t.auth}` : '',
    t.hasPassword ? `password from ${t.passwordSource}` : '',
    t.builtin ? 'built in' : '',
  ].filter(Boolean);
  return `${t.name}  ${t.type}${where}${extra.length ? `  (${extra.join(', ')})` : ''}`;
}

function describeRoute(r: Route): string {
  const when = [
    r.recipientDomain ? `recipient domain ${r.recipientDomain}` : '',
    r.sender ? `sender ${r.sender}` : '',
    r.fromAttempt ? `from attempt ${r.fromAttempt}` : '',
  ].filter(Boolean);
  return `${r.id}  → ${r.transport}  ${when.length ? when.join(', ') : 'every message'}`;
}

export async function cmdTransport(args: string[], cli: CliContext): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = cli.parse(rest, {
    type: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    tls: { type: 'string' },
    'tls-verify': { type: 'string' },
    proxy: { type: 'string' },
    user: { type: 'string' },
    'password-file': { type: 'string' },
    'password-env': { type: 'string' },
    auth: { type: 'string' },
    'ip-family': { type: 'string' },
  });
  const core = cli.open(values);
  try {
    switch (sub) {
      case 'add': {
        const name = positionals[0];
        if (!name) throw cli.usage('transport add needs a NAME');
        if (!values.type) throw cli.usage('transport add needs --type direct|direct-socks5|smarthost|submission');
        if (values['password-file'] && values['password-env']) throw cli.usage('--password-file and --password-env exclude each other');
        const port = values.port as string | undefined;
        if (port !== undefined && !/^\d{1,5}$/.test(port)) throw cli.usage('--port must be a port number');
        const password: PasswordInput | null = values['password-file']
          ? { kind: 'file', path: values['password-file'] as string }
          : values['password-env']
            ? { kind: 'env', name: values['password-env'] as string }
            : null;
        const r = core.transports.save(
          {
            name,
            type: values.type,
            host: values.host ?? null,
            port: port === undefined ? null : Number(port),
            tls: values.tls ?? null,
            tlsVerify: values['tls-verify'] ?? 'pkix',
            proxy: values.proxy ?? null,
            user: values.user ?? null,
            auth: values.auth ?? null,
            ipFamily: values['ip-family'] ?? 'both',
          },
          password,
        );
        if (!r.ok) throw cli.usage(fieldErrors(r.errors));
        cli.print(values.json, r.value, `transport ${describeTransport(r.value)}`);
        return 0;
      }
      case 'list': {
        const list = core.transports.list();
        cli.print(values.json, { transports: list }, list.map(describeTransport).join('\n'));
        return 0;
      }
      case 'remove': {
        const name = positionals[0];
        if (!name) throw cli.usage('transport remove needs a NAME');
        const r = core.transports.remove(name);
        if (!r.ok) throw cli.usage(fieldErrors(r.errors));
        cli.print(values.json, { removed: name }, `removed transport ${name}`);
        return 0;
      }
      case 'test': {
        const name = positionals[0];
        if (!name) throw cli.usage('transport test needs a NAME');
        if (!core.transports.get(name)) throw cli.usage(`no transport named ${name}`);
        // Direct transports are tested against the default identity's own domain's MX.
        const identity = core.store.listIdentities()[0];
        const r = await core.transports.test(name, { domain: identity?.address.split('@').pop() });
        const tls = r.tlsVersion ? `${r.tlsVersion}, ${r.verification === 'pkix' ? 'verified (PKIX)' : `UNVERIFIED${r.verificationReason ? ` (${r.verificationReason})` : ''}`}` : 'no TLS';
        cli.print(values.json, r, r.ok ? `ok: ${r.host ?? ''} [${r.ip ?? ''}]:${r.port ?? ''}  ${tls}${r.auth ? `  AUTH ${r.auth} accepted` : ''}${r.requireTls ? '  REQUIRETLS' : ''}` : `failed${r.stage ? ` at ${r.stage}` : ''}: ${r.error}`);
        return r.ok ? 0 : 1;
      }
      default:
        throw cli.usage('transport add NAME --type … | list | remove NAME | test NAME');
    }
  } finally {
    await core.close();
  }
}

export async function cmdRoute(args: string[], cli: CliContext): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = cli.parse(rest, {
    transport: { type: 'string' },
    'recipient-domain': { type: 'string' },
    sender: { type: 'string' },
    'from-attempt': { type: 'string' },
    before: { type: 'string' },
  });
  const id = (v: string | undefined, what: string) => {
    if (!v || !/^\d{1,12}$/.test(v)) throw cli.usage(`${what} must be a route ID`);
    return Number(v);
  };
  const core = cli.open(values);
  try {
    switch (sub) {
      case 'add': {
        if (!values.transport) throw cli.usage('route add needs --transport NAME');
        const from = values['from-attempt'] as string | undefined;
        if (from !== undefined && !/^\d{1,4}$/.test(from)) throw cli.usage('--from-attempt must be a number ≥ 1');
        const r = core.transports.addRoute({
          transport: values.transport,
          recipientDomain: values['recipient-domain'] ?? null,
          sender: values.sender ?? null,
          fromAttempt: from === undefined ? null : Number(from),
        });
        if (!r.ok) throw cli.usage(fieldErrors(r.errors));
        cli.print(values.json, r.value, `route ${describeRoute(r.value)}`);
        return 0;
      }
      case 'list': {
        const routes = core.transports.routes();
        cli.print(values.json, { routes }, routes.length ? `${routes.map(describeRoute).join('\n')}\n(no match → direct)` : 'no routes: every message goes direct');
        return 0;
      }
      case 'remove': {
        const r = core.transports.removeRoute(id(positionals[0], 'route remove ID'));
        if (!r.ok) throw cli.usage(fieldErrors(r.errors));
        cli.print(values.json, { removed: Number(positionals[0]) }, `removed route ${positionals[0]}`);
        return 0;
      }
      case 'move': {
        const r = core.transports.moveRoute(id(positionals[0], 'route move ID'), id(values.before as string | undefined, '--before'));
        if (!r.ok) throw cli.usage(fieldErrors(r.errors));
        cli.print(values.json, { routes: r.value }, r.value.map(describeRoute).join('\n'));
        return 0;
      }
      default:
        throw cli.usage('route add --transport NAME … | list | remove ID | move ID --before ID2');
    }
  } finally {
    await core.close();
  }
}
