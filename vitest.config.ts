import { defineConfig } from 'vitest/config';

// The readiness check's Internet defaults (real MX hosts, public resolvers, Spamhaus) are refused
// in every test process and its children: a test must name loopback targets (targets.ts).
const env = { OUTBOX_READINESS_DEFAULTS: 'refuse' };

// Three layers (style.md §6): unit + in-process peers run everywhere (`npm test`); real peers
// (Postfix, knot, unbound — root on Debian) and browser tests run in `npm run test:all` and CI.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts'],
          environment: 'node',
          env,
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'peers',
          include: ['test/peers/**/*.test.ts'],
          environment: 'node',
          env,
          // Postfix, knot and unbound start once per run (root, Debian), stop at the end.
          globalSetup: ['test/peers/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          env,
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
