/**
 * "The network changed": the set of this machine's non-loopback interface addresses differs
 * from the last look (a new Wi-Fi, a VPN up or down, a DHCP renewal with a new address). Node
 * and Electron's main process have no event for it on every OS, so we look every few seconds —
 * os.networkInterfaces() is a cheap local call — and tell the caller once per change, after
 * the set has been stable for one more look (a network coming up changes several times).
 */
import os from 'node:os';
import type { Clock } from '../clock';

export interface NetworkWatchOptions {
  clock: Clock;
  onChange: () => void;
  intervalMs?: number;
  /** Injected for tests; default os.networkInterfaces. */
  interfaces?: () => NodeJS.Dict<os.NetworkInterfaceInfo[]>;
}

export function networkFingerprint(ifaces: NodeJS.Dict<os.NetworkInterfaceInfo[]>): string {
  return Object.entries(ifaces)
    .flatMap(([name, list]) => (list ?? []).filter((i) => !i.internal).map((i) => `${name}/${i.address}`))
    .sort()
    .join(',');
}

/** Starts watching; returns the function that stops it. */
export function watchNetwork(o: NetworkWatchOptions): () => void {
  const read = o.interfaces ?? os.networkInterfaces;
  const interval = o.intervalMs ?? 5000;
  let known = networkFingerprint(read());
  let pending: string | null = null;
  let stopped = false;
  let timer = o.clock.setTimer(interval, tick);
  function tick() {
    if (stopped) return;
    const now = networkFingerprint(read());
    if (now === known) pending = null;
    else if (pending === now) {
      known = now;
      pending = null;
      o.onChange();
    } else pending = now;
    timer = o.clock.setTimer(interval, tick);
  }
  return () => {
    stopped = true;
    timer.cancel();
  };
}
