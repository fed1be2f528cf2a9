// Requests a proxy must not pass on as it got them (docs/proxying.md): each ambiguous or smuggling
// request over a raw socket gets 400, and a raw recorder behind flagman receives exactly the
// requests the client meant — never a smuggled extra one.
import net from 'node:net';
import test from 'ava';
import { maintenanceConfig } from '../helpers/configs.js';
import { adminStatus, startFlagman, waitFor } from '../helpers/e2e.js';

/** An upstream that records every byte it receives and answers each request head with 200 "ok". */
async function recorder(t) {
  const got = [];
  const server = net.createServer((s) => {
    let buf = '';
    s.on('data', (d) => {
      got.push(d.toString('latin1'));
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n\r\n'); i >= 0; i = buf.indexOf('\r\n\r\n')) {
        buf = buf.slice(i + 4);
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      }
    });
    s.on('error', () => {});
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));
  return { port: server.address().port, text: () => got.join(''), clear: () => void got.splice(0) };
}

/** Sends `text` on a new connection; resolves with everything flagman answered until it closed. */
function raw(port, text) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    let out = '';
    s.on('data', (d) => (out += d.toString('latin1')));
    s.setTimeout(3000, () => s.destroy());
    s.on('error', () => {});
    s.on('close', () => resolve(out));
  });
}

