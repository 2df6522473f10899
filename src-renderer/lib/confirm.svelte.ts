/**
 * Asking before an action that loses something: `await confirmAction({...})` opens the app's
 * one confirmation dialog (components/common/ConfirmAction.svelte) naming what is lost, and
 * resolves true only when the user confirms; Esc, Cancel or closing resolve false.
 */
export interface ConfirmRequest {
  title: string;
  /** What is lost, in a sentence or two. */
  body: string;
  confirmLabel: string;
  danger?: boolean;
}

class ConfirmStore {
  #current = $state.raw<(ConfirmRequest & { resolve: (ok: boolean) => void }) | null>(null);

  get current() {
    return this.#current;
  }

  ask(req: ConfirmRequest): Promise<boolean> {
    this.#current?.resolve(false);
    return new Promise((resolve) => {
      this.#current = { ...req, resolve };
    });
  }

  answer(ok: boolean): void {
    const c = this.#current;
    this.#current = null;
    c?.resolve(ok);
  }
}

export const confirmer = new ConfirmStore();
export const confirmAction = (req: ConfirmRequest) => confirmer.ask(req);
