/**
 * DNS messages on the wire (RFC 1035 §4.1) through the `dns-packet` codec, plus the checks
 * dns-packet does not make.
 *
 * Queries carry RD, AD (RFC 6840 §5.7: ask for the AD bit explicitly) and an EDNS0 OPT record
 * with DO (RFC 3225 §3, RFC 6891 §6) so a validating resolver tells us whether the data is
 * authentic.
 *
 * Threat: a hostile or broken server (or an off-path spoofer) sending bytes that make the
 * codec read past a record's RDLENGTH, misalign the following records, or throw deep inside.
 * dns-packet trusts each type's own length arithmetic (an A record with RDLENGTH 5 still
 * reads 4 bytes and moves on), so we walk the message ourselves, RR by RR, with dns-packet's
 * own name and RR decoders, and require each RR to end exactly where its RDLENGTH says.
 * Compression loops cannot occur: dns-packet only follows pointers backwards (RFC 1035
 * §4.1.4 "prior occurrence"). Anything that does not parse is a DNS_BOGUS error.
 */
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket, OptAnswer, Question } from 'dns-packet';
import { dnsBogus } from './dns-errors';
import { parseEde } from './ede';
import { sameName } from './name';
import type { ExtendedDnsError, RRType } from './types';

/** dns-packet's per-part decoders; exported by the library, missing from its typings. */
interface PartDecoder<T> {
  decode: ((buf: Buffer, offset?: number) => T) & { bytes: number };
}
const parts = dnsPacket as unknown as {
  name: PartDecoder<string>;
  answer: PartDecoder<Answer>;
  question: PartDecoder<Question>;
};

/** RFC 6891 §6.2.5 / DNS flag day 2020: a payload size that avoids IP fragmentation. */
export const UDP_PAYLOAD_SIZE = 1232;

const HEADER_LEN = 12;

/** RFC 6895 §2.3 response codes (4-bit header code, extended by EDNS to 12 bits). */
const RCODES: Record<number, string> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  16: 'BADVERS',
};

/** A resource record of the answer section, OPT excluded; `data` as dns-packet decodes it. */
export interface WireRecord {
  name: string;
  type: string;
  class: string;
  ttl: number;
  data: unknown;
}

export interface ParsedResponse {
  packet: DecodedPacket;
  /** The answer section's records (class and type not yet filtered). */
  answers: WireRecord[];
  /** Full response code name, EDNS extended bits included. */
  rcode: string;
  /** AD bit (RFC 4035 §3.2.3): the resolver validated every RRset in the answer. */
  ad: boolean;
  /** TC bit (RFC 1035 §4.1.1): the answer did not fit; ask again over TCP. */
  tc: boolean;
  ede: ExtendedDnsError[];
  /**
   * RFC 2308 §5: how long a negative answer (NXDOMAIN, NODATA) may be cached — the smaller of
   * the authority section's SOA TTL and its MINIMUM field; undefined without an SOA (then it
   * is not cached).
   */
  negativeTtl: number | undefined;
}

export function encodeQuery(id: number, name: string, type: RRType): Buffer {
  const opt: OptAnswer = {
    type: 'OPT',
    name: '.',
    udpPayloadSize: UDP_PAYLOAD_SIZE,
    extendedRcode: 0,
    ednsVersion: 0,
    flags: dnsPacket.DNSSEC_OK, // RFC 3225 §3: DO — send DNSSEC records and validate
    flag_do: true,
    options: [],
  };
  return dnsPacket.encode({
    type: 'query',
    id,
    // RFC 6840 §5.7: set AD in queries so the resolver reports AD even without DO semantics.
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.AUTHENTIC_DATA,
    questions: [{ type, class: 'IN', name }],
    additionals: [opt],
  });
}

/** The message ID, or undefined when the datagram is too short to be DNS at all. */
export function peekId(buf: Buffer): number | undefined {
  return buf.length >= HEADER_LEN ? buf.readUInt16BE(0) : undefined;
}

