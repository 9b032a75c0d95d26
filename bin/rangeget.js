#!/usr/bin/env node
'use strict';
// CommonJS (bin/package.json), as is the bundle it loads: Node 20 then starts without its ES module
// loader, 8-14 ms less per run. The name stays .js: npx keeps the bin links of a project it ran.
const { setFlagsFromString } = require('node:v8');

// undici parses HTTP in WebAssembly. Its baseline code is enough for a parser that skips over
// bodies, and without it V8 recompiles the parser in the background, which the exit waits for:
// 60-90 ms of every run, most of a small download's time.
setFlagsFromString('--liftoff-only');
// Lets the downloader reach gc() to free socket read buffers every few MiB (src/memory.ts).
setFlagsFromString('--expose-gc');

// The CLI as one bundled file (npm run build): Node 20 spends less time finding and loading modules.
let main;
try {
  ({ main } = require('../dist/rangeget.cjs'));
} catch (err) {
  process.stderr.write(`rangeget: cannot load its code (${err.code ?? err.message}): build it with npm run build, or reinstall it\n`);
  process.exit(1);
}
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
