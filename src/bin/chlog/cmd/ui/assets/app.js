// chlog ui: the page's behaviour. Plain JavaScript, no libraries: it asks
// the server's JSON endpoints (each one call of the library's query module)
// and draws what they answer. Text from the database only ever goes into
// the page as text (textContent), never as markup.
//
// Times in nanoseconds are BigInt here (JSON numbers hold 53 bits; the
// server sends them as strings). The page's state lives in the address's
// hash, so a view can be reloaded, shared, or opened at a given filter.
'use strict';

const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];
const FILTERS = ['min_level', 'service', 'source', 'q', 'attr', 'trace'];
const INPUTS = { min_level: 'min-level', service: 'service', source: 'source', q: 'q', attr: 'attr', trace: 'trace-filter' };
const LIVE_LOGS_MS = 2000;
const LIVE_CHARTS_MS = 10000;
const SVG = 'http://www.w3.org/2000/svg';

const $ = (id) => document.getElementById(id);
const state = { range: 3600, since: null, until: null, filters: {}, metric: '', trace: '', live: false };
let cursor = null;          // the next older page, from the last page read
let newest = null;          // the newest row shown: [ns, keys of rows at that ns]
let generation = 0;         // answers of an older view are dropped
let timers = [];

// ---- state <-> address -------------------------------------------------

function readHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  state.range = Number(h.get('range')) || 3600;
  state.since = h.get('since') ? BigInt(h.get('since')) : null;
  state.until = h.get('until') ? BigInt(h.get('until')) : null;
  state.filters = {};
  for (const key of FILTERS) if (h.get(key)) state.filters[key] = h.get(key);
  state.metric = h.get('metric') || '';
  state.trace = h.get('open_trace') || '';
  state.live = h.get('live') === '1';
}

function writeHash() {
  const h = new URLSearchParams();
  if (state.range !== 3600) h.set('range', state.range);
  if (state.since !== null) { h.set('since', state.since); h.set('until', state.until); }
  for (const [k, v] of Object.entries(state.filters)) h.set(k, v);
  if (state.metric) h.set('metric', state.metric);
  if (state.trace) h.set('open_trace', state.trace);
  if (state.live) h.set('live', '1');
  history.replaceState(null, '', '#' + h.toString());
}

function showState() {
  $('range').value = String(state.range);
  for (const key of FILTERS) $(INPUTS[key]).value = state.filters[key] || '';
  $('live').checked = state.live;
  $('zoom-out').hidden = state.since === null;
  $('zoom-out').textContent = 'Back to the ' + $('range').selectedOptions[0].textContent;
}

// The range asked for: the zoomed one, or the last `range` seconds.
function currentRange() {
  if (state.since !== null) return [state.since, state.until];
  const now = BigInt(Date.now()) * 1000000n;
  return [now - BigInt(state.range) * 1000000000n, now];
}

// ---- asking the server -------------------------------------------------

async function ask(path, params) {
  const response = await fetch(path + '?' + params.toString(), { headers: { Accept: 'application/json' } });
  const body = await response.json().catch(() => ({ error: response.status + ' ' + response.statusText }));
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function filterParams(since, until) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(state.filters)) p.append(k, v);
  if (since !== null) p.set('since', since);
  if (until !== null) p.set('until', until);
  return p;
}

function showError(error) {
  $('error').hidden = false;
  $('error').textContent = String(error.message || error);
}

// Runs `work` for the current view; its answer is dropped if the view changed.
function guarded(work) {
  const mine = generation;
  return work(() => mine === generation).catch((e) => { if (mine === generation) showError(e); });
}

// ---- text helpers --------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') node.className = v; else if (k.startsWith('data-')) node.setAttribute(k, v); else node[k] = v;
  }
  for (const child of children) node.append(child);
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

const ms = (ns) => Number(BigInt(ns) / 1000000n);
function timeText(ns) {
  const n = BigInt(ns);
  const iso = new Date(ms(n)).toISOString();
  return iso.slice(0, 19).replace('T', ' ') + '.' + String(n % 1000000000n).padStart(9, '0').slice(0, 6);
}
function shortTime(msValue) { return new Date(msValue).toISOString().slice(5, 19).replace('T', ' '); }
function duration(ns) {
  const n = Number(ns);
  if (n >= 1e9) return (n / 1e9).toFixed(2) + ' s';
  if (n >= 1e6) return (n / 1e6).toFixed(1) + ' ms';
  return (n / 1e3).toFixed(0) + ' µs';
}
function number(x) { return Math.abs(x) >= 1000 || Number.isInteger(x) ? x.toLocaleString('en') : x.toPrecision(4); }
// The first time something is drawn, as a mark since the page's navigation
// (what `make ui-bench` reads for the time to first rows and to the chart).
function markFirst(name) {
  if (!performance.getEntriesByName(name).length) performance.mark(name);
}
const rowKey = (e) => JSON.stringify([e.timestamp_ns, e.level, e.service, e.source, e.message, e.attributes]);

