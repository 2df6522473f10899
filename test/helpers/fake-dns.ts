/**
 * A fake recursive DNS resolver for tests, on 127.0.0.1 (UDP and TCP on the same ephemeral
 * port), answering from a table tests change at run time. It behaves like a validating
 * resolver seen from a stub: it chases CNAME chains itself (unless told not to), sets AD only
 * when every step is marked authentic, answers NXDOMAIN for names it has nothing for and
 * NODATA for names that exist with other types, echoes EDNS0 and truncates UDP answers that
 * do not fit the client's advertised size. It can also misbehave on purpose: SERVFAIL,
 * silence, garbage bytes, forced truncation, or raw hand-made replies.
 *
 *   const dns = await startFakeDns();
 *   dns.add('example.test', 'MX', [{ preference: 10, exchange: 'mx1.example.test' }], { ad: true });
 *   dns.add('mx1.example.test', 'A', ['192.0.2.1']);
 *   dns.servfail('broken.test', 'MX', { ede: [{ code: 6, text: 'signature expired' }] });
 *   createStubResolver({ servers: [dns.address] });
 *   await dns.close();
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, OptAnswer } from 'dns-packet';

export interface FakeRecordData {
  MX: { preference: number; exchange: string };
  A: string;
  AAAA: string;
  /** One string, or several character-strings of one record. */
  TXT: string | string[];
  TLSA: { usage: number; selector: number; matchingType: number; data: Buffer };
  CNAME: string;
  PTR: string;
}
export type FakeType = keyof FakeRecordData;

export interface FakeAnswerOptions {
  /** AD bit. Default: the server's `defaultAd` (false unless set). */
  ad?: boolean;
  /** RFC 8914 extended errors added to the OPT record. */
  ede?: { code: number; text?: string }[];
  /** Force TC=1 with an empty answer over UDP; TCP gets the full answer. */
  truncate?: boolean;
  ttl?: number;
  /** For a CNAME entry: false makes the server stop at it (the stub must re-query). */
  chase?: boolean;
}

export interface QueryContext {
  transport: 'udp' | 'tcp';
  /** The decoded query. */
  query: DecodedPacket;
}

/** A raw reply: bytes sent as they are; `fromOtherSocket` sends them from another port. */
export type RawReply = Buffer | { data: Buffer; fromOtherSocket?: boolean };

export type Behaviour =
  | { kind: 'records'; type: FakeType; records: unknown[]; opts: FakeAnswerOptions }
  | { kind: 'rcode'; rcode: 'NXDOMAIN' | 'SERVFAIL' | 'REFUSED' | 'FORMERR'; opts: FakeAnswerOptions }
  | { kind: 'drop' }
  | { kind: 'garbage' }
  | { kind: 'raw'; respond: (ctx: QueryContext) => RawReply | RawReply[] | undefined };

export interface LoggedQuery {
  name: string;
  type: string;
  transport: 'udp' | 'tcp';
  id: number;
  /** AD bit set in the query (RFC 6840 §5.7). */
  ad: boolean;
  rd: boolean;
  /** EDNS0 OPT present with the DO bit. */
  do: boolean;
  udpPayloadSize: number | undefined;
}

export interface FakeDns {
  /** "127.0.0.1:PORT", for `servers`. */
  address: string;
  port: number;
  /** Every query received, in order. */
  queries: LoggedQuery[];
  /** Exceptions thrown while answering (e.g. by a raw handler); the query went unanswered. */
  errors: unknown[];
  /** Sets the records of name+type (replacing what was there); [] makes an explicit NODATA. */
  add<T extends FakeType>(name: string, type: T, records: FakeRecordData[T][], opts?: FakeAnswerOptions): FakeDns;
  /** Sets the behaviour of name+type; type '*' applies to every type of the name. */
  set(name: string, type: FakeType | '*', behaviour: Behaviour): FakeDns;
  nxdomain(name: string, opts?: FakeAnswerOptions): FakeDns;
  servfail(name: string, type: FakeType | '*', opts?: FakeAnswerOptions): FakeDns;
  rcode(name: string, type: FakeType | '*', rcode: 'NXDOMAIN' | 'SERVFAIL' | 'REFUSED' | 'FORMERR', opts?: FakeAnswerOptions): FakeDns;
  /** Never answer (the client times out). */
  drop(name: string, type: FakeType | '*'): FakeDns;
  /** Answer with the query's ID and then bytes that do not parse. */
  garbage(name: string, type: FakeType | '*'): FakeDns;
  /** Answer with hand-made bytes (see buildResponse). */
  raw(name: string, type: FakeType | '*', respond: (ctx: QueryContext) => RawReply | RawReply[] | undefined): FakeDns;
  remove(name: string, type?: FakeType | '*'): FakeDns;
  clear(): FakeDns;
  close(): Promise<void>;
}

