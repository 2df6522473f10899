/**
 * The readiness check of delivery-rules.md §14 (`outbox doctor`, the app's readiness panel).
 * One module per check; run.ts puts them in order.
 */
export { runReadiness, port25Blocked } from './run';
export { resolveTargets, parseMyIpQuery, parsePort25Target, parseZone, DEFAULTS_ENV, type ReadinessTargets } from './targets';
export type { ReadinessDeps, ReadinessIdentity, IpFamilySetting } from './types';
