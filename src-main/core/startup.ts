/**
 * Opening the outbox for the desktop app, with the recovery a user is offered when the
 * database is missing, zero-length or damaged while messages/ still holds queued messages
 * (issue 10 item 8; store/message-files.ts, store/recover.ts). The app never starts as an
 * empty outbox over queued mail: it says what is wrong and which files it found, and offers
 * "Recover N queued messages" (each .eml re-queued with the envelope stored beside it) or Quit.
 *
 * The decision and the wording live here, under plain Node; main.ts only turns a
 * StartupPrompt into a native message box (StartupUi) and opens a folder.
 */
import path from 'node:path';
import { DataDirError, peekEnvelope } from './store/message-files';
import { Outbox, type OutboxOptions } from './outbox';

export type StartupAction = 'recover' | 'show-files' | 'quit' | 'continue';

/** One message box: the first choice is the default; Escape picks `cancel`. */
export interface StartupPrompt {
  kind: 'recovery' | 'recovered' | 'failed';
  type: 'warning' | 'info' | 'error';
  title: string;
  message: string;
  detail: string;
  choices: { label: string; action: StartupAction }[];
  /** Index in `choices` of what closing the box means. */
  cancel: number;
}

export interface StartupUi {
  /** Shows the prompt; resolves with the index of the choice the user took. */
  ask(prompt: StartupPrompt): Promise<number>;
  /** Shows a folder in the file manager. */
  showFolder(dir: string): Promise<void>;
}

export interface StartupDeps {
  open?: (opts: OutboxOptions) => Outbox;
  recover?: typeof Outbox.recover;
}

/** At most this many files are named one by one; the rest are counted. */
const LISTED = 10;

/**
 * Opens the outbox; when it cannot be trusted as it is, asks the user and recovers. Resolves
 * with the open outbox, or null when the user quit or it cannot be opened (the user was told).
 */
export async function openOutboxForApp(opts: OutboxOptions, ui: StartupUi, deps: StartupDeps = {}): Promise<Outbox | null> {
  const open = deps.open ?? ((o: OutboxOptions) => new Outbox(o));
  const recover = deps.recover ?? Outbox.recover;
  try {
    return open(opts);
  } catch (e) {
    if (!(e instanceof DataDirError)) return fail(ui, 'The outbox database could not be opened.', e, opts.dataDir);
    const messagesDir = path.join(opts.dataDir, 'messages');
    for (;;) {
      const prompt = recoveryPrompt(e, opts.dataDir);
      const action = prompt.choices[await ui.ask(prompt)]?.action ?? 'quit';
      if (action === 'show-files') {
        await ui.showFolder(messagesDir);
        continue;
      }
      if (action !== 'recover') return null;
      break;
    }
  }
  let report;
  let core: Outbox;
  try {
    report = await recover(opts.dataDir, { nativeBinding: opts.nativeBinding });
    core = open(opts);
  } catch (e) {
    return fail(ui, 'The queued messages could not be recovered.', e, opts.dataDir);
  }
  const done = recoveredPrompt(report);
  // Told in the box below (and logged by main), not as a start-up notice: those are the
  // renderer's "stored setting ignored" banner.
  const action = done.choices[await ui.ask(done)]?.action ?? 'continue';
  if (action === 'quit') {
    await core.close();
    return null;
  }
  return core;
}