export interface FakeDnsOptions {
  /** AD bit for entries that do not say. Default false. */
  defaultAd?: boolean;
  /**
   * Negative answers (NXDOMAIN, NODATA) made up for names the table lacks carry an SOA of the
   * name's parent with this negative TTL in seconds, as real servers send (RFC 2308 §3), so a
   * resolver may cache them. Default: none (a negative answer without SOA is not cacheable).
   */
  negativeSoaTtl?: number;
}

export async function startFakeDns(options: FakeDnsOptions = {}): Promise<FakeDns> {
  const table = new Map<string, Behaviour>();
  const queries: LoggedQuery[] = [];
  const errors: unknown[] = [];
  const sockets = new Set<net.Socket>();
  const defaultAd = options.defaultAd ?? false;
  const key = (name: string, type: string) => `${canon(name)}|${type}`;

  const { udp, tcp, port } = await bindBoth();
  const other = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => other.bind(0, '127.0.0.1', resolve));

  const respond = (msg: Buffer, transport: 'udp' | 'tcp'): RawReply[] => {
    let query: DecodedPacket;
    try {
      query = dnsPacket.decode(msg);
    } catch {
      return []; // not DNS: a real server would drop it too
    }
    const q = query.questions?.[0];
    if (!q) return [];
    const opt = (query.additionals ?? []).find((a): a is OptAnswer => a.type === 'OPT');
    queries.push({
      name: canon(q.name),
      type: q.type,
      transport,
      id: query.id ?? 0,
      ad: ((query.flags ?? 0) & dnsPacket.AUTHENTIC_DATA) !== 0,
      rd: ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) !== 0,
      do: opt ? (opt.flags & dnsPacket.DNSSEC_OK) !== 0 : false,
      udpPayloadSize: opt?.udpPayloadSize,
    });
    try {
      return answer(query, transport);
    } catch (e) {
      // A test's raw handler that throws must not crash the run; it is recorded instead.
      errors.push(e);
      return [];
    }
  };

  const lookup = (name: string, type: string): Behaviour | undefined =>
    table.get(key(name, type)) ?? table.get(key(name, '*'));

  const entriesAt = (name: string) => [...table].filter(([k]) => k.startsWith(`${canon(name)}|`)).map(([, b]) => b);

  /** The recursive resolver's work: chase CNAMEs, then apply the final entry's behaviour. */
  const answer = (query: DecodedPacket, transport: 'udp' | 'tcp'): RawReply[] => {
    const q = query.questions?.[0];
    if (!q) return [];
    const chain: Answer[] = [];
    let ad = true;
    let name = canon(q.name);
    for (let hop = 0; hop < 16; hop++) {
      const b = lookup(name, q.type);
      if (b) {
        switch (b.kind) {
          case 'drop':
            return [];
          case 'garbage':
            return [garbageFor(query)];
          case 'raw': {
            const r = b.respond({ transport, query });
            return r === undefined ? [] : Array.isArray(r) ? r : [r];
          }
          case 'rcode':
            return [
              finish(query, transport, {
                rcode: b.rcode,
                answers: chain,
                ad: ad && (b.opts.ad ?? defaultAd),
                opts: b.opts,
              }),
            ];
          case 'records':
            return [
              finish(query, transport, {
                rcode: 'NOERROR',
                answers: [...chain, ...b.records.map((r) => toAnswer(name, b.type, r, b.opts.ttl))],
                ad: ad && (b.opts.ad ?? defaultAd),
                opts: b.opts,
              }),
            ];
        }
      }
      const cname = q.type === 'CNAME' ? undefined : table.get(key(name, 'CNAME'));
      if (cname?.kind === 'records' && cname.records.length > 0) {
        const target = String(cname.records[0]);
        chain.push(toAnswer(name, 'CNAME', target, cname.opts.ttl));
        ad &&= cname.opts.ad ?? defaultAd;
        if (cname.opts.chase === false) {
          return [finish(query, transport, { rcode: 'NOERROR', answers: chain, ad, opts: cname.opts })];
        }
        name = canon(target);
        continue;
      }
      // Nothing for this type: NODATA when the name has other data (as authentic as that
      // data: the same signed zone), else NXDOMAIN.
      const siblings = entriesAt(name);
      return [
        finish(query, transport, {
          rcode: siblings.length > 0 ? 'NOERROR' : 'NXDOMAIN',
          answers: chain,
          ad: ad && (siblings.length > 0 ? siblings.every((b) => b.kind !== 'records' || (b.opts.ad ?? defaultAd)) : defaultAd),
          opts: {},
          authorities: options.negativeSoaTtl === undefined ? [] : [negativeSoa(name, options.negativeSoaTtl)],
        }),
      ];
    }
    return [finish(query, transport, { rcode: 'SERVFAIL', answers: [], ad: false, opts: {} })];
  };

  udp.on('message', (msg, rinfo) => {
    for (const reply of respond(msg, 'udp')) {
      const { data, fromOtherSocket } = Buffer.isBuffer(reply) ? { data: reply, fromOtherSocket: false } : reply;
      (fromOtherSocket ? other : udp).send(data, rinfo.port, rinfo.address);
    }
  });
  udp.on('error', () => {});
  other.on('error', () => {});

  tcp.on('connection', (sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        for (const reply of respond(msg, 'tcp')) {
          const data = Buffer.isBuffer(reply) ? reply : reply.data;
          const prefix = Buffer.alloc(2);
          prefix.writeUInt16BE(data.length);
          sock.write(Buffer.concat([prefix, data]));
        }
      }
    });
  });

  const api: FakeDns = {
    address: `127.0.0.1:${port}`,
    port,
    queries,
    errors,
    add(name, type, records, opts = {}) {
      table.set(key(name, type), { kind: 'records', type, records, opts });
      return api;
    },
    set(name, type, behaviour) {
      table.set(key(name, type), behaviour);
      return api;
    },
    nxdomain: (name, opts = {}) => api.set(name, '*', { kind: 'rcode', rcode: 'NXDOMAIN', opts }),
    servfail: (name, type, opts = {}) => api.set(name, type, { kind: 'rcode', rcode: 'SERVFAIL', opts }),
    rcode: (name, type, rcode, opts = {}) => api.set(name, type, { kind: 'rcode', rcode, opts }),
    drop: (name, type) => api.set(name, type, { kind: 'drop' }),
    garbage: (name, type) => api.set(name, type, { kind: 'garbage' }),
    raw: (name, type, respond) => api.set(name, type, { kind: 'raw', respond }),
    remove(name, type) {
      if (type) table.delete(key(name, type));
      else for (const k of [...table.keys()]) if (k.startsWith(`${canon(name)}|`)) table.delete(k);
      return api;
    },
    clear() {
      table.clear();
      return api;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all([
        new Promise<void>((r) => udp.close(() => r())),
        new Promise<void>((r) => other.close(() => r())),
        new Promise<void>((r) => tcp.close(() => r())),
      ]);
    },
  };
  return api;
}

