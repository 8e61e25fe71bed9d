/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// `npm run dev` proxies /api to the local stack's API (API_URL from the stack's env file).
const api = (process.env.API_URL ?? "http://127.0.0.1:8080/api/v1").replace(/\/api\/v1\/?$/, "");

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "dist",
    sourcemap: false,
    chunkSizeWarningLimit: 600,
    rollupOptions: {
      output: { manualChunks: { react: ["react", "react-dom", "react-router-dom"], charts: ["chart.js", "react-chartjs-2"] } },
    },
  },
  server: { proxy: { "/api": { target: api, changeOrigin: true } } },
  // testTimeout: a test waits up to 15 s for each findBy/waitFor (tests/unit/setup.ts), so its own limit must be
  // well above that (vitest's default is 5 s: on a loaded machine tests timed out while a wait was still polling)
  test: { environment: "jsdom", testTimeout: 60_000, include: ["tests/unit/**/*.test.{ts,tsx}"], setupFiles: ["tests/unit/setup.ts"] },
});
