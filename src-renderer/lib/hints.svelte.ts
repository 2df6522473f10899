/**
 * What the composer knows about each recipient domain's TLS: the engine's stored hints
 * (tls.hints, answered at once from the database) and the live pre-send probe (tls.probe,
 * debounced and cached here per domain so typing never floods main with probes).
 *
 * Indicators combine both: a fresh probe wins over a stored hint, and each says where it came
 * from and when it was seen, so the UI never presents a guess as a fact.
 */
import type { DomainTlsHint, ProbeResult, TlsMode } from '../../shared/domain';
import { recipientVerdict, type Verdict } from '../../shared/verdict';
import { call } from './api';
import { debounce } from './debounce';
import { errorText } from './format';

export type ProbeState =
  | { status: 'pending' }
  | { status: 'done'; result: ProbeResult }
  | { status: 'error'; message: string };

export type IndicatorKey = 'starttls' | 'requiretls' | 'mtasts' | 'dane';

export interface Indicator {
  key: IndicatorKey;
  label: string;
  /** yes: supported/enforced; partial: MTA-STS testing; no: known absent; unknown: never seen. */
  state: 'yes' | 'partial' | 'no' | 'unknown';
  /** What it means, for the tooltip and screen readers. */
  meaning: string;
  source: 'probe' | 'hint' | null;
  at: number | null;
}

const PROBE_DELAY_MS = 600;
/** A probe is re-run after this long (the engine caches 5 minutes too). */
const PROBE_TTL_MS = 5 * 60_000;

const MEANING: Record<IndicatorKey, string> = {
  starttls: 'STARTTLS: the server offers encryption in transit (opportunistic unless a policy requires it)',
  requiretls: 'REQUIRETLS: the servers can carry a "TLS required" message onward (RFC 8689)',
  mtasts: 'MTA-STS: the domain publishes a policy requiring verified TLS to its listed servers (RFC 8461)',
  dane: 'DANE: DNSSEC-signed TLSA records pin the servers\' certificates (RFC 7672)',
};

export class TlsHintsStore {
  #hints = $state.raw<ReadonlyMap<string, DomainTlsHint>>(new Map());
  #probes = $state.raw<ReadonlyMap<string, ProbeState>>(new Map());
  #allRequireTls = $state.raw(false);
  #domains: string[] = [];
  #hintsSeq = 0;
  #probeTimers = new Map<string, ReturnType<typeof debounce<[]>>>();
  #probedAt = new Map<string, number>();

  get allRequireTls(): boolean {
    return this.#allRequireTls;
  }

  hint(domain: string): DomainTlsHint | undefined {
    return this.#hints.get(domain.toLowerCase());
  }

  probe(domain: string): ProbeState | undefined {
    return this.#probes.get(domain.toLowerCase());
  }

  /** Follows the composer's current set of recipient domains (ASCII form). */
  track(domains: string[]): void {
    const wanted = [...new Set(domains.map((d) => d.toLowerCase()))].sort();
    if (wanted.join(',') !== this.#domains.join(',')) {
      this.#domains = wanted;
      void this.#loadHints(wanted);
    }
    for (const d of wanted) this.#scheduleProbe(d);
  }

