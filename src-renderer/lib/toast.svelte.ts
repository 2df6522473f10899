/**
 * Short-lived notices with an optional action ("Draft discarded — Undo"). One list for the
 * app, shown in a polite live region; each disappears after its time unless the pointer or
 * focus is on it, so a keyboard user can reach the action.
 */
export interface Toast {
  id: number;
  text: string;
  action?: { label: string; run: () => void | Promise<void> };
  timeoutMs: number;
  /** Shown after the text as a live "sending in 7 s" (not announced each second). */
  countdownTo?: number;
  countdownLabel?: string;
}

let nextId = 1;

export class ToastStore {
  #items = $state.raw<Toast[]>([]);
  #timers = new Map<number, ReturnType<typeof setTimeout>>();

  get items(): Toast[] {
    return this.#items;
  }

  show(t: Omit<Toast, 'id' | 'timeoutMs'> & { timeoutMs?: number }): number {
    const toast: Toast = { timeoutMs: 8000, ...t, id: nextId++ };
    this.#items = [...this.#items, toast];
    this.#arm(toast);
    return toast.id;
  }

  dismiss(id: number): void {
    clearTimeout(this.#timers.get(id));
    this.#timers.delete(id);
    this.#items = this.#items.filter((t) => t.id !== id);
  }

  /** Pointer or focus on the toast: it stays until they leave. */
  hold(id: number): void {
    clearTimeout(this.#timers.get(id));
    this.#timers.delete(id);
  }
  release(id: number): void {
    const t = this.#items.find((x) => x.id === id);
    if (t) this.#arm(t);
  }

  async act(id: number): Promise<void> {
    const t = this.#items.find((x) => x.id === id);
    this.dismiss(id);
    await t?.action?.run();
  }

  #arm(t: Toast): void {
    clearTimeout(this.#timers.get(t.id));
    this.#timers.set(t.id, setTimeout(() => this.dismiss(t.id), t.timeoutMs));
  }
}

export const toasts = new ToastStore();
