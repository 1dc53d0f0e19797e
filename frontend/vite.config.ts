// Builds the annotator app into dist/annotate/, which Django serves as /static/annotate/ (fixed names, so the
// template needs no manifest).
import { defineConfig } from "vitest/config";

export default defineConfig(({ mode }) => ({
  // the counters the browser tests read exist only in the test build (`vite build --mode test`, and Vitest)
  define: { __TEST_HOOKS__: JSON.stringify(mode === "test") },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: true,
    rollupOptions: {
      input: "src/app.ts",
      output: {
        entryFileNames: "annotate/app.js",
        chunkFileNames: "annotate/[name].js",
        assetFileNames: "annotate/[name][extname]",
      },
    },
  },
  test: { include: ["tests/**/*.test.ts"], environment: "node" },
}));
