import { builtinModules } from 'node:module';
import { defineConfig } from 'vite';

// Main process: one CJS file for Electron's Node 22. Dependencies stay in node_modules
// (electron-builder ships them); better-sqlite3 is native and must never be bundled.
export default defineConfig({
  build: {
    ssr: 'src-main/main.ts',
    outDir: 'dist/main',
    emptyOutDir: true,
    target: 'node22',
    sourcemap: true,
    rollupOptions: {
      external: ['electron', /^electron\//, ...builtinModules, ...builtinModules.map((m) => `node:${m}`)],
      output: { format: 'cjs', entryFileNames: 'main.cjs' },
    },
  },
});
