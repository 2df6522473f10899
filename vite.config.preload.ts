import { defineConfig } from 'vite';

// Preload: a sandboxed preload may require only 'electron', so everything else is bundled in.
export default defineConfig({
  build: {
    ssr: 'src-main/preload.ts',
    outDir: 'dist/preload',
    emptyOutDir: true,
    target: 'node22',
    rollupOptions: {
      external: ['electron'],
      output: { format: 'cjs', entryFileNames: 'preload.cjs' },
    },
  },
  ssr: { noExternal: true },
});