/** Strictly decodes a response. Throws DNS_BOGUS on anything malformed. */
export function decodeResponse(buf: Buffer): ParsedResponse {
  let packet: DecodedPacket;
  let negativeTtl: number | undefined;
  try {
    ({ packet, negativeTtl } = decodeStrict(buf));
  } catch (e) {
    throw dnsBogus(`malformed DNS response: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  const opts = (packet.additionals ?? []).filter((a): a is OptAnswer => a.type === 'OPT');
  // RFC 6891 §6.1.1: more than one OPT record makes the message malformed.
  if (opts.length > 1) throw dnsBogus('malformed DNS response: more than one OPT record');
  const opt = opts[0];
  // RFC 6891 §6.1.3: the OPT's EXTENDED-RCODE holds the upper 8 bits of a 12-bit rcode.
  const code = ((opt?.extendedRcode ?? 0) << 4) | ((packet.flags ?? 0) & 0xf);
  const answers = (packet.answers ?? []).flatMap((a): WireRecord[] =>
    a.type === 'OPT' ? [] : [{ name: a.name, type: a.type, class: a.class ?? 'IN', ttl: ttlValue(a.ttl ?? 0), data: a.data }],
  );
  return {
    packet,
    answers,
    rcode: RCODES[code] ?? `RCODE${code}`,
    ad: packet.flag_ad,
    tc: packet.flag_tc,
    ede: opt ? parseEde(opt.options ?? []) : [],
    negativeTtl,
  };
}

/**
 * Why a well-formed response does not answer our query, or undefined when it does.
 * RFC 5452 §4.3/§9.1: the ID and the question must match, or it may be a spoofing attempt.
 */
export function responseMismatch(res: DecodedPacket, id: number, name: string, type: RRType): string | undefined {
  if (res.id !== id) return 'ID differs';
  if (!res.flag_qr) return 'not a response';
  if ((res as DecodedPacket & { opcode?: string }).opcode !== 'QUERY') return 'opcode is not QUERY';
  const q = res.questions ?? [];
  if (q.length !== 1) return `${q.length} questions`;
  const [first] = q;
  if (!first || !sameName(first.name, name) || first.type !== type || first.class !== 'IN') {
    return 'question differs';
  }
  return undefined;
}

/**
 * RR type codes whose RDATA we read (RFC 1035 §3.2.2 incl. PTR 12, RFC 3596, RFC 6698 §7.1, RFC
 * 6891 §6.1.1).
 * The others (RRSIG, NSEC, SOA ...) are framed but not decoded: we never use them, and a
 * quirk in dns-packet's decoder for a DNSSEC type must not turn a good answer into a bogus one.
 */
const DECODED_TYPES = new Set([1, 5, 12, 15, 16, 28, 41, 52]);

/**
 * Decodes the header with dns-packet, then walks every RR with dns-packet's name and RR
 * decoders, requiring each decoded RR to end exactly where its RDLENGTH says.
 */
function decodeStrict(buf: Buffer): { packet: DecodedPacket; negativeTtl: number | undefined } {
  if (buf.length < HEADER_LEN) throw new Error('shorter than a header');
  const qdcount = buf.readUInt16BE(4);
  const counts = [buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)] as const;
  // The header alone, with the section counts zeroed, so the library decodes only the flags.
  const header = Buffer.alloc(HEADER_LEN);
  buf.copy(header, 0, 0, 4);
  const packet = dnsPacket.decode(header);
  let off = HEADER_LEN;
  const questions: Question[] = [];
  for (let i = 0; i < qdcount; i++) {
    parts.name.decode(buf, off);
    const end = off + parts.name.decode.bytes + 4;
    if (end > buf.length) throw new Error('question runs past the end');
    questions.push(parts.question.decode(buf, off));
    off = end;
  }
  const sections: Answer[][] = [[], [], []];
  let negativeTtl: number | undefined;
  for (const [s, count] of counts.entries()) {
    for (let i = 0; i < count; i++) {
      parts.name.decode(buf, off);
      const fixed = off + parts.name.decode.bytes; // TYPE, CLASS, TTL, RDLENGTH follow
      if (fixed + 10 > buf.length) throw new Error('record header runs past the end');
      const rdlength = buf.readUInt16BE(fixed + 8);
      const end = fixed + 10 + rdlength;
      if (end > buf.length) throw new Error('RDATA runs past the end');
      // RFC 2308 §5: an SOA in the authority section gives a negative answer's TTL. Only its
      // TTL and MINIMUM (the RDATA's last 32 bits, after two names and four counters) are read.
      if (s === 1 && buf.readUInt16BE(fixed) === SOA_TYPE && buf.readUInt16BE(fixed + 2) === CLASS_IN && rdlength >= 22) {
        const soaTtl = ttlValue(buf.readUInt32BE(fixed + 4));
        const minimum = ttlValue(buf.readUInt32BE(end - 4));
        negativeTtl = Math.min(negativeTtl ?? Infinity, soaTtl, minimum);
      }
      if (DECODED_TYPES.has(buf.readUInt16BE(fixed))) {
        const rr = parts.answer.decode(buf, off);
        if (off + parts.answer.decode.bytes !== end) throw new Error(`${rr.type} RDATA length does not match its content`);
        sections[s]?.push(rr);
      }
      off = end;
    }
  }
  // Trailing bytes after the last counted RR are ignored, as most stub resolvers do.
  packet.questions = questions;
  [packet.answers, packet.authorities, packet.additionals] = sections;
  return { packet, negativeTtl };
}

const SOA_TYPE = 6;
const CLASS_IN = 1;

/** RFC 2181 §8: a TTL with the most significant bit set is treated as zero. */
function ttlValue(v: number): number {
  return v > 0x7fffffff ? 0 : v;
}
