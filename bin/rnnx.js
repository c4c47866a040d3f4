#!/usr/bin/env node
// The `rnnx` command: a thin launcher for the compiled CLI in dist/.
import { main } from '../dist/cli.js';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`rnnx: ${err && err.stack ? err.stack : err}\n`);
    process.exitCode = 1;
  },
);
