/**
 * The IPC handlers of Settings → Sending: transports and routes (issue 12). They call the same
 * TransportService as the CLI. A password arrives from the renderer only as a value for the
 * keychain (the renderer never names a file or environment variable for main to read), and
 * never goes back: every response is the password-free Transport view.
 */
import type { ChannelName } from '../shared/contract';
import { parseMailbox } from './core/compose/address';
import type { Outbox } from './core/outbox';
import type { FieldError } from './core/transport/config';
import { IpcFailure, type HandlerTable } from './ipc-handlers';

type TransportChannels = Extract<ChannelName, `transports.${string}` | `routes.${string}`>;

function unwrap<T>(r: { ok: true; value: T } | { ok: false; errors: FieldError[] }, code: 'VALIDATION' | 'NOT_FOUND' | 'CONFLICT' = 'VALIDATION'): T {
  if (r.ok) return r.value;
  throw new IpcFailure(code, r.errors.map((e) => e.message).join('; '), r.errors.map((e) => ({ path: e.field, message: e.message })));
}

export function transportHandlers(core: Outbox): Pick<HandlerTable, TransportChannels> {
  const t = core.transports;
  return {
    'transports.list': () => ({ transports: t.list(), routes: t.routes() }),
    'transports.save': ({ transport, password }) => unwrap(t.save(transport, password === undefined ? undefined : { kind: 'value', value: password })),
    'transports.remove': ({ name }) => {
      if (!t.get(name)) throw new IpcFailure('NOT_FOUND', `no transport named ${name}`);
      unwrap(t.remove(name), 'CONFLICT');
      return {};
    },
    'transports.test': async ({ name, domain }) => {
      if (!t.get(name)) throw new IpcFailure('NOT_FOUND', `no transport named ${name}`);
      const own = core.store.listIdentities()[0]?.address.split('@').pop();
      return t.test(name, { domain: domain ?? own });
    },
    'routes.add': (input) => unwrap(t.addRoute(input)),
    'routes.remove': ({ id }) => (unwrap(t.removeRoute(id), 'NOT_FOUND'), {}),
    'routes.move': ({ id, before }) => unwrap(t.moveRoute(id, before), 'NOT_FOUND'),
    'routes.match': ({ sender, domains }) => {
      // The envelope form, as the queue matches it: local@A-label (an unparsable sender matches no sender route).
      const parsed = parseMailbox(sender);
      const mailFrom = parsed.ok ? parsed.value.envelope : '';
      return t.match(mailFrom, domains.map((d) => d.toLowerCase().replace(/\.$/, '')));
    },
  };
}