// ---- logs ----------------------------------------------------------------

function logRow(entry) {
  const row = el('tr', { class: 'log-row', 'data-ns': entry.timestamp_ns },
    el('td', {}, timeText(entry.timestamp_ns)),
    el('td', { class: 'level lv-' + entry.level }, entry.level),
    el('td', {}, entry.service),
    el('td', { class: 'dim' }, entry.source),
    el('td', { class: 'message' }, entry.message));
  row.addEventListener('click', () => toggleDetail(row, entry));
  return row;
}

function toggleDetail(row, entry) {
  const next = row.nextElementSibling;
  if (next && next.classList.contains('detail')) { next.remove(); return; }
  const attrs = el('table', { class: 'attrs' });
  const pairs = [...entry.attributes];
  if (entry.trace_id) pairs.push(['trace id', entry.trace_id], ['span id', entry.span_id]);
  for (const [k, v] of pairs) attrs.append(el('tr', {}, el('td', {}, k), el('td', {}, v)));
  const cell = el('td', { colSpan: 5 }, attrs);
  if (entry.trace_id) {
    const open = el('button', { class: 'link open-trace', type: 'button' }, 'Show the trace');
    open.addEventListener('click', () => openTrace(entry.trace_id));
    cell.append(open);
  }
  row.after(el('tr', { class: 'detail' }, cell));
}

function rememberNewest(entries) {
  for (const e of entries) {
    const ns = BigInt(e.timestamp_ns);
    if (newest === null || ns > newest[0]) newest = [ns, new Set([rowKey(e)])];
    else if (ns === newest[0]) newest[1].add(rowKey(e));
  }
}

async function loadLogs(after) {
  const [since, until] = currentRange();
  const p = filterParams(since, until);
  if (after) p.set('after', after);
  await guarded(async (current) => {
    const page = await ask('api/logs', p);
    if (!current()) return;
    const body = $('log-rows');
    if (!after) { body.replaceChildren(); newest = null; }
    body.append(...page.entries.map(logRow));
    rememberNewest(page.entries);
    cursor = page.next;
    $('more').hidden = !cursor;
    $('no-logs').hidden = body.children.length > 0;
    markFirst('chlog:rows');
  });
}

// Live: the rows since the newest shown, oldest first, each once.
async function pollLive() {
  const p = filterParams(newest ? newest[0] : currentRange()[0], null);
  p.set('order', 'oldest');
  p.set('limit', '500');
  await guarded(async (current) => {
    const page = await ask('api/logs', p);
    if (!current()) return;
    const fresh = page.entries.filter((e) => !(newest && BigInt(e.timestamp_ns) === newest[0] && newest[1].has(rowKey(e))));
    const body = $('log-rows');
    for (const e of fresh) {
      const row = logRow(e);
      row.classList.add('new');
      body.prepend(row);
    }
    rememberNewest(fresh);
    if (fresh.length) $('no-logs').hidden = true;
  });
}

async function loadStats() {
  const [since, until] = currentRange();
  await guarded(async (current) => {
    const stats = await ask('api/stats', filterParams(since, until));
    if (!current()) return;
    $('count').textContent = stats.total.toLocaleString('en') + (stats.total === 1 ? ' log' : ' logs');
    $('count').dataset.total = stats.total;
    const levels = LEVELS.filter((l) => stats.by_level[l]).map((l) =>
      el('span', { class: 'lv-' + l, 'data-level': l, 'data-count': stats.by_level[l] }, l + ' ' + stats.by_level[l].toLocaleString('en')));
    $('levels').replaceChildren(...levels);
    $('range-text').textContent = shortTime(ms(since)) + ' → ' + shortTime(ms(until)) + ' UTC';
  });
}

// ---- the volume chart ----------------------------------------------------

async function loadVolume() {
  const [since, until] = currentRange();
  await guarded(async (current) => {
    const volume = await ask('api/volume', filterParams(since, until));
    if (current()) drawVolume(volume);
  });
}

