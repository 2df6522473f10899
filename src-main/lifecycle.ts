/**
 * The desktop app's decisions about staying alive, so retries spread over hours actually
 * happen (delivery-rules §10: a deferred message is retried for days): what closing the window
 * does, whether quitting asks, what the tray menu shows. Pure (no Electron), tested under Node;
 * main.ts and tray.ts only carry the results out.
 *
 * - Closing the window while mail is unsent keeps the outbox running in the tray (setting
 *   keepSendingInTray), explained once; with nothing unsent it closes as usual.
 * - Quitting with unsent mail asks, naming how many and what happens to them.
 * - macOS keeps apps running when their last window closes (the platform's convention), so
 *   closing there just closes; quitting still asks.
 */
import type { OutboxEvent } from '../shared/contract';

export interface CloseContext {
  /** Messages with a recipient still to be delivered. */
  unsent: number;
  keepSendingInTray: boolean;
  /** Some Linux desktops have no tray: hiding would leave no way back but launching again. */
  trayAvailable: boolean;
  platform: NodeJS.Platform;
  /** The one-time explanation was shown before. */
  explained: boolean;
}

export type CloseDecision =
  /** Hide the window; the tray keeps the outbox running. `explain`: show the explanation first. */
  | { action: 'hide'; explain: boolean }
  /** Closing the last window quits the app (which asks when mail is unsent: decideQuit). */
  | { action: 'quit' }
  /** Close the window and keep running (macOS). */
  | { action: 'close' };

export function decideClose(c: CloseContext): CloseDecision {
  if (c.platform === 'darwin') return { action: 'close' };
  if (c.unsent > 0 && c.keepSendingInTray && c.trayAvailable) return { action: 'hide', explain: !c.explained };
  return { action: 'quit' };
}

const messages = (n: number) => `${n} message${n === 1 ? '' : 's'}`;

/** The one-time explanation when the window goes to the tray. */
export function trayExplanation(unsent: number): { title: string; body: string } {
  return {
    title: 'Direct Outbox keeps sending',
    body: `${messages(unsent)} ${unsent === 1 ? 'is' : 'are'} not sent yet, so Direct Outbox keeps delivering from the tray. Quit from the tray menu; Settings → Desktop changes this.`,
  };
}

export type QuitAnswer = 'quit' | 'tray' | 'cancel';

export interface QuitPrompt {
  message: string;
  detail: string;
  /** Button labels in order, with what each means. */
  buttons: { label: string; answer: QuitAnswer }[];
  defaultId: number;
  cancelId: number;
}

/**
 * Whether quitting needs to ask, and what: null when nothing is unsent (quit at once). Queued
 * mail is never lost by quitting (it waits in the queue), but nothing is delivered or retried
 * while the app is closed, which is what the question is about.
 */
export function quitPrompt(c: { unsent: number; trayAvailable: boolean; openAtLogin: boolean }): QuitPrompt | null {
  if (c.unsent <= 0) return null;
  const buttons: QuitPrompt['buttons'] = [];
  if (c.trayAvailable) buttons.push({ label: 'Keep sending in the tray', answer: 'tray' });
  buttons.push({ label: 'Quit anyway', answer: 'quit' }, { label: 'Cancel', answer: 'cancel' });
  return {
    message: `${messages(c.unsent)} ${c.unsent === 1 ? 'is' : 'are'} not sent yet`,
    detail:
      'They stay in the outbox, but nothing is delivered or retried until Direct Outbox runs again.' +
      (c.openAtLogin ? ' It opens at login, in the tray.' : ' "Open at login (in the tray)" in Settings keeps retries going after a restart.'),
    buttons,
    defaultId: 0,
    cancelId: buttons.length - 1,
  };
}

/** The answer of a prompt's button index (a closed dialog counts as Cancel). */
export function quitAnswer(prompt: QuitPrompt, index: number): QuitAnswer {
  return prompt.buttons[index]?.answer ?? 'cancel';
}

export type TrayAction = 'show' | 'toggle-pause' | 'quit';

export type TrayItem =
  | { kind: 'status'; label: string }
  | { kind: 'action'; action: TrayAction; label: string; checked?: boolean }
  | { kind: 'separator' };

export interface TrayState {
  unsent: number;
  /** Messages that failed and whose failure the user has not seen yet. */
  failed: number;
  paused: boolean;
}

/** The tray menu: the counts (not clickable), Show, Pause sending (checked while paused), Quit. */
export function trayMenu(s: TrayState): TrayItem[] {
  return [
    { kind: 'status', label: trayStatus(s) },
    { kind: 'separator' },
    { kind: 'action', action: 'show', label: 'Show Direct Outbox' },
    { kind: 'action', action: 'toggle-pause', label: 'Pause sending', checked: s.paused },
    { kind: 'separator' },
    { kind: 'action', action: 'quit', label: 'Quit Direct Outbox' },
  ];
}

/** "3 unsent · 1 failed · sending paused", or "All sent". */
export function trayStatus(s: TrayState): string {
  const parts: string[] = [];
  if (s.unsent > 0) parts.push(`${s.unsent} unsent`);
  if (s.failed > 0) parts.push(`${s.failed} failed`);
  if (parts.length === 0) parts.push('All sent');
  if (s.paused) parts.push('sending paused');
  return parts.join(' · ');
}

/**
 * Whether a batch of engine events can change what the tray shows (its counts, the badge, the
 * paused state), so tray.ts recounts: a message queued, a recipient's state, a new notice,
 * notices seen (a failure dismissed lowers the failed count), the queue pausing.
 */
export function affectsTrayState(batch: readonly OutboxEvent[]): boolean {
  return batch.some((e) => e.type === 'message-added' || e.type === 'message-removed' || e.type === 'recipient-state' || e.type === 'notice' || e.type === 'notices-seen' || e.type === 'queue-state');
}

export function trayTooltip(s: TrayState): string {
  return `Direct Outbox — ${trayStatus(s)}`;
}

/**
 * The OS login item (Electron's app.setLoginItemSettings on macOS and Windows): started hidden,
 * in the tray. `--hidden` is how a Windows start at login is recognised (startsHidden).
 */
export function loginItemSettings(openAtLogin: boolean): { openAtLogin: boolean; openAsHidden: boolean; args: string[] } {
  return { openAtLogin, openAsHidden: true, args: openAtLogin ? [HIDDEN_FLAG] : [] };
}

export const HIDDEN_FLAG = '--hidden';

/** Whether this start is a start at login (no window, only the tray). */
export function startsHidden(argv: readonly string[], wasOpenedAtLogin: boolean, trayAvailable: boolean): boolean {
  return trayAvailable && (wasOpenedAtLogin || argv.includes(HIDDEN_FLAG));
}
