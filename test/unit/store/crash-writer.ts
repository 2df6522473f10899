// Child process for the crash test: commits N messages, then opens a big transaction, says so
// on stdout, and keeps writing until the parent SIGKILLs it.
import { Store } from '../../../src-main/core/store/store';
import { newMessage } from './fixtures';

const [dataDir, committed] = process.argv.slice(2);
const store = Store.open(dataDir!);
for (let i = 0; i < Number(committed); i++) store.insertMessage(newMessage(`ok-${i}`, 1000 + i));
const insert = store.db.prepare(
  `INSERT INTO messages (id, created_at, mail_from, from_header, subject, size, raw_path) VALUES (?, ?, 'a@x', 'a@x', ?, 1, 'x')`,
);
store.db.exec('BEGIN IMMEDIATE');
for (let i = 0; ; i++) {
  insert.run(`partial-${i}`, i, 'x'.repeat(2000));
  if (i === 5000) process.stdout.write('in-transaction\n');
}
