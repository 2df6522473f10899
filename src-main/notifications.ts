/**
 * What the desktop tells the user outside the window: an OS notification when a message fails
 * permanently or goes out without encryption (when the tray recounts: lifecycle.ts).
 * Pure (no Electron), so it is tested under Node; main.ts shows the results.
 */
import type { OutboxEvent } from '../shared/contract';

export interface DesktopNotification {
  title: string;
  body: string;
  /** Which message to open when the notification is clicked. */
  messageId: string;
}

/** Longest notification body: the OS shows two or three lines; the app shows the rest. */
export const MAX_NOTIFICATION_CHARS = 200;

/**
 * Notice text carries what remote servers said (replies, host names). In a notification it is
 * plain text: no controls or bidi overrides, one line, no markup (Linux notification servers
 * render <b>, <a href> and &entities; in the body), and short.
 */
export function plainNotificationText(text: string, max = MAX_NOTIFICATION_CHARS): string {
  const plain = text
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f]+/g, ' ')
    .replace(/</g, '‹')
    .replace(/>/g, '›')
    .replace(/&/g, '＆')
    .replace(/\s+/g, ' ')
    .trim();
  const chars = [...plain];
  return chars.length > max ? `${chars.slice(0, max - 1).join('').trimEnd()}…` : plain;
}

export function notificationsFor(batch: readonly OutboxEvent[]): DesktopNotification[] {
  const out: DesktopNotification[] = [];
  for (const e of batch) {
    if (e.type !== 'notice') continue;
    if (e.kind === 'failure') out.push({ title: 'Message not delivered', body: plainNotificationText(e.text), messageId: e.messageId });
    else if (e.kind === 'unencrypted') out.push({ title: 'Sent without encryption', body: plainNotificationText(e.text), messageId: e.messageId });
  }
  // A burst (a whole domain failing) becomes one summary instead of a wall of popups.
  if (out.length > 3) {
    return [{ title: `${out.length} delivery problems`, body: 'Open Direct Outbox to see which messages need attention.', messageId: out[0]!.messageId }];
  }
  return out;
}
