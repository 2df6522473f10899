/**
 * Fetching an MTA-STS policy (RFC 8461 §3.3): GET https://mta-sts.<domain>/.well-known/mta-sts.txt
 * over PKIX-verified HTTPS, no redirects, HTTP 200 only, Content-Type text/plain, a 64 KiB
 * body limit and short timeouts.
 *
 * Threat addressed: the policy host is found through unsigned DNS, so everything rests on the
 * WebPKI certificate for `mta-sts.<domain>` (RFC 8461 §3.3, §10.2). A redirect could move the
 * trust to another name, a huge or slow body could stall the queue, and a user-uploaded file of
 * another type on the same web server must not become a policy — each is refused here.
 *
 * Errors are TlsPolicyError with the RFC 8460 type: sts-webpki-invalid for certificate
 * problems, sts-policy-fetch-error for everything else (network, HTTP, timeouts).
 */
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { caWithExtra, type PemLike } from './pkix';
import { TlsPolicyError, policyInvalid } from './policy-error';
import { MAX_POLICY_BYTES, normalizeHostName } from './mta-sts-policy';
import { isCertificateVerificationError, tlsFailureFromAuthorizationError } from './tlsrpt';
import type { ErrorCode } from '../errors';

/** Fetches the policy body for a (normalized A-label) domain. Throws TlsPolicyError. */
export type MtaStsFetcher = (domain: string) => Promise<string>;

export interface MtaStsFetchOptions {
  /** Total time for the whole request, ms. Default 10 s. */
  timeoutMs?: number | undefined;
  /** Time for TCP connect plus TLS handshake, ms. Default: timeoutMs. */
  connectTimeoutMs?: number | undefined;
  /** HTTPS port. 443; tests use an ephemeral one. */
  port?: number | undefined;
  /** Extra trusted CA(s), added to the default roots (tests, private deployments). */
  ca?: PemLike | readonly PemLike[] | undefined;
  /**
   * Returns the IP address to connect to for a host name (default: the system resolver).
   * The TLS server name and certificate check stay `mta-sts.<domain>`, so tests can point the
   * name at 127.0.0.1 without weakening verification.
   */
  connectTo?: ((host: string) => string | Promise<string>) | undefined;
  signal?: AbortSignal | undefined;
}

const DEFAULT_TIMEOUT_MS = 10_000;

export function createMtaStsFetcher(opts: MtaStsFetchOptions = {}): MtaStsFetcher {
  return (domain) => fetchMtaStsPolicyText(domain, opts);
}

export function fetchMtaStsPolicyText(domain: string, opts: MtaStsFetchOptions = {}): Promise<string> {
  const d = normalizeHostName(domain);
  if (d === null) {
    return Promise.reject(fetchError('INVALID_INPUT', `invalid domain ${JSON.stringify(domain.slice(0, 64))}`, undefined));
  }
  // RFC 8461 §3.3: the policy host is always "mta-sts." + the Policy Domain.
  const host = `mta-sts.${d}`;
  const totalMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const connectMs = Math.min(opts.connectTimeoutMs ?? totalMs, totalMs);

  return new Promise<string>((resolve, reject) => {
    let settled = false;
    const timers: ReturnType<typeof setTimeout>[] = [];
    const finish = (err: Error | null, body?: string) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      opts.signal?.removeEventListener('abort', onAbort);
      if (err) {
        req.destroy();
        reject(err);
      } else {
        resolve(body!);
      }
    };
    const onAbort = () => finish(fetchError('CANCELED', `fetching the MTA-STS policy of ${d} was aborted`, host));

    const req = https.request({
      host,
      servername: host,
      port: opts.port ?? 443,
      method: 'GET',
      path: '/.well-known/mta-sts.txt',
      headers: { accept: 'text/plain' },
      agent: false, // no pooled connection from another configuration
      rejectUnauthorized: true, // RFC 8461 §3.3: PKIX-valid certificate for mta-sts.<domain>
      ca: caWithExtra(opts.ca),
      lookup: opts.connectTo ? lookupVia(opts.connectTo) : undefined,
    });

    timers.push(setTimeout(() => finish(fetchError('TIMEOUT', `MTA-STS policy fetch from ${host} timed out after ${totalMs} ms`, host)), totalMs));
    const connectTimer = setTimeout(
      () => finish(fetchError('TIMEOUT', `connecting to ${host} timed out after ${connectMs} ms`, host)),
      connectMs,
    );
    timers.push(connectTimer);
    req.once('socket', (socket) => socket.once('secureConnect', () => clearTimeout(connectTimer)));

    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    req.on('error', (err: NodeJS.ErrnoException) => finish(classifyRequestError(err, host)));
    req.on('response', (res) => {
      // Registered first: destroying the request below makes an unfinished response emit 'error'.
      res.on('error', (err) => finish(classifyRequestError(err, host)));
      const problem = checkResponse(res, host);
      if (problem) {
        res.resume();
        return finish(problem);
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        // RFC 8461 §3.3: bounded body; stop reading as soon as the limit is passed.
        if (size > MAX_POLICY_BYTES) return finish(fetchError('INVALID_INPUT', `MTA-STS policy from ${host} larger than 64 KiB`, host));
        chunks.push(chunk);
      });
      res.on('aborted', () => finish(fetchError('CONNECTION_CLOSED', `${host} closed the connection mid-body`, host)));
      res.on('end', () => {
        if (settled) return;
        let text: string;
        try {
          text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
        } catch {
          return finish(policyInvalid(`MTA-STS policy from ${host} is not valid UTF-8`, host));
        }
        finish(null, text);
      });
    });
    req.end();
  });
}