export interface ResponseSpec {
  rcode?: 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL' | 'REFUSED' | 'FORMERR';
  answers?: Answer[];
  ad?: boolean;
  tc?: boolean;
  ede?: { code: number; text?: string }[];
  /** Override the ID (e.g. to forge a mismatching one). */
  id?: number;
  /** Override the question (e.g. to forge a mismatching one). */
  question?: { name: string; type: string };
  /** Authority section (e.g. the SOA of a negative answer, RFC 2308 §3). */
  authorities?: Answer[];
}

const RCODE_NUM = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

/** Builds a well-formed response to `query` with dns-packet (for raw handlers). */
export function buildResponse(query: DecodedPacket, spec: ResponseSpec = {}): Buffer {
  const q = spec.question ?? query.questions?.[0];
  const queryOpt = (query.additionals ?? []).find((a): a is OptAnswer => a.type === 'OPT');
  let flags = dnsPacket.RECURSION_AVAILABLE | ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED);
  flags |= RCODE_NUM[spec.rcode ?? 'NOERROR'];
  if (spec.ad) flags |= dnsPacket.AUTHENTIC_DATA;
  if (spec.tc) flags |= dnsPacket.TRUNCATED_RESPONSE;
  const additionals: Answer[] = [];
  if (queryOpt || spec.ede?.length) {
    additionals.push({
      type: 'OPT',
      name: '.',
      udpPayloadSize: 1232,
      extendedRcode: 0,
      ednsVersion: 0,
      flags: queryOpt ? queryOpt.flags & dnsPacket.DNSSEC_OK : 0,
      flag_do: queryOpt?.flag_do ?? false,
      // RFC 8914 §2: INFO-CODE then UTF-8 EXTRA-TEXT. dns-packet encodes raw option data.
      options: (spec.ede ?? []).map((e) => ({
        code: 15,
        data: Buffer.concat([u16(e.code), Buffer.from(e.text ?? '', 'utf8')]),
      })) as unknown as OptAnswer['options'],
    });
  }
  return dnsPacket.encode({
    type: 'response',
    id: spec.id ?? query.id ?? 0,
    flags,
    questions: q ? [{ name: q.name, type: q.type as 'A', class: 'IN' }] : [],
    answers: spec.answers ?? [],
    authorities: spec.authorities ?? [],
    additionals,
  });
}

