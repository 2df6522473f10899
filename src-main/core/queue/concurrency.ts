/**
 * Per-destination concurrency with slow start, after Postfix's queue manager
 * (postconf(5): initial_destination_concurrency = 5, default_destination_concurrency_limit = 20,
 * destination_concurrency_positive_feedback = negative_feedback = 1/concurrency): a domain
 * starts with a few parallel deliveries; each delivery the destination handled (it took or
 * refused recipients) widens its window by 1/window, each it could not take (no connection,
 * timeouts, temporary refusal of everything) narrows it by 1/window, never below 1 nor above the
 * configured limit. A busy domain so grows to its limit within a few hundred deliveries, and a
 * struggling one is not hammered. The state of a domain is dropped when it has no more work
 * (as qmgr drops a destination that leaves the active queue).
 */

export const INITIAL_DOMAIN_CONCURRENCY = 5;

/** What a finished delivery says about its destination. */
export type Feedback = 'handled' | 'struggling' | 'neutral';

export class DomainConcurrency {
  readonly #window = new Map<string, number>();

  constructor(private readonly max: () => number) {}

  /** How many deliveries to the domain may run at once now. */
  limit(domain: string): number {
    return Math.max(1, Math.floor(Math.min(this.max(), this.#window.get(domain) ?? INITIAL_DOMAIN_CONCURRENCY)));
  }

  feedback(domain: string, f: Feedback): void {
    if (f === 'neutral') return;
    const max = this.max();
    const w = Math.min(max, this.#window.get(domain) ?? INITIAL_DOMAIN_CONCURRENCY);
    const next = f === 'handled' ? w + 1 / w : w - 1 / w;
    this.#window.set(domain, Math.max(1, Math.min(max, next)));
  }

  forget(domain: string): void {
    this.#window.delete(domain);
  }
}

/** Failures that say the destination cannot take more now (Postfix: negative feedback). */
const STRUGGLING = new Set(['TIMEOUT', 'CONNECT_FAILED', 'CONNECTION_CLOSED', 'DNS_TEMPORARY']);

/**
 * The destination's feedback of one delivery: handled when a server took or answered for some
 * recipient; struggling when every recipient was deferred by connection trouble or a 421
 * ("service not available, closing channel"); neutral otherwise (the queued file, an internal
 * error, a policy of ours: nothing learned about the destination's capacity).
 */
export function destinationFeedback(recipients: readonly { status: string; code: number | null; errorCode: string | null }[]): Feedback {
  if (recipients.length === 0) return 'neutral';
  if (recipients.every((r) => r.status === 'deferred' && (r.code === 421 || (r.errorCode !== null && STRUGGLING.has(r.errorCode))))) return 'struggling';
  if (recipients.some((r) => r.status === 'delivered' || (r.code !== null && r.errorCode === 'SMTP_REPLY'))) return 'handled';
  return 'neutral';
}
