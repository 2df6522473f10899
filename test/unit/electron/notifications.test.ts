import { expect, test } from 'vitest';
import { MAX_NOTIFICATION_CHARS, notificationsFor, plainNotificationText } from '../../../src-main/notifications';
import { Store } from '../../../src-main/core/store/store';
import { tmpDir } from '../../helpers/tmp';
import { newMessage } from '../store/fixtures';

test('failures and unencrypted deliveries notify; delays and state changes do not', () => {
  expect(
    notificationsFor([
      { type: 'notice', messageId: 'm1', kind: 'failure', text: 'Delivery to a@x.test failed: 550 5.1.1 no such user' },
      { type: 'notice', messageId: 'm2', kind: 'unencrypted', text: 'delivered to y.test without encryption' },
      { type: 'notice', messageId: 'm3', kind: 'delay', text: 'not yet delivered' },
      { type: 'recipient-state', messageId: 'm1', recipientId: 1, state: 'failed' },
    ]),
  ).toEqual([
    { title: 'Message not delivered', body: 'Delivery to a@x.test failed: 550 5.1.1 no such user', messageId: 'm1' },
    { title: 'Sent without encryption', body: 'delivered to y.test without encryption', messageId: 'm2' },
  ]);
});

test('a burst of failures becomes one summary notification', () => {
  const batch = Array.from({ length: 40 }, (_, i) => ({ type: 'notice' as const, messageId: `m${i}`, kind: 'failure' as const, text: 'x' }));
  expect(notificationsFor(batch)).toEqual([{ title: '40 delivery problems', body: expect.any(String), messageId: 'm0' }]);
});

test('the unsent count covers messages with any recipient not yet final', () => {
  const { dir, cleanup } = tmpDir();
  const store = Store.open(dir);
  try {
    store.insertMessage(newMessage('m1', 1, ['a@x.test', 'b@x.test']));
    store.insertMessage(newMessage('m2', 2, ['c@x.test']));
    store.insertMessage(newMessage('m3', 3, ['d@x.test']));
    store.db.prepare("UPDATE recipients SET state = 'delivered' WHERE message_id IN ('m2') OR address = 'a@x.test'").run();
    store.db.prepare("UPDATE recipients SET state = 'held' WHERE message_id = 'm3'").run();
    expect(store.countUnsentMessages()).toBe(2);
  } finally {
    store.close();
    cleanup();
  }
});

test('text from remote servers is plain in a notification: no markup, controls or bidi, one line, cut to a sane length', () => {
  const hostile = `550 5.7.1 <b>Click</b> <a href="https://evil.example">here</a> &amp; \u202egnp.exe\r\nX-Injected: 1\u0007 ${'x'.repeat(5000)}`;
  const [n] = notificationsFor([{ type: 'notice', messageId: 'm1', kind: 'failure', text: hostile }]);
  expect(n!.body).not.toMatch(/[<>&\u0000-\u001f\u202a-\u202e]/);
  expect(n!.body.startsWith('550 5.7.1 ‹b›Click‹/b› ‹a href="https://evil.example"›here‹/a› ＆amp; gnp.exe X-Injected: 1 x')).toBe(true);
  expect([...n!.body].length).toBeLessThanOrEqual(MAX_NOTIFICATION_CHARS);
  expect(n!.body.endsWith('…')).toBe(true);
  expect(plainNotificationText('short <reply>')).toBe('short ‹reply›');
});