/** A resource record for `buildResponse`, from the fake's simple record forms. */
export function toAnswer<T extends FakeType>(name: string, type: T, record: FakeRecordData[T] | unknown, ttl = 300): Answer {
  switch (type) {
    case 'MX':
      return { name, type: 'MX', ttl, class: 'IN', data: record as FakeRecordData['MX'] };
    case 'TXT':
      return { name, type: 'TXT', ttl, class: 'IN', data: record as string | string[] };
    case 'TLSA': {
      const t = record as FakeRecordData['TLSA'];
      return {
        name,
        type: 'TLSA',
        ttl,
        class: 'IN',
        data: { usage: t.usage, selector: t.selector, matchingType: t.matchingType, certificate: t.data },
      };
    }
    default:
      return { name, type: type as 'A' | 'AAAA' | 'CNAME' | 'PTR', ttl, class: 'IN', data: String(record) };
  }
}

function finish(
  query: DecodedPacket,
  transport: 'udp' | 'tcp',
  r: { rcode: NonNullable<ResponseSpec['rcode']>; answers: Answer[]; ad: boolean; opts: FakeAnswerOptions; authorities?: Answer[] },
): Buffer {
  const spec: ResponseSpec = { rcode: r.rcode, answers: r.answers, ad: r.ad, ede: r.opts.ede ?? [], authorities: r.authorities ?? [] };
  if (transport === 'udp') {
    const queryOpt = (query.additionals ?? []).find((a): a is OptAnswer => a.type === 'OPT');
    // RFC 6891 §6.2.5 / RFC 1035 §4.2.1: what does not fit the client's size is truncated.
    const limit = Math.max(512, queryOpt?.udpPayloadSize ?? 512);
    const full = buildResponse(query, spec);
    if (r.opts.truncate || full.length > limit) return buildResponse(query, { ...spec, answers: [], tc: true });
    return full;
  }
  return buildResponse(query, spec);
}

/** The SOA of `name`'s parent zone for a negative answer, its TTL and MINIMUM both `ttl` (RFC 2308 §5). */
function negativeSoa(name: string, ttl: number): Answer {
  const zone = canon(name).split('.').slice(1).join('.') || '.';
  return {
    name: zone,
    type: 'SOA',
    ttl,
    data: { mname: `ns.${zone}`, rname: `hostmaster.${zone}`, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: ttl },
  } as Answer;
}

/** The query's ID and a header promising records that are not there. */
function garbageFor(query: DecodedPacket): Buffer {
  const b = Buffer.from([0, 0, 0x81, 0x80, 0, 1, 0, 3, 0, 0, 0, 0, 7, 0x65, 0x78, 0xff, 0xfe, 0xc0]);
  b.writeUInt16BE(query.id ?? 0, 0);
  return b;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function canon(name: string): string {
  return (name.endsWith('.') ? name.slice(0, -1) : name).toLowerCase();
}

/** UDP and TCP on the same ephemeral port: bind UDP to port 0, then try TCP on that port. */
async function bindBoth(): Promise<{ udp: dgram.Socket; tcp: net.Server; port: number }> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, '127.0.0.1', () => resolve());
    });
    const port = udp.address().port;
    const tcp = net.createServer();
    const ok = await new Promise<boolean>((resolve) => {
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) return { udp, tcp, port };
    await new Promise<void>((r) => udp.close(() => r()));
  }
  throw new Error('fake DNS: could not bind UDP and TCP on one port');
}
