/**
 * The peers for one test file: the set started by global-setup.ts when the project has it,
 * else a set of this file's own (started here, stopped by release()). Either way the test
 * code is the same (the inject() key is declared in global-setup.ts):
 *
 *   let peers: Peers; let release: () => Promise<void>;
 *   beforeAll(async () => ({ peers, release } = await usePeers()));
 *   afterAll(() => release?.());
 */
import { inject } from 'vitest';
import { PEERS_STATE_DIR_ENV, attachPeers, startPeers } from './peers';
import type { Peers } from './peers';

export async function usePeers(): Promise<{ peers: Peers; release: () => Promise<void> }> {
  const stateDir = inject('peersStateDir') ?? process.env[PEERS_STATE_DIR_ENV];
  if (stateDir) {
    return { peers: await attachPeers(stateDir), release: async () => {} };
  }
  const peers = await startPeers();
  return { peers, release: () => peers.stopPeers() };
}
