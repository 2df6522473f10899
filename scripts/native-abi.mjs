// The ABI a native Node module was built for, read from the binary itself: a module built with
// NODE_MODULE / NODE_MODULE_INIT exports `node_register_module_v<NODE_MODULE_VERSION>` (ELF, PE
// and Mach-O alike). Used by scripts/electron-native.mjs to refuse a build that is not for
// Electron's ABI before it is stamped as one; tested with node_modules' own (Node-ABI) build.
import fs from 'node:fs';

/** NODE_MODULE_VERSION values found in the binary's export names ([] for a N-API-only module). */
export function binaryAbis(file) {
  const text = fs.readFileSync(file).toString('latin1');
  return [...new Set([...text.matchAll(/node_register_module_v(\d+)/g)].map((m) => Number(m[1])))];
}

/** Throws unless `file` was built for exactly `expected` (a NODE_MODULE_VERSION). */
export function assertAbi(file, expected, what) {
  const found = binaryAbis(file);
  if (found.length !== 1 || found[0] !== Number(expected)) {
    throw new Error(
      `${file} is built for NODE_MODULE_VERSION ${found.join(', ') || 'unknown'}, but ${what} needs ${expected}: not stamping it (delete native/electron and run again)`,
    );
  }
}
