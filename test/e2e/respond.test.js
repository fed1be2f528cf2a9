// `respond` backends: status, headers and a body from a file that is re-read when it changes.
import fs from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { request, sh, startFlagman } from '../helpers/e2e.js';

const CONFIG = `
flags: { dir: ./flags }
frontends:
  web:
    listen: ["127.0.0.1:0"]
    rules:
      - when: request.path == "/inline"
        use: inline
      - use: page
backends:
  page:
    respond:
      status: 503
      file: ./maintenance.html
      headers: { Retry-After: "120", Cache-Control: no-store }
  inline:
    respond: { body: "pong\\n" }
`;

test('a respond backend serves its file, and the new content after the file is rewritten', async (t) => {
  const fm = await startFlagman(t, CONFIG, { files: { 'maintenance.html': '<h1>first</h1>\n' } });
  const first = await request(fm.port);
  t.is(first.status, 503);
  t.is(first.body, '<h1>first</h1>\n');
  t.is(first.headers['retry-after'], '120');
  t.is(first.headers['cache-control'], 'no-store');
  t.is(first.headers['content-type'], 'text/html; charset=utf-8');

  let from = fm.events.length;
  await sh('echo "<h1>second</h1>" > maintenance.html', fm.dir);
  await fm.waitEvent((e) => e.event === 'page.reload', { from });
  t.is((await request(fm.port)).body, '<h1>second</h1>\n');

  // Replaced by rename, as deploy tools do.
  from = fm.events.length;
  fs.writeFileSync(path.join(fm.dir, '.page.tmp'), '<h1>third</h1>\n');
  fs.renameSync(path.join(fm.dir, '.page.tmp'), path.join(fm.dir, 'maintenance.html'));
  await fm.waitEvent((e) => e.event === 'page.reload', { from });
  t.is((await request(fm.port)).body, '<h1>third</h1>\n');

  const head = await request(fm.port, { method: 'HEAD' });
  t.is(head.status, 503);
  t.is(head.body, '');
  t.is(head.headers['content-length'], String('<h1>third</h1>\n'.length));
});

test('an inline body with the default status 200', async (t) => {
  const fm = await startFlagman(t, CONFIG, { files: { 'maintenance.html': 'x' } });
  const r = await request(fm.port, { path: '/inline' });
  t.is(r.status, 200);
  t.is(r.body, 'pong\n');
  t.is(r.headers['content-type'], 'text/plain; charset=utf-8');
});
