#!/usr/bin/env node
// The attacker of bench/rapid-reset.js, in its own process so that its work never delays the
// victim's measurements: one TLS connection, `streams` streams opened and reset at once
// (test/helpers/rapid-reset.js). argv: one JSON object of rapidReset()'s options, with `caFile`
// for the CA. Prints one JSON line: rapidReset()'s result.
import fs from 'node:fs';
import { rapidReset } from '../../test/helpers/rapid-reset.js';

const { caFile, ...options } = JSON.parse(process.argv[2]);
const result = await rapidReset({ ...options, ca: fs.readFileSync(caFile) });
process.stdout.write(`${JSON.stringify(result)}\n`);
