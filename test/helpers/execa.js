// execa, as every test file loads it: from one bundled file when test/lines.js has made one
// (FLAGMAN_TEST_EXECA), the package itself otherwise (ava run by hand). Each test file runs in a
// process of its own, which loads execa anew: its 171 modules, looked up and read one by one, took
// 170-190 ms of CPU per process, its bundle 42-60 ms (Node 26, compile cache on, 2026-12-08), and
// a whole run loads it some 100 times.
import { pathToFileURL } from 'node:url';

const bundled = process.env.FLAGMAN_TEST_EXECA;
const loaded = bundled ? await import(pathToFileURL(bundled).href) : await import('execa');

export const { execa } = loaded;