const H = 'Host: a\r\n';
const SMUGGLED = `GET /smuggled HTTP/1.1\r\n${H}\r\n`;
const CASES = {
  'Content-Length with Transfer-Encoding': `POST / HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  'Transfer-Encoding: gzip, chunked': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
  'two Content-Length headers': `POST / HTTP/1.1\r\n${H}Content-Length: 1\r\nContent-Length: 40\r\n\r\nx${SMUGGLED}`,
  'two Host headers': `GET / HTTP/1.1\r\n${H}Host: b\r\n\r\n`,
  'an invalid Host': `GET / HTTP/1.1\r\nHost: a b@c\r\n\r\n`,
  'obs-fold': `GET / HTTP/1.1\r\n${H}X-A: 1\r\n  folded\r\n\r\n`,
  'bare LF line ends': `GET / HTTP/1.1\n${H.replace('\r\n', '\n')}\n`,
  'an oversized chunk size': `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\nab\r\n0\r\n\r\n`,
  '101 headers': `GET / HTTP/1.1\r\n${H}${Array.from({ length: 100 }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`,
  // Over the parser's own count (maxHeadersCount) Node 22.23.2, 24.18.1 and 26.5.1 on refuse a
  // request themselves, with 431: flagman's limit must come first.
  '150 headers': `GET / HTTP/1.1\r\n${H}${Array.from({ length: 149 }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`,
  'an absolute-form target naming another host': `GET http://evil.example/x HTTP/1.1\r\n${H}\r\n`,
};

// The cases share one flagman and one recorder: each is a connection of its own, and what the
// recorder got is cleared before each, so a case sees only its own requests. They run one after
// the other (serial), so no other case's bytes reach the recorder meanwhile. (One flagman start is
// some 0.6 s of CPU; this file runs on every Node line.) The oversized chunk size keeps a flagman of
// its own, as before: Node's parser refuses it only once flagman has the request, whose head a
// kept-alive server connection (the shared flagman has one) already takes (docs/logs.md: "the
// server it names may have got the request cut short"); a fresh flagman is still connecting.
const FRESH = new Set(['an oversized chunk size']);
const teardowns = [];
const shared = { teardown: (fn) => teardowns.push(fn) };
let sharedUp;
let sharedFm;
test.before(async () => {
  sharedUp = await recorder(shared);
  sharedFm = await startFlagman(shared, maintenanceConfig({ admin: false }), { vars: { app: sharedUp.port } });
});
test.after.always(async () => {
  for (const fn of teardowns.reverse()) await fn();
});

/** A recorder and a flagman in front of it, for one test. */
async function own(t) {
  const up = await recorder(t);
  const fm = await startFlagman(t, maintenanceConfig({ admin: false }), { vars: { app: up.port } });
  return { up, fm };
}

for (const [name, text] of Object.entries(CASES)) {
  const fresh = FRESH.has(name);
  (fresh ? test : test.serial)(`${name}: 400, and nothing reaches the server`, async (t) => {
    const { up, fm } = fresh ? await own(t) : { up: sharedUp, fm: sharedFm };
    up.clear();
    const answer = await raw(fm.port, text);
    t.regex(answer, /^HTTP\/1\.1 400 /, answer.slice(0, 200));
    t.is(answer.match(/HTTP\/1\.1 /g).length, 1, 'one answer: no smuggled request was served');
    // A well-formed request afterwards: the server sees it, and only it.
    const ok = await raw(fm.port, `GET /after HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    t.regex(ok, /^HTTP\/1\.1 200 /);
    t.regex(up.text(), /^GET \/after HTTP\/1\.1\r\n/, 'the server received only the well-formed request');
    t.is(up.text().match(/^(GET|POST) /gm).length, 1);
  });
}

// A body that breaks HTTP's framing is found by Node's parser only once flagman has taken the
// request (and may have sent its head on): Node's answer is the response, and the line says so.
test("a request body that breaks its chunked framing gets Node's 400 (413 for chunk extensions too long), and its access line has that status and why", async (t) => {
  // A server that takes requests and never answers: nothing of its own reaches the client.
  const silent = net.createServer((s) => s.on('error', () => {}));
  const sockets = new Set();
  silent.on('connection', (s) => sockets.add(s));
  await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => silent.close(resolve));
  });
  const fm = await startFlagman(t, maintenanceConfig(), { vars: { app: silent.address().port }, captureAccess: true });
  const chunked = (path, body) => `POST ${path} HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${body}`;
  t.regex(await raw(fm.port, chunked('/size', 'zz\r\nab\r\n0\r\n\r\n')), /^HTTP\/1\.1 400 /);
  t.regex(await raw(fm.port, chunked('/extensions', `1;${'e'.repeat(20_000)}\r\nx\r\n0\r\n\r\n`)), /^HTTP\/1\.1 413 /);
  const lineOf = (path) => waitFor(() => fm.access.find((l) => l.path === path), { what: `the access line of ${path}` });
  t.like(await lineOf('/size'), { method: 'POST', status: 400, backend: 'app', bytes: 0, reason: 'invalid character in chunk size' });
  t.like(await lineOf('/extensions'), { method: 'POST', status: 413, backend: 'app', bytes: 0, reason: 'chunk extensions overflow' });
  t.like((await adminStatus(fm)).frontends.web.responses, { '4xx': 2 });
});

test('underscoreHeaders: refuse answers 400 to a header name with "_"; drop forwards the request without it', async (t) => {
  const up = await recorder(t);
  const config = (mode) =>
    maintenanceConfig({ admin: false }).replace(
      '    listen: ["127.0.0.1:0"]\n',
      `    listen: ["127.0.0.1:0"]\n    underscoreHeaders: ${mode}\n`,
    );
  const refuse = await startFlagman(t, config('refuse'), { vars: { app: up.port } });
  const answer = await raw(refuse.port, `GET /u HTTP/1.1\r\n${H}X_User: forged\r\nConnection: close\r\n\r\n`);
  t.regex(answer, /^HTTP\/1\.1 400 /);
  t.is(up.text(), '', 'nothing reached the server');
  const drop = await startFlagman(t, config('drop'), { vars: { app: up.port } });
  const ok = await raw(drop.port, `GET /d HTTP/1.1\r\n${H}X_User: forged\r\nX-User: real\r\nConnection: close\r\n\r\n`);
  t.regex(ok, /^HTTP\/1\.1 200 /);
  t.regex(up.text(), /^GET \/d HTTP\/1\.1\r\n/);
  t.notRegex(up.text(), /X_User/i);
  t.regex(up.text(), /\r\nX-User: real\r\n/);
});

test('an absolute-form target that agrees with Host is forwarded in origin-form', async (t) => {
  const up = await recorder(t);
  const fm = await startFlagman(t, maintenanceConfig({ admin: false }), { vars: { app: up.port } });
  const answer = await raw(fm.port, `GET http://A/x?q=1 HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
  t.regex(answer, /^HTTP\/1\.1 200 /);
  t.regex(up.text(), /^GET \/x\?q=1 HTTP\/1\.1\r\n/);
});