function drawVolume(volume) {
  const chart = $('volume');
  const width = chart.clientWidth || 800, height = 110, top = 6, bottom = 16;
  const t0 = BigInt(volume.since_ns), t1 = BigInt(volume.until_ns);
  const step = BigInt(volume.interval_s) * 1000000000n;
  const span = Number(t1 - t0) || 1;
  const x = (ns) => (Number(BigInt(ns) - t0) / span) * width;
  const totals = volume.buckets.map((b) => Object.values(b.by_level).reduce((a, c) => a + c, 0));
  const max = Math.max(1, ...totals);
  const barWidth = Math.max(1, (Number(step) / span) * width - 1);
  chart.setAttribute('viewBox', `0 0 ${width} ${height}`);
  chart.replaceChildren(svg('line', { class: 'axis', x1: 0, x2: width, y1: height - bottom, y2: height - bottom }));
  volume.buckets.forEach((bucket, i) => {
    let y = height - bottom;
    const group = svg('g', { class: 'bucket', 'data-start': bucket.start_ns, 'data-count': totals[i] });
    for (const level of LEVELS) {
      const count = bucket.by_level[level];
      if (!count) continue;
      const h = (count / max) * (height - top - bottom);
      y -= h;
      const bar = svg('rect', { class: 'bar lv-' + level, x: x(bucket.start_ns), y, width: barWidth, height: h, 'data-level': level, 'data-count': count });
      bar.append(svg('title'));
      bar.lastChild.textContent = `${shortTime(ms(bucket.start_ns))}: ${count} ${level}`;
      group.append(bar);
    }
    chart.append(group);
  });
  const label = (text, at, anchor) => {
    const t = svg('text', { x: at, y: height - 3, 'text-anchor': anchor });
    t.textContent = text;
    chart.append(t);
  };
  label(shortTime(ms(t0)), 0, 'start');
  label(`${volume.interval_s} s per bar · max ${max.toLocaleString('en')}`, width / 2, 'middle');
  label(shortTime(ms(t1)), width, 'end');
  markFirst('chlog:volume');
  chart.dataset.since = volume.since_ns;
  chart.dataset.until = volume.until_ns;
  chart.dataset.step = String(step);
}

// Drag across the chart to zoom into that stretch; a click zooms into one bar.
function setUpZoom() {
  const chart = $('volume');
  let start = null, box = null;
  const at = (event) => {
    const r = chart.getBoundingClientRect();
    return Math.min(Math.max(event.clientX - r.left, 0), r.width) / r.width;
  };
  const time = (fraction) => {
    const t0 = BigInt(chart.dataset.since), t1 = BigInt(chart.dataset.until);
    return t0 + BigInt(Math.round(Number(t1 - t0) * fraction));
  };
  chart.addEventListener('mousedown', (event) => {
    if (!chart.dataset.since) return;
    start = at(event);
    box = svg('rect', { class: 'selection', y: 0, height: 110, x: start * chart.viewBox.baseVal.width, width: 0 });
    chart.append(box);
  });
  chart.addEventListener('mousemove', (event) => {
    if (start === null) return;
    const w = chart.viewBox.baseVal.width, now = at(event);
    box.setAttribute('x', Math.min(start, now) * w);
    box.setAttribute('width', Math.abs(now - start) * w);
  });
  window.addEventListener('mouseup', (event) => {
    if (start === null) return;
    const end = at(event);
    let [a, b] = [time(Math.min(start, end)), time(Math.max(start, end))];
    start = null;
    box.remove();
    if (b - a < BigInt(chart.dataset.step)) {
      // A click: the bar under it.
      const step = BigInt(chart.dataset.step), t0 = BigInt(chart.dataset.since);
      a = t0 + ((a - t0) / step) * step;
      b = a + step;
    }
    state.since = a;
    state.until = b;
    state.live = false;
    changed();
  });
}

// ---- metrics ---------------------------------------------------------------

async function loadMetricNames() {
  await guarded(async (current) => {
    const answer = await ask('api/metric_names', new URLSearchParams());
    if (!current()) return;
    const select = $('metric-name');
    const options = answer.names.map((n) => el('option', { value: n.name }, `${n.name} (${n.kind})`));
    select.replaceChildren(el('option', { value: '' }, answer.names.length ? 'choose a metric' : 'no metrics stored'), ...options);
    select.value = state.metric;
  });
}

async function loadMetric() {
  const chart = $('metric-chart');
  if (!state.metric) { chart.replaceChildren(); $('metric-info').textContent = ''; return; }
  const [since, until] = currentRange();
  const p = new URLSearchParams({ name: state.metric, since, until });
  await guarded(async (current) => {
    const answer = await ask('api/metric', p);
    if (current()) drawMetric(answer);
  });
}

