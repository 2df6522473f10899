/**
 * A reactive wall clock for countdowns: reading `now.value` inside an effect or template makes
 * it tick every second while something reads it, and stop when nothing does.
 */
import { createSubscriber } from 'svelte/reactivity';

class Now {
  #subscribe = createSubscriber((update) => {
    const timer = setInterval(update, 1000);
    return () => clearInterval(timer);
  });

  get value(): number {
    this.#subscribe();
    return Date.now();
  }
}

export const now = new Now();