  async #loadHints(domains: string[]): Promise<void> {
    const seq = ++this.#hintsSeq;
    if (domains.length === 0) {
      this.#allRequireTls = false;
      return;
    }
    try {
      const r = await call('tls.hints', { domains });
      if (seq !== this.#hintsSeq) return;
      const next = new Map(this.#hints);
      for (const h of r.hints) next.set(h.domain.toLowerCase(), h);
      this.#hints = next;
      this.#allRequireTls = r.allRequireTls;
    } catch {
      // Hints are an optimisation; the probe still runs and sending is unaffected.
      if (seq === this.#hintsSeq) this.#allRequireTls = false;
    }
  }

  #scheduleProbe(domain: string): void {
    const last = this.#probedAt.get(domain);
    if (last !== undefined && Date.now() - last < PROBE_TTL_MS) return;
    let run = this.#probeTimers.get(domain);
    if (!run) {
      run = debounce(() => void this.#runProbe(domain), PROBE_DELAY_MS);
      this.#probeTimers.set(domain, run);
    }
    run();
  }

  async #runProbe(domain: string): Promise<void> {
    // A domain removed from the message before the delay ran is not probed.
    if (!this.#domains.includes(domain)) return;
    this.#probedAt.set(domain, Date.now());
    this.#setProbe(domain, { status: 'pending' });
    try {
      const result = await call('tls.probe', { domain });
      this.#setProbe(domain, { status: 'done', result });
    } catch (e) {
      this.#probedAt.delete(domain);
      this.#setProbe(domain, { status: 'error', message: errorText(e) });
    }
  }

  #setProbe(domain: string, state: ProbeState): void {
    const next = new Map(this.#probes);
    next.set(domain, state);
    this.#probes = next;
  }

  /** The one security verdict for a recipient domain under the message's TLS mode (shared/verdict.ts). */
  verdict(domain: string, tlsMode: TlsMode): Verdict {
    const d = domain.toLowerCase();
    return recipientVerdict({ tlsMode, probe: this.#probes.get(d), hint: this.#hints.get(d) });
  }

  /** Whether the domain is known to support REQUIRETLS: true, false, or null when unknown. */
  supportsRequireTls(domain: string): boolean | null {
    const i = this.indicators(domain).find((x) => x.key === 'requiretls');
    return !i || i.state === 'unknown' ? null : i.state === 'yes';
  }

  indicators(domain: string): Indicator[] {
    const d = domain.toLowerCase();
    const hint = this.#hints.get(d);
    const p = this.#probes.get(d);
    const probe = p?.status === 'done' && !p.result.error ? p.result : null;
    // Hosts the probe actually talked to; unreachable ones say nothing about support.
    const reached = probe ? probe.hosts.filter((h) => !h.error) : [];
    const fromProbe = probe && reached.length > 0;
    const at = fromProbe ? probe.at : (hint?.seenAt ?? null);
    const source = fromProbe ? 'probe' : hint ? 'hint' : null;

    const yesNo = (probeValue: boolean | undefined, hintValue: boolean | undefined): Indicator['state'] =>
      probeValue !== undefined ? (probeValue ? 'yes' : 'no') : hintValue !== undefined ? (hintValue ? 'yes' : 'no') : 'unknown';

    const starttls = yesNo(fromProbe ? reached.some((h) => h.starttls) : undefined, hint?.starttls);
    const requiretls = yesNo(fromProbe ? reached.every((h) => h.requiretls) : undefined, hint?.requiretls);
    const mode = probe ? probe.mtaStsMode : hint ? hint.mtaStsMode : undefined;
    const mtasts: Indicator['state'] = mode === undefined ? 'unknown' : mode === 'enforce' ? 'yes' : mode === 'testing' ? 'partial' : 'no';
    const dane = yesNo(probe ? probe.dane : undefined, hint?.dane);
    const policySource = probe ? 'probe' : hint ? 'hint' : null;
    const policyAt = probe ? probe.at : (hint?.seenAt ?? null);

    return [
      { key: 'starttls', label: 'STARTTLS', state: starttls, meaning: MEANING.starttls, source, at },
      { key: 'requiretls', label: 'REQUIRETLS', state: requiretls, meaning: MEANING.requiretls, source, at },
      {
        key: 'mtasts',
        label: mode === 'testing' ? 'MTA-STS testing' : 'MTA-STS',
        state: mtasts,
        meaning: MEANING.mtasts + (mode === 'testing' ? ' — testing mode: failures are reported, not enforced' : ''),
        source: policySource,
        at: policyAt,
      },
      { key: 'dane', label: 'DANE', state: dane, meaning: MEANING.dane, source: policySource, at: policyAt },
    ];
  }
}