/** Returns an error for a response we must not read as a policy, or null. */
function checkResponse(res: IncomingMessage, host: string): TlsPolicyError | null {
  const status = res.statusCode ?? 0;
  // RFC 8461 §3.3: "Senders MUST NOT follow redirects."
  if (status >= 300 && status < 400) {
    return fetchError('INVALID_INPUT', `${host} answered with a redirect (HTTP ${status}); MTA-STS forbids following it`, host);
  }
  // RFC 8461 §3.3: only a 200 response is a policy.
  if (status !== 200) return fetchError('INVALID_INPUT', `${host} answered HTTP ${status}`, host);
  // RFC 8461 §3.3: media type text/plain; parameters such as charset are fine.
  const type = (res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'text/plain') {
    return fetchError('INVALID_INPUT', `${host} served the policy as ${JSON.stringify(type || 'no content type')}, not text/plain`, host);
  }
  const length = Number(res.headers['content-length']);
  if (Number.isFinite(length) && length > MAX_POLICY_BYTES) {
    return fetchError('INVALID_INPUT', `MTA-STS policy from ${host} larger than 64 KiB`, host);
  }
  return null;
}

function classifyRequestError(err: NodeJS.ErrnoException, host: string): TlsPolicyError {
  if (err instanceof TlsPolicyError) return err;
  if (isCertificateVerificationError(err.code)) {
    // RFC 8460 §4.3.2.2: certificate problems on the policy host are sts-webpki-invalid.
    const { reason } = tlsFailureFromAuthorizationError(err);
    return new TlsPolicyError({
      code: 'CERT_INVALID',
      message: `certificate of ${host} rejected: ${reason}`,
      tlsrptFailure: 'sts-webpki-invalid',
      host,
      cause: err,
    });
  }
  const code: ErrorCode = err.code === 'ETIMEDOUT' ? 'TIMEOUT' : err.code === 'ECONNRESET' ? 'CONNECTION_CLOSED' : 'CONNECT_FAILED';
  return new TlsPolicyError({ code, message: `fetching the MTA-STS policy from ${host} failed: ${err.message}`, tlsrptFailure: 'sts-policy-fetch-error', host, cause: err });
}

function fetchError(code: ErrorCode, message: string, host: string | undefined): TlsPolicyError {
  return new TlsPolicyError({ code, message, tlsrptFailure: 'sts-policy-fetch-error', host });
}

/** Adapts connectTo() to net's lookup callback, in both its single and `all: true` forms. */
export function lookupVia(connectTo: (host: string) => string | Promise<string>): LookupFunction {
  return (hostname, options, callback) => {
    Promise.resolve()
      .then(() => connectTo(hostname))
      .then(
        (address) => {
          const family = address.includes(':') ? 6 : 4;
          if (options.all) (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address, family }]);
          else callback(null, address, family);
        },
        (err: unknown) => callback(err instanceof Error ? (err as NodeJS.ErrnoException) : new Error(String(err)), '', 4),
      );
  };
}
