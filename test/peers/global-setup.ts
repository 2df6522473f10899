/**
 * vitest globalSetup for the "peers" project: starts the real peers once for the whole run
 * and stops them at the end. Test files get them with usePeers() (use-peers.ts), which finds
 * the state dir through vitest's provide/inject and, as a fallback, $PEERS_STATE_DIR.
 */
import type { TestProject } from 'vitest/node';
import { PEERS_STATE_DIR_ENV, startPeers } from './peers';

declare module 'vitest' {
  export interface ProvidedContext {
    peersStateDir: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const peers = await startPeers();
  process.env[PEERS_STATE_DIR_ENV] = peers.stateDir;
  project.provide('peersStateDir', peers.stateDir);
  return async () => {
    await peers.stopPeers();
  };
}