function drawMetric(answer) {
  const chart = $('metric-chart');
  const width = chart.clientWidth || 400, height = 160, left = 44, bottom = 16, top = 6;
  const points = answer.points;
  const source = { minute: 'per minute, from the raw rows', hour: 'per hour, from metrics_hourly', day: 'per day, from metrics_daily' }[answer.granularity];
  $('metric-info').textContent = `${points.length} points · avg with min–max · ${source}`;
  $('metric-info').dataset.granularity = answer.granularity;
  chart.setAttribute('viewBox', `0 0 ${width} ${height}`);
  chart.replaceChildren();
  if (!points.length) return;
  const lo = Math.min(...points.map((p) => p.min)), hi = Math.max(...points.map((p) => p.max));
  const [s0, s1] = [points[0].start, points[points.length - 1].start];
  const x = (s) => left + (s1 === s0 ? (width - left) / 2 : ((s - s0) / (s1 - s0)) * (width - left - 6));
  const y = (v) => top + (hi === lo ? (height - top - bottom) / 2 : (1 - (v - lo) / (hi - lo)) * (height - top - bottom));
  const band = points.map((p) => `${x(p.start)},${y(p.max)}`).concat(points.slice().reverse().map((p) => `${x(p.start)},${y(p.min)}`));
  chart.append(svg('polygon', { class: 'band', points: band.join(' ') }));
  chart.append(svg('polyline', { class: 'avg', points: points.map((p) => `${x(p.start)},${y(p.avg)}`).join(' ') }));
  for (const p of points) {
    const dot = svg('circle', { class: 'point', cx: x(p.start), cy: y(p.avg), r: 2.5, 'data-start': p.start, 'data-avg': p.avg });
    dot.append(svg('title'));
    dot.lastChild.textContent = `${shortTime(p.start * 1000)}: avg ${number(p.avg)}, min ${number(p.min)}, max ${number(p.max)} (${p.count} rows)`;
    chart.append(dot);
  }
  const label = (text, tx, ty, anchor) => {
    const t = svg('text', { x: tx, y: ty, 'text-anchor': anchor });
    t.textContent = text;
    chart.append(t);
  };
  label(number(hi), left - 4, top + 8, 'end');
  label(number(lo), left - 4, height - bottom, 'end');
  label(shortTime(s0 * 1000), left, height - 3, 'start');
  label(shortTime(s1 * 1000), width, height - 3, 'end');
}

// ---- traces ----------------------------------------------------------------

function openTrace(id) {
  state.trace = id;
  writeHash();
  loadTrace();
}

async function loadTrace() {
  $('trace-panel').hidden = !state.trace;
  if (!state.trace) return;
  const id = state.trace;
  await guarded(async (current) => {
    const trace = await ask('api/trace', new URLSearchParams({ id }));
    if (current() && state.trace === id) drawTrace(trace);
  });
}

function drawTrace(trace) {
  $('trace-id').textContent = trace.trace_id;
  const total = Number(trace.duration_ns) || 1;
  const logs = trace.spans.reduce((n, s) => n + s.logs.length, trace.unattached_logs.length);
  const services = trace.services.length === 1 ? '1 service' : `${trace.services.length} services`;
  $('trace-info').textContent = trace.spans.length
    ? `${trace.spans.length} spans · ${services} · ${duration(total)} · ${logs} logs${trace.truncated ? ' · truncated' : ''}`
    : 'No spans stored for this trace.';
  const rows = [];
  for (const span of trace.spans) {
    // A span whose parent has no row hangs under a line that says so.
    if (span.parent_missing) {
      rows.push(el('div', { class: 'span-missing', 'data-parent': span.parent_span_id,
        title: 'not sampled there, not arrived yet, or from a service not stored here' },
      `⋯ parent ${span.parent_span_id} not stored`));
    }
    const depth = span.depth + (span.parent_missing ? 1 : 0);
    const label = el('div', { class: 'span-label', title: `${span.service}: ${span.name} (${span.kind})` },
      span.name + ' ', el('span', { class: 'span-service' }, span.service));
    label.style.paddingLeft = (depth * 12) + 'px';
    const bar = el('div', { class: 'span-bar' + (span.status === 'Error' ? ' error' : '') });
    const left = (Number(span.offset_ns) / total) * 100, width = (Number(span.duration_ns) / total) * 100;
    bar.style.left = left + '%';
    bar.style.width = width + '%';
    bar.title = `${duration(span.duration_ns)} from ${duration(span.offset_ns)}${span.status_message ? ' — ' + span.status_message : ''}`;
    rows.push(el('div', { class: 'span-row' + (span.parent_missing ? ' orphan' : ''), 'data-name': span.name,
      'data-depth': span.depth, 'data-status': span.status, 'data-service': span.service, 'data-kind': span.kind,
      'data-span-id': span.span_id, 'data-parent-span-id': span.parent_span_id,
      'data-parent-missing': span.parent_missing ? 'true' : 'false',
      'data-offset-ns': span.offset_ns, 'data-duration-ns': span.duration_ns, 'data-logs': span.logs.length },
    label, el('div', { class: 'span-track' }, bar), el('span', { class: 'span-time' }, duration(span.duration_ns))));
  }
  $('waterfall').replaceChildren(...rows);
}

