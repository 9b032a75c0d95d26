#!/usr/bin/env node
// The CLI as one bundled file (npm run build): Node 20 spends less time finding and loading modules.
let main;
try {
  ({ main } = await import('../dist/rangeget.js'));
} catch (err) {
  process.stderr.write(`rangeget: cannot load its code (${err.code ?? err.message}): build it with npm run build, or reinstall it\n`);
  process.exit(1);
}
process.exitCode = await main(process.argv.slice(2));
