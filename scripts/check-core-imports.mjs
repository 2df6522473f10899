#!/usr/bin/env node
// Lint rules for the architecture's boundaries (npm run lint:core):
//
// 1. src-main/core/ runs under plain Node (tests, CLI, benchmarks), so it may import only
//    node:* built-ins, its own files, the shared contract, and the few well-kept libraries
//    listed here — never Electron, never renderer code.
// 2. Layering: core is a stack of layers, each importing only the layers below it (and itself):
//
//      base (errors, clock, events) < net < dns < smtp < tls-policy < transport < delivery
//        < queue < app (outbox, probe, submit, export, readiness, reports, … everything else)
//
//    and layers apart from the stack: compose/ (message building; imports base only),
//    queue/admission.ts (pure suppression/hold rules) and store/ (SQLite; imports base,
//    admission, and tls-policy, whose cache interface it implements). The queue and the app
//    may use the store and admission; the app may use compose. A protocol layer never
//    reaches up into the policy or the engine that drives it, so no import cycle can form
//    between layers (within a layer, modules must not import each other in a cycle either:
//    checked below).
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const coreDir = path.join(root, 'src-main', 'core');
const sharedDir = path.join(root, 'shared');
const ALLOWED_PACKAGES = new Set(['better-sqlite3', 'dns-packet', 'nodemailer', 'mailauth', 'zod', 'socks', '@mongodb-js/saslprep', 'sanitize-html', 'html-to-text', 'mailparser']);

/** The stack, lowest first. Each layer lists the paths (relative to core/) it owns. */
const STACK = [
  { name: 'base', paths: ['errors.ts', 'clock.ts', 'events.ts'] },
  { name: 'net', paths: ['net/'] },
  { name: 'dns', paths: ['dns/'] },
  { name: 'smtp', paths: ['smtp/'] },
  { name: 'tls-policy', paths: ['tls-policy/'] },
  { name: 'transport', paths: ['transport/'] },
  { name: 'delivery', paths: ['delivery/'] },
  { name: 'queue', paths: ['queue/'] },
  // Everything not claimed by another layer belongs to the app layer (the top).
  { name: 'app', paths: [] },
];
const APART = [
  { name: 'compose', paths: ['compose/'], may: ['base'] },
  // Pure admission rules (suppression, hold rules) the store applies on every insert.
  { name: 'admission', paths: ['queue/admission.ts'], may: ['base'] },
  { name: 'store', paths: ['store/'], may: ['base', 'tls-policy', 'admission'] },
];
/** Layers of the stack that may also use a layer apart. */
const USES_APART = { queue: ['store', 'admission'], app: ['store', 'compose', 'admission'] };

const LAYERS = new Map();
STACK.forEach((l, i) => LAYERS.set(l.name, { ...l, may: new Set([...STACK.slice(0, i + 1).map((x) => x.name), ...(USES_APART[l.name] ?? [])]) }));
for (const l of APART) LAYERS.set(l.name, { ...l, may: new Set([l.name, ...l.may]) });

/** The layer owning a file: the longest matching path wins (a file listed by name beats its folder). */
function layerOf(file) {
  const rel = path.relative(coreDir, file).split(path.sep).join('/');
  let best = { name: 'app', len: -1 };
  for (const l of LAYERS.values()) {
    for (const p of l.paths) {
      const hit = p.endsWith('/') ? rel.startsWith(p) : rel === p;
      if (hit && p.length > best.len) best = { name: l.name, len: p.length };
    }
  }
  return best.name;
}

const files = [];
(function walk(dir) {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p);
    else if (/\.(ts|mts|cts|js|mjs)$/.test(e.name)) files.push(p);
  }
})(coreDir);

function resolveImport(from, spec) {
  const base = path.resolve(path.dirname(from), spec);
  for (const candidate of [base, `${base}.ts`, path.join(base, 'index.ts'), base.replace(/\.js$/, '.ts')]) {
    if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) return candidate;
  }
  return base;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:import|require)\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g;
const problems = [];
const layering = [];
const graph = new Map();
for (const file of files) {
  const src = fs.readFileSync(file, 'utf8');
  const where = path.relative(root, file);
  const edges = [];
  graph.set(file, edges);
  for (const m of src.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (spec.startsWith('.')) {
      const target = resolveImport(file, spec);
      if (target.startsWith(sharedDir + path.sep) || target === sharedDir) continue;
      if (!target.startsWith(coreDir + path.sep)) {
        problems.push(`${where}: imports ${spec}, outside core/ and shared/`);
        continue;
      }
      edges.push(target);
      const from = layerOf(file);
      const to = layerOf(target);
      if (!LAYERS.get(from).may.has(to)) {
        layering.push(`${where} (layer ${from}) imports ${path.relative(root, target)} (layer ${to}); ${from} may import only: ${[...LAYERS.get(from).may].join(', ')}`);
      }
    } else if (spec.startsWith('node:')) {
      continue;
    } else {
      const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
      if (!ALLOWED_PACKAGES.has(pkg)) problems.push(`${where}: imports '${spec}' (core/ allows node:*, ${[...ALLOWED_PACKAGES].join(', ')})`);
    }
  }
}

// Import cycles between modules (type-only imports included: a cycle is a design knot either way).
const cycles = [];
const state = new Map();
const stack = [];
function visit(f) {
  state.set(f, 'active');
  stack.push(f);
  for (const t of graph.get(f) ?? []) {
    if (!graph.has(t)) continue;
    if (state.get(t) === 'active') {
      const cycle = stack.slice(stack.indexOf(t)).concat(t).map((x) => path.relative(coreDir, x));
      cycles.push(cycle.join(' → '));
    } else if (!state.has(t)) visit(t);
  }
  stack.pop();
  state.set(f, 'done');
}
for (const f of graph.keys()) if (!state.has(f)) visit(f);

let failed = false;
if (problems.length) {
  console.error(`core/ import boundary violated:\n  ${problems.join('\n  ')}`);
  failed = true;
}
if (layering.length) {
  console.error(
    `core/ layering violated (a module imports a layer above it; see the layer order in scripts/check-core-imports.mjs):\n  ${layering.join('\n  ')}`,
  );
  failed = true;
}
if (cycles.length) {
  console.error(`core/ import cycles (break them by moving the shared piece down a layer):\n  ${[...new Set(cycles)].join('\n  ')}`);
  failed = true;
}
if (failed) process.exit(1);
console.log(`core/ import boundary, layering (${STACK.map((l) => l.name).join(' < ')}; apart: ${APART.map((l) => l.name).join(', ')}) and cycles: ${files.length} files ok`);
