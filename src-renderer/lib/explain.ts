/**
 * Plain-language explanations of delivery failures: what happened and what the user can do.
 * A pure function keyed on the engine's stable fields — RFC 3463 enhanced status code, the
 * DeliveryError code and the stage — never on the server's free text, which varies by vendor
 * and language. The most specific fact wins: an enhanced code names the exact condition, an
 * error code the local cause, the basic reply class (RFC 5321 §4.2.1) the rest.
 */

export interface FailureFacts {
  /** SMTP reply code, e.g. 550. */
  code?: number | null | undefined;
  /** RFC 3463 enhanced status code, e.g. "5.7.30". */
  enhancedCode?: string | null | undefined;
  /** The engine's DeliveryError code, e.g. "REQUIRETLS_UNSUPPORTED". */
  errorCode?: string | null | undefined;
  /** Where the attempt stopped, e.g. "connect", "rcpt". */
  stage?: string | null | undefined;
  permanent?: boolean | null | undefined;
}

const RETRY = 'Direct Outbox will retry automatically.';

/** Enhanced status codes (RFC 3463, RFC 8461/8689 additions) with a clear meaning for users. */
const BY_ENHANCED: Record<string, string> = {
  '5.7.30':
    "The recipient's servers don't support REQUIRETLS. Send with Default TLS instead, or ask the recipient to enable REQUIRETLS, MTA-STS or DANE.",
  '5.7.1':
    'The recipient\'s server refused the message as unauthorised or unwanted. Check that your domain publishes correct DKIM, SPF and DMARC records (Settings → Identities → Check DNS), and that your IP address is not on a block list.',
  '5.7.26':
    "The recipient's server rejected the message because it failed DMARC/SPF/DKIM authentication. Check your domain's DKIM, SPF and DMARC records (Settings → Identities → Check DNS).",
  '5.7.25':
    "The recipient's server wants a reverse DNS (PTR) name for your IP address. Ask your ISP to set one that matches your EHLO name, and check SPF/DKIM/DMARC of your domain.",
  '5.7.27': "The sender's domain does not accept mail (null MX), so the recipient's server refused it. Send from a domain that can receive mail.",
  '5.7.23': "Your domain's SPF record does not allow this computer's IP address. Add it to your SPF record.",
  '5.7.10': "The recipient's server requires encryption that could not be established.",
  '5.7.11': "The recipient's server requires encryption that could not be established.",
  '5.1.1': "The recipient's mailbox does not exist (no such user). Check the address for typos.",
  '5.1.2': "The recipient's domain could not be found. Check the address for typos.",
  '5.1.3': 'The recipient address is not valid. Check it for typos.',
  '5.1.6': 'The recipient has moved and no longer receives mail at this address.',
  '5.1.10':
    "The recipient's domain says it does not accept any mail (null MX). The address cannot receive email; check it for typos or use another address.",
  '5.2.1': "The recipient's mailbox is disabled and does not accept messages.",
  '5.2.2': "The recipient's mailbox is full. Try again later or contact them another way.",
  '4.2.2': `The recipient's mailbox is full for now. ${RETRY}`,
  '5.2.3': "The message is larger than the recipient's server accepts. Send smaller attachments or share them another way.",
  '5.3.4': "The message is larger than the recipient's server accepts. Send smaller attachments or share them another way.",
  '5.6.7':
    "The recipient's server cannot handle international (non-ASCII) addresses (SMTPUTF8). Use an ASCII address for this recipient if they have one.",
  '4.7.1': `The recipient's server is delaying the message (often greylisting, a spam defence against first-time senders). ${RETRY}`,
  '4.7.0': `The recipient's server temporarily refused the message. ${RETRY}`,
};

/** The engine's error codes (src-main/core/errors.ts) for failures raised locally. */
const BY_ERROR: Record<string, (f: FailureFacts) => string> = {
  REQUIRETLS_UNSUPPORTED: () => BY_ENHANCED['5.7.30']!,
  TLS_REQUIRED: () =>
    "The domain's policy (MTA-STS, DANE or your REQUIRETLS choice) requires verified TLS, and the server did not offer it, so the message was not sent in the clear. The recipient's administrator has to fix their server; if you accept the risk, send with \"Deliver even if TLS fails\".",
  CERT_INVALID: () =>
    "The domain's policy requires verified TLS and the server's certificate did not verify, so nothing was sent. This protects the message from interception; the recipient's administrator has to fix the certificate.",
  POLICY_MISMATCH: () =>
    "The domain's MTA-STS policy does not list the mail server it points to, so the message was not sent to it. The recipient's administrator has to fix their MTA-STS policy or MX records.",
  TLS_FAILED: (f) =>
    `The encrypted connection to the recipient's server could not be set up.${f.permanent ? '' : ` ${RETRY}`}`,
  NULL_MX: () => BY_ENHANCED['5.1.10']!,
  DNS_NXDOMAIN: () => "The recipient's domain does not exist. Check the address for typos.",
  NO_HOSTS: () => "The recipient's domain has no mail server that can be reached. Check the address for typos.",
  DNS_TEMPORARY: () =>
    `Looking up the recipient's mail servers failed for now (DNS). ${RETRY} If it keeps failing, check your DNS resolver in Settings.`,
  DNS_BOGUS: () => "The recipient's DNS answers were malformed or failed DNSSEC validation. The recipient's administrator has to fix their DNS.",
  TIMEOUT: (f) =>
    f.stage === 'connect'
      ? `The recipient's mail server did not answer. Port 25 may be blocked by your network or ISP — many home connections block it. ${RETRY}`
      : `The recipient's mail server stopped responding. ${RETRY}`,
  CONNECT_FAILED: () =>
    `No connection to the recipient's mail server. Port 25 may be blocked by your network or ISP — many home connections block it. ${RETRY}`,
  CONNECTION_CLOSED: () => `The recipient's server closed the connection unexpectedly. ${RETRY}`,
  MESSAGE_TOO_BIG: () => BY_ENHANCED['5.3.4']!,
  SMTPUTF8_UNSUPPORTED: () => BY_ENHANCED['5.6.7']!,
  GIVE_UP: () => 'Delivery was given up after retrying for the maximum time (Settings → Retry lifetime). You can retry it now from the outbox.',
  CANCELED: () => 'You canceled delivery to this recipient.',
  SMTP_PROTOCOL: () => `The recipient's server answered in a way that does not follow the SMTP protocol. ${RETRY}`,
  INTERRUPTED: () => `The app stopped during delivery. ${RETRY}`,
};

/** A sentence explaining the failure and what the user can do; null when there is nothing to explain. */
export function explainFailure(f: FailureFacts): string | null {
  const enhanced = f.enhancedCode?.trim();
  if (enhanced && BY_ENHANCED[enhanced]) return BY_ENHANCED[enhanced];
  if (f.errorCode && BY_ERROR[f.errorCode]) return BY_ERROR[f.errorCode]!(f);
  const klass = enhanced?.[0] ?? (f.code ? String(f.code)[0] : undefined);
  if (klass === '4' || (f.permanent === false && (f.code || f.errorCode))) {
    return `The recipient's server refused the message for now (temporary error${f.code ? ` ${f.code}` : ''}, sometimes greylisting). ${RETRY}`;
  }
  if (klass === '5') {
    const subject = enhanced?.split('.')[1];
    if (subject === '1') return "The recipient's server does not accept mail for this address. Check the address for typos.";
    if (subject === '7') return BY_ENHANCED['5.7.1']!;
    return "The recipient's server permanently refused the message. Read its reply below; it often says why.";
  }
  return null;
}
