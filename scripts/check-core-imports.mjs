#!/usr/bin/env node
// Lint rule for the architecture's main boundary: src-main/core/ runs under plain Node (tests,
// CLI, benchmarks), so it may import only node:* built-ins, its own files, the shared contract,
// and the few well-kept libraries listed here — never Electron, never renderer code.
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const coreDir = path.join(root, 'src-main', 'core');
const sharedDir = path.join(root, 'shared');
const ALLOWED_PACKAGES = new Set(['better-sqlite3', 'dns-packet', 'nodemailer', 'mailauth', 'zod', 'socks']);

const files = [];
(function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (/\.(ts|mts|cts|js|mjs)$/.test(e.name)) files.push(p);
  }
})(coreDir);

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:import|require)\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g;
const problems = [];
for (const file of files) {
  const src = fs.readFileSync(file, 'utf8');
  for (const m of src.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3];
    const where = path.relative(root, file);
    if (spec.startsWith('.')) {
      const target = path.resolve(path.dirname(file), spec);
      if (!target.startsWith(coreDir + path.sep) && !target.startsWith(sharedDir + path.sep) && target !== sharedDir) {
        problems.push(`${where}: imports ${spec}, outside core/ and shared/`);
      }
    } else if (spec.startsWith('node:')) {
      continue;
    } else {
      const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
      if (!ALLOWED_PACKAGES.has(pkg)) problems.push(`${where}: imports '${spec}' (core/ allows node:*, ${[...ALLOWED_PACKAGES].join(', ')})`);
    }
  }
}
if (problems.length) {
  console.error(`core/ import boundary violated:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`core/ import boundary: ${files.length} files ok`);
