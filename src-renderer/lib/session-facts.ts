/**
 * How an attempt's session was made, in words for people (issue 14 items 2 and 3): whether the
 * connection was kept from an earlier message (connection reuse, RFC 5321 §4.1.4 RSET between
 * transactions) and whether its TLS session was resumed from a ticket (RFC 8446 §2.2, RFC 5077).
 * Both change what the TLS facts shown beside them mean — they were established, and the
 * certificate verified, in an earlier handshake — so the detail must say so, or it would claim
 * a check that did not happen in this attempt.
 *
 * Each fact comes in two lengths: the sentence (the message detail's attempt card) and one word
 * for a compact place (the Log view's rows, where the sentence is the marker's accessible name
 * and tooltip).
 *
 * Decided once here from the engine's recorded flags (shared/domain.ts Attempt). A flag that is
 * absent (records made before reuse or resumption existed) or false says nothing: such an
 * attempt opened its own connection with a full handshake, as every attempt did then.
 */
import type { Attempt } from '../../shared/domain';

export interface SessionFact {
  kind: 'reused-session' | 'tls-resumed';
  /** The fact, in plain words, shown where the attempt's TLS facts are. */
  text: string;
  /** One word for the fact where there is no room for the sentence (a word of `text`). */
  short: 'reused' | 'resumed';
  /** Why it matters (the tooltip). */
  why: string;
}

type Facts = Pick<Attempt, 'reusedSession' | 'tlsResumed' | 'verification'>;

const VERIFIED = new Set<Attempt['verification']>(['dane-ee', 'dane-ta', 'pkix']);

export function sessionFacts(a: Facts): SessionFact[] {
  const out: SessionFact[] = [];
  if (a.reusedSession === true) {
    out.push({
      kind: 'reused-session',
      text: 'Reused connection (opened for an earlier message)',
      short: 'reused',
      why:
        'This message went over a connection kept open after an earlier message to the same server, reset between the two (RFC 5321 RSET). ' +
        'Its encryption and certificate result are those established when it was opened; a connection is reused only under the same TLS requirements.',
    });
  }
  if (a.tlsResumed === true) {
    const verified = VERIFIED.has(a.verification);
    out.push({
      kind: 'tls-resumed',
      text: verified
        ? 'TLS session resumed — certificate verified in the full handshake that established it'
        : 'TLS session resumed — the full handshake that established it did not verify the certificate',
      short: 'resumed',
      why:
        'The server resumed an earlier TLS session (RFC 8446 session ticket), so it sent no certificate this time. ' +
        'The certificate result shown is that of the full handshake that established the session, under the same policy; ' +
        'a session is resumed only while that result still meets what the policy requires.',
    });
  }
  return out;
}
