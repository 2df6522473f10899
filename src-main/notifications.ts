/**
 * What the desktop tells the user outside the window: an OS notification when a message fails
 * permanently or goes out without encryption, and the unsent count for the tray/dock badge.
 * Pure (no Electron), so it is tested under Node; main.ts shows the results.
 */
import type { OutboxEvent } from '../shared/contract';

export interface DesktopNotification {
  title: string;
  body: string;
  /** Which message to open when the notification is clicked. */
  messageId: string;
}

export function notificationsFor(batch: readonly OutboxEvent[]): DesktopNotification[] {
  const out: DesktopNotification[] = [];
  for (const e of batch) {
    if (e.type !== 'notice') continue;
    if (e.kind === 'failure') out.push({ title: 'Message not delivered', body: e.text, messageId: e.messageId });
    else if (e.kind === 'unencrypted') out.push({ title: 'Sent without encryption', body: e.text, messageId: e.messageId });
  }
  // A burst (a whole domain failing) becomes one summary instead of a wall of popups.
  if (out.length > 3) {
    return [{ title: `${out.length} delivery problems`, body: 'Open Direct Outbox to see which messages need attention.', messageId: out[0]!.messageId }];
  }
  return out;
}

/** Whether a batch can change the number of unsent messages (worth recounting). */
export function affectsUnsentCount(batch: readonly OutboxEvent[]): boolean {
  return batch.some((e) => e.type === 'message-added' || e.type === 'recipient-state');
}
