// Upgrades are tunnelled (SPEC §3): a WebSocket-style handshake reaches the server chosen by the
// rules, bytes then flow both ways untouched; a maintenance rule answers upgrades too.
import http from 'node:http';
import net from 'node:net';
import test from 'ava';
import { sh, startFlagman } from '../helpers/e2e.js';
import { maintenanceConfig } from '../helpers/configs.js';

const CONFIG = maintenanceConfig({ admin: false });

/** A server that accepts any upgrade and echoes bytes back upper-cased. */
async function echoUpgradeServer(t) {
  const server = http.createServer((req, res) => res.end('plain'));
  const seen = [];
  server.on('upgrade', (req, socket, head) => {
    seen.push(req.headers);
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
    if (head.length) socket.write(head.toString().toUpperCase());
    socket.on('data', (d) => socket.write(d.toString().toUpperCase()));
    socket.on('end', () => socket.end()); // HTTP server sockets allow half-open: close our half too
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return { port: server.address().port, seen };
}

/** Sends an upgrade request on a raw socket; resolves with the socket and the response head. */
function upgrade(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write('GET /chat HTTP/1.1\r\nHost: example\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n'));
    let buf = '';
    const onData = (d) => {
      buf += d;
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.off('data', onData);
      resolve({ socket: s, head: buf.slice(0, end), rest: buf.slice(end + 4) });
    };
    s.on('data', onData);
    s.on('error', reject);
  });
}

test('an upgrade is tunnelled to the server and bytes flow both ways', async (t) => {
  const app = await echoUpgradeServer(t);
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port } });
  const { socket, head } = await upgrade(fm.port);
  t.teardown(() => socket.destroy());
  t.regex(head, /^HTTP\/1\.1 101 /);
  t.is(app.seen[0].upgrade, 'echo');
  t.is(app.seen[0]['x-forwarded-for'], '127.0.0.1');
  const reply = new Promise((resolve) => socket.once('data', (d) => resolve(d.toString())));
  socket.write('hello');
  t.is(await reply, 'HELLO');
  // The client closing its side ends the tunnel on both sides.
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.end();
  await closed;
});

test('during maintenance an upgrade gets the maintenance response', async (t) => {
  const app = await echoUpgradeServer(t);
  const fm = await startFlagman(t, CONFIG, { vars: { app: app.port } });
  const from = fm.events.length;
  await sh('echo 1 > flags/MAINT', fm.dir);
  await fm.waitFlag('MAINT', 1, { from });
  const { socket, head, rest } = await upgrade(fm.port);
  t.teardown(() => socket.destroy());
  t.regex(head, /^HTTP\/1\.1 503 /);
  const body = rest.length > 0 ? rest : await new Promise((resolve) => socket.once('data', (d) => resolve(d.toString())));
  t.is(body, 'maintenance\n');
  t.is(app.seen.length, 0);
});