/** What is wrong, which files were found, and the choices. */
export function recoveryPrompt(err: DataDirError, dataDir: string): StartupPrompt {
  const n = err.files.length;
  const what = { missing: 'is missing', empty: 'is empty (zero bytes)', damaged: 'is damaged' }[err.reason];
  const messagesDir = path.join(dataDir, 'messages');
  const listed = err.files.slice(0, LISTED).map((f) => `• ${describeFile(messagesDir, f)}`);
  if (n > LISTED) listed.push(`• and ${n - LISTED} more`);
  const db = path.join(dataDir, 'outbox.sqlite3');
  if (n === 0) {
    return {
      kind: 'recovery',
      type: 'warning',
      title: 'Direct Outbox',
      message: 'The outbox database is damaged.',
      detail:
        `${db} cannot be read. No queued message was found in ${messagesDir}.\n\n` +
        'Start with a new database to continue: the damaged one is kept beside it, renamed, not deleted. ' +
        'Settings, identities and history are in the damaged file and will not be in the new one.',
      choices: [
        { label: 'Start with a new database', action: 'recover' },
        { label: 'Quit', action: 'quit' },
      ],
      cancel: 1,
    };
  }
  return {
    kind: 'recovery',
    type: 'warning',
    title: 'Direct Outbox',
    message: `The outbox database ${what}, but ${n} queued message${n === 1 ? '' : 's'} ${n === 1 ? 'is' : 'are'} waiting to be sent.`,
    detail:
      `Database: ${db}\nQueued files found in ${messagesDir}:\n${listed.join('\n')}\n\n` +
      'Nothing was sent or changed. Recover puts each message back in the queue with the envelope saved beside it ' +
      '(sender, recipients, TLS mode) and starts sending; a file that no longer matches its envelope is moved aside, not sent and not deleted. ' +
      (err.reason === 'damaged' ? 'The damaged database is kept beside the new one, renamed, not deleted. ' : '') +
      'Settings, identities and history were in the lost database.',
    choices: [
      { label: `Recover ${n} queued message${n === 1 ? '' : 's'}`, action: 'recover' },
      { label: 'Show the files', action: 'show-files' },
      { label: 'Quit', action: 'quit' },
    ],
    cancel: 2,
  };
}

/** What the recovery did. */
export function recoveredPrompt(report: Awaited<ReturnType<typeof Outbox.recover>>): StartupPrompt {
  const n = report.requeued.length;
  const lines: string[] = [];
  if (report.movedAside) lines.push(`The damaged database was kept as ${report.movedAside}.`);
  if (report.problems.length) {
    const kept = [...new Set(report.problems.map((p) => p.keptIn))].join(', ');
    lines.push(`${report.problems.length} file${report.problems.length === 1 ? '' : 's'} could not be recovered; ${report.problems.length === 1 ? 'it was' : 'they were'} kept in ${kept} in the data folder:`);
    for (const p of report.problems.slice(0, LISTED)) lines.push(`• ${p.file}: ${p.reason}`);
    if (report.problems.length > LISTED) lines.push(`• and ${report.problems.length - LISTED} more`);
  }
  return {
    kind: 'recovered',
    type: report.problems.length ? 'warning' : 'info',
    title: 'Direct Outbox',
    message: n ? `${n} queued message${n === 1 ? ' was' : 's were'} recovered and will be sent.` : 'A new outbox database was started.',
    detail: lines.join('\n'),
    choices: [
      { label: 'Continue', action: 'continue' },
      { label: 'Quit', action: 'quit' },
    ],
    cancel: 0,
  };
}

async function fail(ui: StartupUi, message: string, e: unknown, dataDir: string): Promise<null> {
  await ui.ask({
    kind: 'failed',
    type: 'error',
    title: 'Direct Outbox cannot start',
    message,
    detail: `${e instanceof Error ? e.message : String(e)}\n\nData folder: ${dataDir}\nNothing was changed.`,
    choices: [{ label: 'Quit', action: 'quit' }],
    cancel: 0,
  });
  return null;
}

/** `messages/<id>.eml — "Subject" to a@x.test and 2 more`, from its envelope when readable. */
function describeFile(messagesDir: string, file: string): string {
  const env = peekEnvelope(messagesDir, path.basename(file, '.eml'));
  if (!env) return file;
  const subject = oneLine(env.subject, 60) || '(no subject)';
  const [first, ...rest] = env.recipients;
  return `${file} — “${subject}” to ${oneLine(first!.address, 80)}${rest.length ? ` and ${rest.length} more` : ''}`;
}

function oneLine(s: string, max: number): string {
  const flat = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
