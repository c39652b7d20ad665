/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// Preact through esbuild's automatic JSX runtime: no framework plugin needed.
export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  // Tauri loads the files from disk: relative asset paths.
  base: "./",
  clearScreen: false,
  server: { port: 5173, strictPort: true },
  build: { target: "es2021", outDir: "dist", sourcemap: false, chunkSizeWarningLimit: 200 },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
