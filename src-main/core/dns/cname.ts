/**
 * Following CNAME chains inside one response (RFC 1034 §3.6.2, §4.3.2 step 3a; RFC 2181 §10.1).
 *
 * A recursive resolver returns the chain and the final RRset in one answer section, in any
 * order. We walk it from the name we asked, owner by owner, and ignore every record that is
 * not on that path (it answers nothing we asked and may be planted). When the walk ends at a
 * CNAME target without data, the caller asks again for that target (resolver.ts).
 *
 * Threat: a hostile or broken answer with a CNAME loop, a very long chain, several CNAMEs at
 * one owner or a CNAME beside other data. Each is a DNS_BOGUS error, never an endless walk.
 */
import { dnsBogus } from './dns-errors';
import type { WireRecord } from './message';
import { canonicalAnswerName, sameName } from './name';
import type { RRType } from './types';

/** Where a walk stands across several responses: the names seen and the hops left. */
export interface ChainState {
  /** Every name already on the chain, the queried one included (loop detection). */
  seen: Set<string>;
  /** CNAME targets followed so far, in order. */
  cnames: string[];
  maxHops: number;
}

export interface WalkResult {
  /** The name the walk ended at: the records' owner. */
  name: string;
  /** Records of the asked type owned by `name` (class IN). */
  records: WireRecord[];
  /** Whether this response added CNAME hops. */
  followed: boolean;
}

/** Walks `answers` from `start`; appends the CNAME targets it follows to `state`. */
export function walkAnswer(answers: readonly WireRecord[], start: string, type: RRType, state: ChainState): WalkResult {
  let name = start;
  let followed = false;
  for (;;) {
    const owned = answers.filter((a) => a.class === 'IN' && sameName(a.name, name));
    const records = owned.filter((a) => a.type === type);
    // Asked for the CNAME itself: it is the data, not a pointer to follow.
    const cnames = type === 'CNAME' ? [] : owned.filter((a) => a.type === 'CNAME');
    if (cnames.length === 0) return { name, records, followed };
    // RFC 2181 §10.1: one CNAME per owner, and no other data beside it (RFC 1034 §3.6.2).
    if (cnames.length > 1) throw dnsBogus(`DNS answer has ${cnames.length} CNAME records for ${name}`);
    if (records.length > 0) throw dnsBogus(`DNS answer has a CNAME and ${type} records for ${name}`);
    const raw = cnames[0]?.data;
    const target = typeof raw === 'string' ? canonicalAnswerName(raw) : undefined;
    if (target === undefined || target === '.') throw dnsBogus(`DNS answer has an invalid CNAME target for ${name}`);
    if (state.seen.has(target)) throw dnsBogus(`CNAME loop at ${target} (from ${[...state.seen].join(' → ')})`);
    if (state.cnames.length >= state.maxHops) {
      throw dnsBogus(`CNAME chain from ${[...state.seen][0] ?? start} longer than ${state.maxHops} hops`);
    }
    state.seen.add(target);
    state.cnames.push(target);
    name = target;
    followed = true;
  }
}
