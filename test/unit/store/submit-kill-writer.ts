// Child process for submit-kill.test.ts: submits without end, through all three ways into the
// queue (a draft, a ready-made .eml, the outbox's own bytes), and prints each acknowledged id
// ("acked <id>") the moment its submit returned, until the parent SIGKILLs it.
import fs from 'node:fs';
import path from 'node:path';
import { Outbox } from '../../../src-main/core/outbox';
import { submitBytes } from '../../../src-main/core/submit-bytes';
import { submitRaw } from '../../../src-main/core/submit-raw';

const [dataDir, attachment] = process.argv.slice(2) as [string, string];
const core = new Outbox({ dataDir, deliver: () => new Promise(() => {}) });
const raw = path.join(path.dirname(attachment), 'raw.eml');
fs.writeFileSync(raw, 'From: me@example.org\r\nTo: b@example.net\r\nSubject: raw\r\n\r\nraw body\r\n');
for (let i = 0; ; i++) {
  let id: string;
  if (i % 3 === 0) {
    const r = await core.submit({ from: 'me@example.org', to: [`a${i}@example.net`], cc: [], bcc: [], subject: `kill ${i}`, text: 'body', attachments: i % 2 ? [{ path: attachment }] : [], tlsMode: 'default' });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    id = r.messageId;
  } else if (i % 3 === 1) {
    const r = await submitRaw(raw, { from: 'me@example.org', to: [`r${i}@example.net`], tlsMode: 'default' }, { store: core.store, clock: core.clock });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    id = r.messageId;
  } else {
    const bytes = Buffer.from(`From: postmaster@example.org\r\nTo: b${i}@example.net\r\nSubject: own ${i}\r\n\r\nreport\r\n`);
    id = await submitBytes({ mailFrom: '', to: [`b${i}@example.net`], fromHeader: 'postmaster@example.org', subject: `own ${i}`, messageIdHeader: null, tlsMode: 'default', bytes }, { store: core.store, clock: core.clock });
  }
  process.stdout.write(`acked ${id}\n`);
}
