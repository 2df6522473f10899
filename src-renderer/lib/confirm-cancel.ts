/**
 * Cancel asks first, naming what is lost: which recipients will not receive the message (those
 * still waiting), and that those already delivered keep it.
 */
import type { MessageSummary } from '../../shared/domain';
import { confirmAction } from './confirm.svelte';

const WAITING = new Set(['queued', 'sending', 'deferred', 'held']);

export function confirmCancel(message: Pick<MessageSummary, 'subject' | 'recipients'>, recipientId?: number): Promise<boolean> {
  const waiting = message.recipients.filter((r) => WAITING.has(r.state) && (recipientId === undefined || r.id === recipientId));
  const delivered = message.recipients.filter((r) => r.state === 'delivered').length;
  const subject = message.subject || '(no subject)';
  const names = waiting.map((r) => r.address);
  const shown = names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');
  return confirmAction({
    title: recipientId === undefined ? `Cancel “${subject}”?` : `Cancel delivery to ${shown}?`,
    body: `${shown || 'No recipient'} will not receive “${subject}”; it cannot be resumed.${delivered ? ` The ${delivered} recipient${delivered === 1 ? '' : 's'} already delivered keep${delivered === 1 ? 's' : ''} it.` : ''}`,
    confirmLabel: 'Cancel delivery',
    danger: true,
  });
}
