// Prints the initial JavaScript (what index.html loads before anything else), gzipped,
// and fails the build when it exceeds the budget in the issue (200 kB).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET = 200 * 1024;
const dist = join(import.meta.dirname, "..", "dist");
const html = readFileSync(join(dist, "index.html"), "utf8");
const files = [...html.matchAll(/<(?:script[^>]*src|link[^>]*rel="modulepreload"[^>]*href)="([^"]+\.js)"/g)].map(
  (m) => m[1],
);
let total = 0;
for (const f of files) {
  const size = gzipSync(readFileSync(join(dist, f))).length;
  total += size;
  console.log(`  ${f}: ${(size / 1024).toFixed(1)} kB gzipped`);
}
console.log(`initial JS: ${(total / 1024).toFixed(1)} kB gzipped (budget ${BUDGET / 1024} kB)`);
if (total > BUDGET) {
  console.error("initial JS over budget");
  process.exit(1);
}
