// Builds the GraphiQL playground into playground/dist/, which the Rust server embeds.
// Contract: GET / -> dist/index.html, GET /playground/<path> -> dist/<path>.
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('./src'),
  base: '/playground/',
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: here('./dist'),
    emptyOutDir: true,
    assetsDir: 'assets',
    // Fonts and icons are inlined by graphiql's CSS; keep everything else as files.
    assetsInlineLimit: 0,
    sourcemap: false,
    // Whole app in one file: no modulepreload polyfill or extra requests.
    modulePreload: false,
    chunkSizeWarningLimit: 4096,
    rollupOptions: {
      // React libraries mark modules "use client"; meaningless in a plain SPA bundle.
      onwarn(warning, warn) {
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
      output: {
        // graphiql lazy-loads CodeMirror addons (and graphql-ws for subscriptions): keep them in
        // the one file instead of ~35 small chunks with unstable names.
        inlineDynamicImports: true,
        // Stable names so rebuilds make small diffs.
        entryFileNames: 'assets/playground.js',
        assetFileNames: (info) =>
          (info.names ?? [info.name ?? '']).some((n) => n.endsWith('.css'))
            ? 'assets/playground.css'
            : 'assets/[name][extname]',
      },
    },
  },
});
