#!/usr/bin/env node
// The CLI as one bundled file (npm run build): Node 20 spends less time finding and loading modules.
import { main } from '../dist/rangeget.js';

process.exitCode = await main(process.argv.slice(2));
