import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The app is served by phs_web behind Envoy, same origin as the API (/v1/).
// `npm run dev` proxies /v1 and /config.json to a running `make up` stack.
export default defineConfig({
  plugins: [react()],
  // One initial chunk (checked against the 200 kB gzipped budget by scripts/size.mjs).
  build: { sourcemap: false, target: "es2022", chunkSizeWarningLimit: 700 },
  server: {
    proxy: {
      "/v1": "http://127.0.0.1:8080",
      "/config.json": "http://127.0.0.1:8080",
    },
  },
});
