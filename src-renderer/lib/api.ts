/**
 * The renderer's only door to main: `window.outbox`, typed from the shared contract. Calls
 * resolve to the value or throw an ApiError carrying the contract's error code and field
 * problems, so views can show errors where they happen.
 */
import type { AttachmentInfo, ChannelName, EventName, EventPayload, IpcError, OutboxApi, RequestOf, ResponseOf } from '../../shared/contract';

declare global {
  interface Window {
    outbox?: OutboxApi;
  }
}

export class ApiError extends Error {
  readonly code: IpcError['code'];
  readonly fields: NonNullable<IpcError['fields']>;
  constructor(error: IpcError) {
    super(error.message);
    this.code = error.code;
    this.fields = error.fields ?? [];
  }
}

function bridge(): OutboxApi {
  const api = window.outbox;
  if (!api) throw new Error('window.outbox is missing: the preload did not run');
  return api;
}

export async function call<C extends ChannelName>(channel: C, request: RequestOf<C>): Promise<ResponseOf<C>> {
  const result = await bridge().invoke(channel, request);
  if (!result.ok) throw new ApiError(result.error);
  return result.value;
}

export function subscribe<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void {
  return bridge().on(event, listener);
}

export function ready(): void {
  bridge().ready();
}

/** Dropped files, granted by main (the page never sees their paths). */
export async function attachFiles(files: File[]): Promise<AttachmentInfo[]> {
  const result = await bridge().attachFiles(files);
  if (!result.ok) throw new ApiError(result.error);
  return result.value;
}