// ---- services and alerts -----------------------------------------------------

async function loadStatus() {
  await guarded(async (current) => {
    const status = await ask('api/status', new URLSearchParams());
    if (!current()) return;
    const services = status.services.map((s) => el('li', { 'data-service': s.service, 'data-status': s.status },
      el('span', { class: 'badge st-' + (['up', 'degraded', 'down'].includes(s.status) ? s.status : 'unknown') }, s.status), ' ',
      s.service, ' ', el('span', { class: 'dim' }, 'since ' + shortTime(s.since_ns / 1e6) + (s.details.error ? ' — ' + s.details.error : ''))));
    $('services').replaceChildren(...(services.length ? services : [el('li', { class: 'dim' }, 'No service statuses recorded.')]));
    const alerts = status.alerts.map((a) => {
      const d = a.details;
      return el('li', { 'data-key': a.key, 'data-severity': d.severity || '' },
        el('span', { class: 'badge sev-' + (d.severity || 'info') }, d.severity || 'alert'), ' ',
        el('strong', {}, d.rule || a.key), ' ', d.message || '',
        el('div', { class: 'dim' }, `value ${d.value ?? '?'} (threshold ${d.threshold ?? '?'})` + (d.group ? ` · ${d.group}` : '') +
          ` · firing since ${shortTime(a.since_ns / 1e6)}`));
    });
    $('alerts').replaceChildren(...(alerts.length ? alerts : [el('li', { class: 'dim' }, 'None firing.')]));
  });
}

// ---- putting it together ----------------------------------------------------

function loadAll() {
  generation += 1;
  $('error').hidden = true;
  cursor = null;
  showState();
  const parts = [loadStats(), loadVolume(), loadLogs(null), loadMetricNames(), loadMetric(), loadStatus(), loadTrace()];
  // How many views have been drawn: what a test waits for.
  return Promise.all(parts).then(() => { document.body.dataset.loads = Number(document.body.dataset.loads || 0) + 1; });
}

function changed() {
  writeHash();
  restartLive();
  return loadAll();
}

function restartLive() {
  timers.forEach(clearInterval);
  timers = [];
  if (!state.live) return;
  timers.push(setInterval(pollLive, LIVE_LOGS_MS));
  timers.push(setInterval(() => { loadStats(); loadVolume(); loadMetric(); loadStatus(); }, LIVE_CHARTS_MS));
}

function setUp() {
  $('filters').addEventListener('submit', (event) => {
    event.preventDefault();
    state.filters = {};
    for (const key of FILTERS) { const v = $(INPUTS[key]).value; if (v !== '') state.filters[key] = v; }
    changed();
  });
  $('min-level').addEventListener('change', () => $('filters').requestSubmit());
  $('clear').addEventListener('click', () => { state.filters = {}; changed(); });
  $('range').addEventListener('change', () => { state.range = Number($('range').value); state.since = state.until = null; changed(); });
  $('zoom-out').addEventListener('click', () => { state.since = state.until = null; changed(); });
  $('live').addEventListener('change', () => {
    state.live = $('live').checked;
    if (state.live) { state.since = state.until = null; }
    changed();
  });
  $('more').addEventListener('click', () => { if (cursor) loadLogs(cursor); });
  $('metric-name').addEventListener('change', () => { state.metric = $('metric-name').value; writeHash(); loadMetric(); });
  $('trace-close').addEventListener('click', () => { state.trace = ''; writeHash(); loadTrace(); });
  window.addEventListener('hashchange', () => { readHash(); restartLive(); loadAll(); });
  window.addEventListener('resize', () => { loadVolume(); loadMetric(); });
  setUpZoom();
  readHash();
  restartLive();
  loadAll();
}

setUp();
