import type os from 'node:os';
import { expect, it } from 'vitest';
import { ManualClock } from '../../../src-main/core/clock';
import { networkFingerprint, watchNetwork } from '../../../src-main/core/readiness/network-watch';

const iface = (address: string, internal = false) => ({ address, internal, family: 'IPv4', netmask: '255.255.255.0', mac: '00:00:00:00:00:00', cidr: null }) as unknown as os.NetworkInterfaceInfo;

it('tells once per change, after the new address set held for one more look; loopback is ignored', () => {
  const clock = new ManualClock();
  let current: NodeJS.Dict<os.NetworkInterfaceInfo[]> = { lo: [iface('127.0.0.1', true)], wlan0: [iface('192.0.2.10')] };
  let changes = 0;
  const stop = watchNetwork({ clock, intervalMs: 1000, interfaces: () => current, onChange: () => changes++ });
  clock.advance(5000);
  expect(changes).toBe(0);
  current = { ...current, lo: [iface('127.0.0.2', true)] };
  clock.advance(5000);
  expect(changes).toBe(0); // loopback only
  current = { lo: [iface('127.0.0.1', true)], wlan0: [iface('198.51.100.20')] };
  clock.advance(1000);
  expect(changes).toBe(0); // seen once: may still be settling
  clock.advance(1000);
  expect(changes).toBe(1);
  clock.advance(10_000);
  expect(changes).toBe(1);
  stop();
  current = { eth0: [iface('203.0.113.5')] };
  clock.advance(10_000);
  expect(changes).toBe(1);
});

it('fingerprints name and address, order-independent', () => {
  expect(networkFingerprint({ b: [iface('192.0.2.2')], a: [iface('192.0.2.1')] })).toBe('a/192.0.2.1,b/192.0.2.2');
});
