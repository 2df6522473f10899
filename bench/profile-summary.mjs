// Summarises a V8 .cpuprofile (node --cpu-prof): self time per function and per file, and total
// time per function (itself and everything it called, each sample counted once per function
// even through recursion), top N.
//   node bench/profile-summary.mjs FILE.cpuprofile [N]
import fs from 'node:fs';

const [file, nArg] = process.argv.slice(2);
const top = Number(nArg ?? 25);
const p = JSON.parse(fs.readFileSync(file, 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = p.timeDeltas;
for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + (dt[i] ?? 0));
const total = [...self.values()].reduce((a, b) => a + b, 0);
const fn = new Map();
const files = new Map();
for (const [id, us] of self) {
  const cf = byId.get(id).callFrame;
  const url = cf.url.replace(/^file:\/\//, '').replace(process.cwd() + '/', '') || '(native)';
  const k = `${cf.functionName || '(anonymous)'}  ${url}:${cf.lineNumber + 1}`;
  fn.set(k, (fn.get(k) ?? 0) + us);
  const fk = url.includes('node_modules') ? url.replace(/.*node_modules\/([^/]+(\/[^/]+)?).*/, 'node_modules/$1') : url;
  files.set(fk, (files.get(fk) ?? 0) + us);
}
const show = (m, title) => {
  console.log(`\n${title} (total ${(total / 1000).toFixed(0)} ms sampled)`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
};
const parent = new Map();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const totalFn = new Map();
for (const [id, us] of self) {
  const seen = new Set();
  for (let x = id; x !== undefined; x = parent.get(x)) {
    const cf = byId.get(x).callFrame;
    const url = cf.url.replace(/^file:\/\//, '').replace(process.cwd() + '/', '') || '(native)';
    const k = `${cf.functionName || '(anonymous)'}  ${url}:${cf.lineNumber + 1}`;
    if (seen.has(k)) continue;
    seen.add(k);
    totalFn.set(k, (totalFn.get(k) ?? 0) + us);
  }
}
show(fn, 'self time by function');
show(files, 'self time by file');
show(totalFn, 'total time by function (self + callees)');
