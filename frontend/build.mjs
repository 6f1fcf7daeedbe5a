// Builds every src/<area>/main.ts into dist/<area>.js; CSS the entry imports lands in dist/<area>.css.
// `node build.mjs` once; `node build.mjs --watch` while editing. Output is not committed: `make` builds it.
import { build, context } from "esbuild";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

const src = new URL("./src/", import.meta.url).pathname;
const outdir = new URL("./dist/", import.meta.url).pathname;
const entryPoints = {};
for (const area of readdirSync(src, { withFileTypes: true })) {
  if (!area.isDirectory()) continue;
  const path = join(src, area.name, "main.ts");
  if (existsSync(path)) entryPoints[area.name] = path;
}

const options = {
  entryPoints,
  outdir,
  bundle: true,
  minify: true,
  sourcemap: "linked",
  format: "iife",
  // Safari 15: esbuild cannot lower destructuring for Safari 14 (a Safari 14 bug), which Chart.js uses throughout.
  target: ["es2020", "chrome90", "firefox90", "safari15"],
  legalComments: "linked",
  logLevel: process.argv.includes("--quiet") ? "warning" : "info",
  // The widget runs on other companies' pages: it must not lean on anything they define.
  define: { "process.env.NODE_ENV": '"production"' },
  entryNames: "[name]",
};

rmSync(outdir, { recursive: true, force: true });
if (process.argv.includes("--watch")) {
  const ctx = await context(options);
  await ctx.watch();
} else {
  await build(options);
}
