/**
 * The retry schedule of delivery-rules §10 (after mox's queue): first attempt at once, then
 * 7.5 min, 15 min, 30 min, 1 h, 2 h, 4 h, 8 h, 16 h after each failure, with ±10 % jitter so
 * many messages deferred together don't retry in lockstep. After the 8th failed retry (the 9th
 * failed attempt) or when the message's lifetime has passed, the queue gives up.
 */

export const FIRST_RETRY_MS = 7.5 * 60 * 1000;
export const MAX_RETRIES = 8;

/** Delay before the next attempt after `failedAttempts` failures (1 = the first attempt failed). */
export function retryDelayMs(failedAttempts: number, random: () => number = Math.random): number {
  const base = FIRST_RETRY_MS * 2 ** Math.max(0, failedAttempts - 1);
  const jitter = 1 + (random() * 2 - 1) * 0.1;
  return Math.round(base * jitter);
}

/** Whether to give up after `failedAttempts` failures, given when the message was queued. */
export function shouldGiveUp(failedAttempts: number, queuedAt: number, now: number, lifetimeMs: number): boolean {
  return failedAttempts > MAX_RETRIES || now - queuedAt >= lifetimeMs;
}
