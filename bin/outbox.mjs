#!/usr/bin/env node
// The `outbox` command: the same core as the desktop app, headless. TypeScript runs through tsx.
import { register } from 'tsx/esm/api';

register();
await import('../src-main/cli.ts');
