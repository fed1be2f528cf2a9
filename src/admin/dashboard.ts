// The dashboard page served at `/` by the admin endpoint (docs/admin.md): one self-contained HTML
// document, inline style and script, no external resource, built once, at its first request. It renders
// `/status` and refreshes itself (dashboard-script.ts). The Content-Security-Policy allows exactly
// that inline style and script by their hashes, and the page may only fetch from its own origin.
import { DASHBOARD_SCRIPT } from './dashboard-script.js';

const STYLE = `
:root {
  color-scheme: light dark;
  --bg: #ffffff; --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --head: #f6f8fa;
  --ok: #1a7f37; --ok-bg: #dafbe1; --warn: #9a6700; --warn-bg: #fff8c5;
  --bad: #cf222e; --bad-bg: #ffebe9; --flash: #fff1a8;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --fg: #e6edf3; --muted: #8d96a0; --line: #30363d; --head: #161b22;
    --ok: #3fb950; --ok-bg: #122d1b; --warn: #d29922; --warn-bg: #2e2510;
    --bad: #ff7b72; --bad-bg: #3a1518; --flash: #4a3f10;
  }
}
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--fg); }
header { position: sticky; top: 0; z-index: 1; background: var(--head); border-bottom: 1px solid var(--line); padding: 8px 16px; }
.top { display: flex; align-items: center; justify-content: space-between; gap: 12px; flex-wrap: wrap; }
h1 { font-size: 18px; margin: 0; }
h1 #version { font-weight: 400; color: var(--muted); font-size: 14px; }
h2 { font-size: 15px; margin: 18px 0 6px; }
.conn { padding: 2px 10px; border-radius: 12px; font-weight: 600; }
.conn.ok { color: var(--ok); background: var(--ok-bg); }
.conn.lost { color: #fff; background: #cf222e; }
.facts { display: flex; flex-wrap: wrap; gap: 2px 22px; margin: 6px 0 0; }
.facts div { display: flex; gap: 6px; min-width: 0; }
dt { color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; }
main { padding: 0 16px 32px; }
body.stale main, body.stale .facts { opacity: 0.5; }
table { border-collapse: collapse; width: 100%; max-width: 1200px; }
th, td { text-align: left; padding: 3px 14px 3px 0; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-size: 12px; font-weight: 600; text-transform: uppercase; white-space: nowrap; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.c-name { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: nowrap; }
.c-note { overflow-wrap: anywhere; }
.muted { color: var(--muted); }
.bad { color: var(--bad); font-weight: 600; }
.warn { color: var(--warn); }
tr.set .c-value { font-weight: 700; }
tr.problem td { background: var(--bad-bg); }
tr.backend td { font-weight: 600; border-top: 2px solid var(--line); }
tr.server .c-name { padding-left: 22px; }
tr.server.down td, tr.backend.down td { background: var(--bad-bg); }
tr.server.drain td { background: var(--warn-bg); }
.state { font-weight: 700; text-transform: uppercase; }
.state::before { content: "\\25CF  "; }
.state-up { color: var(--ok); }
.state-drain { color: var(--warn); }
.state-down { color: var(--bad); }
tr.flash td { animation: flash 2.5s ease-out; }
@keyframes flash { from { background: var(--flash); } }
#frontends.no-accept-proxy .c-proxy { display: none; }
section .none { display: none; color: var(--muted); margin: 4px 0; }
section.empty .none { display: block; }
section.empty table { display: none; }
#problems { margin: 0; padding-left: 20px; }
#problems-section.alert #problems { color: var(--bad); font-weight: 600; }
#problems-section.empty .none { color: var(--ok); }
`;

const RESPONSE_HEADS =
  '<th class="num">1xx</th><th class="num">2xx</th><th class="num">3xx</th>' +
  '<th class="num">4xx</th><th class="num">5xx</th><th class="num">other</th>';

const FRONTEND_HEADS =
  '<th>frontend</th><th class="num">req/s</th><th class="num">requests</th><th class="num">active</th>' +
  '<th class="num">conns</th><th class="num">maxconn</th><th class="num">waiting</th>' +
  '<th class="num c-proxy" title="connections closed without a valid PROXY header (acceptProxy)">no proxy</th>' +
  `<th class="num">413</th><th class="num">429</th>${RESPONSE_HEADS}`;

const BACKEND_HEADS =
  '<th>backend / server</th><th>state</th><th class="num">weight</th><th class="num">maxconn</th>' +
  '<th class="num">active</th><th class="num">queue</th><th class="num">requests</th><th class="num">req/s</th>' +
  '<th class="num">p50</th><th class="num">p99</th><th class="num">failures</th><th class="num">5xx</th>';

const BODY = `
<header>
  <div class="top">
    <h1>flagman <span id="version"></span></h1>
    <span id="conn" class="conn">connecting…</span>
  </div>
  <dl class="facts">
    <div><dt>pid</dt><dd id="pid">—</dd></div>
    <div><dt>uptime</dt><dd id="uptime">—</dd></div>
    <div><dt>config</dt><dd id="config">—</dd></div>
    <div><dt>generation</dt><dd id="generation">—</dd></div>
    <div><dt>last reload</dt><dd id="reload">—</dd></div>
    <div><dt>watcher</dt><dd id="watcher">—</dd></div>
  </dl>
</header>
<main>
  <section id="problems-section" class="empty">
    <h2>Problems</h2>
    <ul id="problems"></ul>
    <p class="none">none</p>
  </section>
  <section class="empty">
    <h2>Flags</h2>
    <table id="flags">
      <thead><tr><th>flag</th><th class="num">value</th><th>note</th><th>changed</th><th>problem</th></tr></thead>
      <tbody></tbody>
    </table>
    <p class="none">no flag is set</p>
  </section>
  <section class="empty">
    <h2>Frontends</h2>
    <table id="frontends" class="no-accept-proxy">
      <thead><tr>${FRONTEND_HEADS}</tr></thead>
      <tbody></tbody>
    </table>
    <p class="none">no frontend</p>
  </section>
  <section class="empty">
    <h2>Backends and servers</h2>
    <table id="backends">
      <thead><tr>${BACKEND_HEADS}</tr></thead>
      <tbody></tbody>
    </table>
    <p class="none">no backend</p>
  </section>
</main>`;

const sha256 = (text: string): string =>
  `'sha256-${process.getBuiltinModule('node:crypto').createHash('sha256').update(text, 'utf8').digest('base64')}'`;

// Hashes rather than 'unsafe-inline': only this exact style and script may run, so even a value
// that slipped into the page as markup could not execute. The icon is an empty data: URL so the
// browser does not ask for /favicon.ico (a 404 in the console).
const csp = (): string =>
  [
    "default-src 'none'",
    `script-src ${sha256(DASHBOARD_SCRIPT)}`,
    `style-src ${sha256(STYLE)}`,
    "connect-src 'self'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="referrer" content="no-referrer">
<title>flagman</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>${BODY}
<script>${DASHBOARD_SCRIPT}</script>
</body>
</html>
`;

export interface DashboardPage {
  readonly body: string;
  readonly headers: Readonly<Record<string, string>>;
}

let page: DashboardPage | null = null;

/**
 * The dashboard page and the headers to serve it with, made on its first request: the policy's
 * hashes need node:crypto, which a process nobody asks for its dashboard then never loads (10 ms
 * of a start's CPU on Node 26).
 */
export function dashboardPage(): DashboardPage {
  page ??= Object.freeze({
    body: HTML,
    headers: Object.freeze({
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-store',
      'Content-Security-Policy': csp(),
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    }),
  });
  return page;
}
