// The dashboard's browser script, as text: dashboard.ts inlines it and puts its hash in the
// Content-Security-Policy. Plain modern JavaScript, no framework and no build step, so what is served
// is what is written here. It is a String.raw template: no backticks and no dollar-brace inside,
// but for the one place that inlines a function flagman shares with it (its compiled source, so the
// formula exists once): runtime/quantile.ts.
//
// It polls ./status once a second and updates the page in place: rows are keyed (data-key) and
// only changed text is touched, so scroll position and text selection survive. Every value reaches
// the DOM through textContent, never as markup: flag notes are written by operators. Every field
// may be null or missing (docs/admin.md), and an unreachable endpoint is shown, then recovered from.
//
// The fields it reads are named as the admin endpoint builds them: the JSDoc types below (comments
// to a browser) tie `doc` to admin/status-types.ts, and test/unit/dashboard-types.test.js
// type-checks the script against them, so a field renamed there fails that test until it is here.
import { histogramQuantile } from '../runtime/quantile.js';

export const DASHBOARD_SCRIPT = String.raw`
'use strict';
/** @typedef {import('./status-types.js').AsReceived<import('./status-types.js').StatusDocument>} Doc */
const POLL_MS = 1000;
const TIMEOUT_MS = 4000;
const DASH = '\u2014';
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'];
const byId = (id) => document.getElementById(id);
const tbodyOf = (id) => /** @type {HTMLTableElement} */ (byId(id)).tBodies[0];

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
/**
 * An object of the document, or {} (all of its fields are optional) when it is missing or not one.
 * @template T
 * @param {T} v
 * @returns {T}
 */
const obj = (v) => (isObj(v) ? v : /** @type {T} */ ({}));
/**
 * A map of the document (flags, frontends, backends, servers) as [name, value] pairs.
 * @template T
 * @param {{ readonly [name: string]: T }} v
 * @returns {[string, T][]}
 */
const entries = (v) => Object.entries(obj(v));
const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v) => (typeof v === 'string' ? v : null);
const time = (iso) => { const t = typeof iso === 'string' ? Date.parse(iso) : NaN; return Number.isFinite(t) ? t : null; };
const int = (v) => (num(v) === null ? DASH : v.toLocaleString('en-US'));
const rate = (v) => (v === null ? DASH : v === 0 ? '0' : v < 10 ? v.toFixed(1) : String(Math.round(v)));
const clock = (t) => new Date(t).toLocaleTimeString();

function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return s + 's';
  const m = Math.floor(s / 60);
  if (m < 60) return m + 'm ' + (s % 60) + 's';
  const h = Math.floor(m / 60);
  if (h < 48) return h + 'h ' + (m % 60) + 'm';
  return Math.floor(h / 24) + 'd ' + (h % 24) + 'h';
}
const ago = (t, now) => (t === null ? DASH : duration(now - t) + ' ago');

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

// Replays a row's highlight: removing the class, forcing a style flush and adding it back restarts
// the CSS animation.
function flash(tr) {
  tr.classList.remove('flash');
  void tr.offsetWidth;
  tr.classList.add('flash');
}

// Brings tbody's rows in line with rows = [{key, className, cells: [{text, className, watch}]}],
// reusing the row with the same key. A change of a cell marked watch (a flag value, a server state)
// highlights its row for a moment.
function syncRows(tbody, rows) {
  const old = new Map();
  for (const tr of tbody.rows) old.set(tr.dataset.key, tr);
  let prev = null;
  for (const row of rows) {
    let tr = old.get(row.key);
    const fresh = tr === undefined;
    if (fresh) {
      tr = document.createElement('tr');
      tr.dataset.key = row.key;
      for (let i = 0; i < row.cells.length; i++) tr.appendChild(document.createElement('td'));
    }
    old.delete(row.key);
    const at = prev === null ? tbody.firstChild : prev.nextSibling;
    if (at !== tr) tbody.insertBefore(tr, at);
    const flashing = tr.classList.contains('flash');
    let changed = false;
    row.cells.forEach((c, i) => {
      const td = tr.cells[i];
      if (c.watch && !fresh && td.textContent !== c.text) changed = true;
      setText(td, c.text);
      const cls = c.className || '';
      if (td.className !== cls) td.className = cls;
      if (c.title !== undefined && td.title !== c.title) td.title = c.title;
    });
    tr.className = row.className || '';
    if (changed) flash(tr);
    else if (flashing) tr.classList.add('flash');
    prev = tr;
  }
  for (const tr of old.values()) tr.remove();
  tbody.closest('section').classList.toggle('empty', rows.length === 0);
}

function syncList(ul, items) {
  while (ul.children.length > items.length) ul.lastChild.remove();
  while (ul.children.length < items.length) ul.appendChild(document.createElement('li'));
  items.forEach((text, i) => setText(ul.children[i], text));
}

// Requests per second from the difference between this poll's counters and the previous one's;
// unknown after a restart (another pid) or when a counter went backwards.
let previous = null;
/** @param {Doc} doc */
function rates(doc, at) {
  const counts = new Map();
  for (const [name, fe] of entries(doc.frontends)) counts.set('frontend:' + name, num(obj(fe).requests));
  for (const [name, be] of entries(doc.backends)) {
    counts.set('backend:' + name, num(obj(be).requests));
    for (const [s, sv] of entries(obj(be).servers)) counts.set('server:' + name + '/' + s, num(obj(sv).requests));
  }
  const before = previous !== null && previous.pid === doc.pid ? previous : null;
  previous = { pid: doc.pid, at, counts };
  return (key) => {
    if (before === null) return null;
    const a = before.counts.get(key);
    const b = counts.get(key);
    const seconds = (at - before.at) / 1000;
    if (typeof a !== 'number' || typeof b !== 'number' || b < a || seconds <= 0) return null;
    return (b - a) / seconds;
  };
}

// Prometheus' histogram_quantile() over /status buckets, as flagman status computes it: the source
// of runtime/quantile.ts, as an expression (a bundler may rename the declaration).
const quantile = (${String(histogramQuantile)});

// Each backend's p50 and p99 over about the last WINDOW_MS: the difference between this poll's
// request-duration histogram (cumulative counts, which only grow) and the one of the oldest poll
// kept, the newest that is at least WINDOW_MS old. Until the page has that much history, the
// window starts at its first poll; on that first poll, and after a restart (another pid), the
// counts since flagman started are all there is.
const WINDOW_MS = 60000;
let history = [];
/** @param {Doc} doc */
function latencies(doc, at) {
  const now = new Map();
  for (const [name, be] of entries(doc.backends)) {
    const b = obj(obj(be).durationMs).buckets;
    if (isObj(b)) now.set(name, b);
  }
  if (history.length > 0 && history[0].pid !== doc.pid) history = [];
  history.push({ pid: doc.pid, at, hist: now });
  while (history.length > 1 && at - history[1].at >= WINDOW_MS) history.shift();
  const base = history.length > 1 ? history[0] : null;
  const since = base === null ? 'since flagman started' : 'over the last ' + duration(at - base.at);
  return (name) => {
    const b = now.get(name);
    if (b === undefined) return { p50: null, p99: null, since };
    const window = windowOf(b, base === null ? undefined : base.hist.get(name));
    return { p50: quantile(0.5, window), p99: quantile(0.99, window), since: window === b ? 'since flagman started' : since };
  };
}

// The counts between two polls (a backend new since the older one: all of its counts); a count
// that went down (not expected: counts are kept) gives up the window for all of them.
function windowOf(b, a) {
  if (!isObj(a)) return b;
  const out = {};
  for (const [le, n] of Object.entries(b)) {
    const d = n - (num(a[le]) ?? 0);
    if (!(d >= 0)) return b;
    out[le] = d;
  }
  return out;
}

// A latency in ms, to two significant figures or so: 0.42 ms, 3.1 ms, 250 ms, 1.25 s.
function latencyText(v) {
  if (v === null || !Number.isFinite(v)) return DASH;
  if (v < 1) return v.toFixed(2) + ' ms';
  if (v < 10) return v.toFixed(1) + ' ms';
  if (v < 1000) return Math.round(v) + ' ms';
  return (v / 1000).toFixed(2) + ' s';
}

/** @param {Doc} doc */
function renderHeader(doc, now) {
  const config = obj(doc.config);
  const reload = obj(config.lastReload);
  setText(byId('version'), str(doc.version) ?? '');
  setText(byId('pid'), num(doc.pid) === null ? DASH : String(doc.pid));
  const started = time(doc.startedAt);
  setText(byId('uptime'), started === null ? DASH : duration(now - started));
  setText(byId('config'), str(config.file) ?? DASH);
  setText(byId('generation'), num(config.generation) === null ? DASH : String(config.generation));
  const failed = reload.ok === false;
  const outcome = reload.ok === true ? 'ok' : failed ? 'FAILED' + (str(reload.error) ? ': ' + reload.error : '') : DASH;
  setText(byId('reload'), outcome + (time(reload.at) === null ? '' : ' (' + ago(time(reload.at), now) + ')'));
  byId('reload').classList.toggle('bad', failed);
  const w = obj(doc.watcher);
  const rescan = time(w.lastRescanAt);
  const parts = [str(w.mode) ?? DASH];
  if (num(w.rescans) !== null) parts.push(w.rescans + ' rescans' + (rescan === null ? '' : ', last ' + ago(rescan, now)));
  if (str(w.problem)) parts.push(w.problem);
  setText(byId('watcher'), parts.join(' \u00b7 '));
  byId('watcher').classList.toggle('bad', Boolean(str(w.problem)));
}

/** @param {Doc} doc */
function renderFlags(doc, now) {
  const rows = entries(doc.flags).map(([name, raw]) => {
    const f = obj(raw);
    const value = num(f.value);
    const problem = str(f.problem);
    const changed = time(f.changedAt);
    return {
      key: 'flag:' + name,
      className: problem ? 'problem' : value !== null && value !== 0 ? 'set' : '',
      cells: [
        { text: name, className: 'c-name' },
        { text: value === null ? 'unset' : String(value), className: 'c-value num' + (value === null ? ' muted' : ''), watch: true },
        { text: str(f.note) ?? '', className: 'c-note' },
        { text: ago(changed, now), className: 'c-changed', title: changed === null ? '' : new Date(changed).toLocaleString() },
        { text: problem ?? '', className: 'c-problem bad' },
      ],
    };
  });
  syncRows(tbodyOf('flags'), rows);
}

/** @param {Doc['frontends'][string]['responses']} responses */
function responseCells(responses) {
  const r = obj(responses);
  return CLASSES.map((k) => ({ text: int(r[k]), className: 'c-' + k + ' num' + (k === '5xx' && num(r[k]) > 0 ? ' bad' : '') }));
}

// A maxconn as /status gives it: 0 is no limit (a frontend's, a server's), shown empty.
const maxconn = (v) => (num(v) === 0 ? '' : int(v));

// Its limits beside its traffic: connections served (of maxconn) and waiting, those closed without
// a valid PROXY header (a column only while some frontend has acceptProxy, blank on the others), and
// the requests its rules refused, 413 for a body over maxBody and 429 over a rate limit.
/** @param {Doc} doc */
function renderFrontends(doc, rateOf) {
  let acceptProxy = false;
  const rows = entries(doc.frontends).map(([name, raw]) => {
    const fe = obj(raw);
    const conns = obj(fe.connections);
    const refused = obj(fe.refused);
    const proxy = fe.acceptProxy === true;
    if (proxy) acceptProxy = true;
    return {
      key: 'frontend:' + name,
      cells: [
        { text: name, className: 'c-name' },
        { text: rate(rateOf('frontend:' + name)), className: 'c-rate num' },
        { text: int(fe.requests), className: 'c-requests num' },
        { text: int(fe.active), className: 'c-active num' },
        { text: int(conns.open), className: 'c-conns num' },
        { text: maxconn(fe.maxconn), className: 'c-maxconn num' },
        { text: int(conns.waiting), className: 'c-waiting num' + (num(conns.waiting) > 0 ? ' warn' : '') },
        {
          text: proxy ? int(conns.proxyHeaderRefused) : '',
          className: 'c-proxy num' + (proxy && num(conns.proxyHeaderRefused) > 0 ? ' warn' : ''),
        },
        { text: int(refused.bodyTooLarge), className: 'c-413 num' + (num(refused.bodyTooLarge) > 0 ? ' warn' : '') },
        { text: int(refused.rateLimited), className: 'c-429 num' + (num(refused.rateLimited) > 0 ? ' warn' : '') },
        ...responseCells(fe.responses),
      ],
    };
  });
  byId('frontends').classList.toggle('no-accept-proxy', !acceptProxy);
  syncRows(tbodyOf('frontends'), rows);
}

// A backend's line says at a glance whether anything can take traffic, and how fast its requests
// are answered; its servers follow it.
/** @param {Doc} doc */
function renderBackends(doc, rateOf, latencyOf) {
  const rows = [];
  for (const [name, raw] of entries(doc.backends)) {
    const be = obj(raw);
    const servers = entries(be.servers);
    const states = new Map();
    let failures = 0;
    for (const [, sv] of servers) {
      const state = str(obj(sv).state) ?? 'unknown';
      states.set(state, (states.get(state) ?? 0) + 1);
      failures += num(obj(sv).failures) ?? 0;
    }
    const noneUp = servers.length > 0 && !states.has('up');
    const summary = servers.length === 0 ? 'fixed response' : noneUp ? 'NO SERVER UP' : [...states].map(([s, n]) => n + ' ' + s).join(', ');
    const latency = latencyOf(name);
    rows.push({
      key: 'backend:' + name,
      className: 'backend' + (noneUp ? ' down' : ''),
      cells: [
        { text: name, className: 'c-name' },
        { text: summary, className: 'c-state' + (noneUp ? ' bad' : ''), watch: true },
        { text: '', className: 'c-weight num' },
        { text: '', className: 'c-maxconn num' },
        { text: int(be.active), className: 'c-active num' },
        {
          text: be.queue === null ? '' : int(obj(be.queue).length),
          className: 'c-queue num' + (num(obj(be.queue).length) > 0 ? ' warn' : ''),
        },
        { text: int(be.requests), className: 'c-requests num' },
        { text: rate(rateOf('backend:' + name)), className: 'c-rate num' },
        { text: latencyText(latency.p50), className: 'c-p50 num', title: 'median request duration, ' + latency.since },
        { text: latencyText(latency.p99), className: 'c-p99 num', title: '99th percentile request duration, ' + latency.since },
        { text: servers.length === 0 ? '' : String(failures), className: 'c-failures num' },
        { text: int(obj(be.responses)['5xx']), className: 'c-5xx num' + (num(obj(be.responses)['5xx']) > 0 ? ' bad' : '') },
      ],
    });
    for (const [s, rawServer] of servers) {
      const sv = obj(rawServer);
      const state = str(sv.state) ?? 'unknown';
      rows.push({
        key: 'server:' + name + '/' + s,
        className: 'server ' + state,
        cells: [
          { text: s, className: 'c-name' },
          { text: state, className: 'c-state state state-' + state, watch: true },
          { text: int(sv.weight), className: 'c-weight num' },
          { text: maxconn(sv.maxconn), className: 'c-maxconn num' },
          { text: int(sv.active), className: 'c-active num' },
          { text: '', className: 'c-queue num' },
          { text: int(sv.requests), className: 'c-requests num' },
          { text: rate(rateOf('server:' + name + '/' + s)), className: 'c-rate num' },
          { text: '', className: 'c-p50 num' },
          { text: '', className: 'c-p99 num' },
          { text: int(sv.failures), className: 'c-failures num' + (num(sv.failures) > 0 ? ' warn' : '') },
          { text: '', className: 'c-5xx num' },
        ],
      });
    }
  }
  syncRows(tbodyOf('backends'), rows);
}

// Everything that needs a person, in one list: the runtime's problems, then the ones shown in
// their own place below, repeated here so that nothing is missed at the top of the page.
/** @param {Doc} doc */
function attention(doc) {
  const out = [];
  for (const p of Array.isArray(doc.problems) ? doc.problems : []) out.push(String(p));
  const reload = obj(obj(doc.config).lastReload);
  if (reload.ok === false) out.push('last reload failed' + (str(reload.error) ? ': ' + reload.error : ''));
  if (str(obj(doc.watcher).problem)) out.push('watcher: ' + doc.watcher.problem);
  for (const [name, f] of entries(doc.flags)) if (str(obj(f).problem)) out.push('flag ' + name + ': ' + f.problem);
  for (const [b, be] of entries(doc.backends)) {
    for (const [s, sv] of entries(obj(be).servers)) if (obj(sv).state === 'down') out.push('server ' + b + '/' + s + ' is down');
  }
  return out;
}

/** @param {Doc} doc */
function render(doc, now, rateOf, latencyOf) {
  renderHeader(doc, now);
  const problems = attention(doc);
  syncList(byId('problems'), problems);
  byId('problems-section').classList.toggle('alert', problems.length > 0);
  byId('problems-section').classList.toggle('empty', problems.length === 0);
  renderFlags(doc, now);
  renderFrontends(doc, rateOf);
  renderBackends(doc, rateOf, latencyOf);
  return problems.length;
}

// The connection line: when the shown data was fetched, or since when fetching fails and why.
const link = { lastOk: null, failingSince: null, error: null, problems: 0 };
function showLink() {
  const conn = byId('conn');
  const lost = link.failingSince !== null;
  let text;
  if (!lost) text = link.lastOk === null ? 'connecting\u2026' : 'live \u00b7 updated ' + clock(link.lastOk);
  else {
    const last = link.lastOk === null ? 'no data yet' : 'data from ' + clock(link.lastOk);
    text = 'CONNECTION LOST since ' + clock(link.failingSince) + ' (' + link.error + '), retrying \u00b7 ' + last;
  }
  setText(conn, text);
  conn.className = 'conn ' + (lost ? 'lost' : 'ok');
  document.body.classList.toggle('stale', lost);
  const mark = lost ? '[lost] ' : link.problems > 0 ? '[' + link.problems + ' problem' + (link.problems > 1 ? 's' : '') + '] ' : '';
  document.title = mark + 'flagman ' + location.host;
}

// The server's clock, from the response's Date header, when it is clearly off the browser's:
// ages and uptime are then measured against the server's time.
let skew = 0;
function learnSkew(res) {
  const server = Date.parse(res.headers.get('date') || '');
  if (!Number.isFinite(server)) return;
  const off = server - Date.now();
  skew = Math.abs(off) > 2000 ? off : 0;
}

async function fetchStatus() {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
  try {
    const res = await fetch('status', { cache: 'no-store', signal: abort.signal, headers: { accept: 'application/json' } });
    if (!res.ok) throw new Error('HTTP ' + res.status);
    const doc = await res.json();
    if (!isObj(doc)) throw new Error('not a status document');
    learnSkew(res);
    return doc;
  } catch (err) {
    throw new Error(err.name === 'AbortError' ? 'no answer within ' + TIMEOUT_MS / 1000 + ' s' : err.message || String(err));
  } finally {
    clearTimeout(timer);
  }
}

// A failed fetch shows the connection as lost and is retried; an error while rendering is left
// to surface in the console (it is a bug), and polling goes on either way.
async function poll() {
  try {
    let doc;
    try {
      doc = await fetchStatus();
    } catch (err) {
      if (link.failingSince === null) link.failingSince = Date.now();
      link.error = err.message;
      return;
    }
    const at = Date.now();
    link.lastOk = at;
    link.failingSince = null;
    link.problems = render(doc, at + skew, rates(doc, at), latencies(doc, at));
  } finally {
    showLink();
    setTimeout(poll, POLL_MS);
  }
}

poll();
`;
