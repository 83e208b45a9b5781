// learnsys dashboard page: run list, live charts (server-sent events), smoothing, zoom,
// overlays, zh/en, lecture views (lectures.js), predict. No build step, no framework.
//
// Data flow: GET /api/runs/{id} (metric names, events, last row id) -> GET .../series for each
// metric (min/max buckets or all points) -> EventSource .../stream?last_id=N appends new rows.
// Smoothing is the exponentially weighted mean of lecture 3 on the raw points: computed here
// when the page holds every raw point of a series, else asked from the server (?beta=).
'use strict';
(function () {
  const I18N = window.learnsysI18n;
  const CHARTS = ['loss', 'dev', 'acc', 'lr', 'param', 'other'];
  const EVENT_COLORS = { checkpoint: '#8c959f', resume: '#0969da', divergence: '#cf222e' };
  const PALETTE = ['#5470c6', '#ee6666', '#3ba272', '#fc8452', '#9a60b4', '#73c0de', '#fac858', '#ea7ccc'];
  const SMOOTHED = 'train/loss';

  const $ = (sel) => document.querySelector(sel);
  const now = () => performance.timeOrigin + performance.now();
  const state = {
    lang: localStorage.getItem('learnsys.lang') || ((navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en'),
    runs: [], selected: null, overlays: [], smoothing: 0.6,
    data: {},        // runId -> {info, series: {name: S}, events, lastId, es, loadedAt}
    charts: {},      // chart key -> echarts instance
  };
  // S = {steps, values, smooth|null, complete: every raw point of the run is here}
  const debug = window.learnsysDebug = {
    ready: false, renders: 0, sseMessages: 0, reconnects: 0, loadMs: null, arrivals: {}, received: {},
    counts(runId) {
      const d = state.data[runId || state.selected]; const out = {};
      if (d) for (const [n, s] of Object.entries(d.series)) out[n] = s.steps.length;
      return out;
    },
    series(name, runId) {
      const s = state.data[runId || state.selected]?.series[name];
      return s && { steps: s.steps.slice(), values: s.values.slice(), smooth: s.smooth && s.smooth.slice(), complete: s.complete };
    },
    lastId(runId) { return state.data[runId || state.selected]?.lastId; },
    state,
  };
  const beta = () => Math.max(0.01, Math.round((1 - state.smoothing) * 100) / 100); // lecture 3's beta
  const t = (key) => I18N[state.lang][key] ?? I18N.en[key] ?? key;

  async function api(path, init) {
    const r = await fetch(path, init);
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || `${r.status} ${path}`);
    return body;
  }

  // -- language ------------------------------------------------------------------------------
  function applyLang() {
    document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
    $('#lang').value = state.lang;
    for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
    renderRunList(); renderHead(); renderAll();
    if (window.learnsysViews && typeof window.learnsysViews.onLang === 'function') window.learnsysViews.onLang(state.lang);
    else renderArtifacts();
    debug.lang = state.lang;
  }

  // -- run list and selection ------------------------------------------------------------
  function readHash() {
    const p = new URLSearchParams(location.hash.slice(1));
    return { run: p.get('run'), compare: (p.get('compare') || '').split(',').filter(Boolean) };
  }
  function writeHash() {
    const p = new URLSearchParams();
    if (state.selected) p.set('run', state.selected);
    if (state.overlays.length) p.set('compare', state.overlays.join(','));
    history.replaceState(null, '', '#' + p.toString());
  }
  async function refreshRuns() {
    try { state.runs = await api('api/runs'); } catch (e) { return; }
    if (!state.selected && state.runs.length) select(readHash().run || state.runs[0].id);
    renderRunList();
  }
  function renderRunList() {
    const ul = $('#runs'); ul.textContent = '';
    $('#no-runs').hidden = state.runs.length > 0;
    for (const r of state.runs) {
      const li = document.createElement('li');
      li.dataset.run = r.id; li.classList.toggle('selected', r.id === state.selected);
      const box = document.createElement('input'); box.type = 'checkbox'; box.title = 'compare';
      box.checked = state.overlays.includes(r.id); box.disabled = r.id === state.selected;
      box.addEventListener('click', (ev) => { ev.stopPropagation(); toggleOverlay(r.id, box.checked); });
      const id = document.createElement('span'); id.className = 'rid'; id.textContent = r.id; id.title = `${r.id} · ${t(r.kind)}`;
      const st = document.createElement('span'); st.className = 'status'; st.dataset.status = r.status; st.textContent = t(r.status);
      const step = document.createElement('span'); step.className = 'step'; step.textContent = r.kind === 'train' ? r.step : t(r.kind);
      li.append(box, id, st, step);
      li.addEventListener('click', () => select(r.id));
      ul.append(li);
    }
  }
  function select(runId) {
    if (state.selected === runId) return;
    const old = state.selected;
    state.selected = runId;
    state.overlays = state.overlays.filter((r) => r !== runId);
    if (old && !state.overlays.includes(old)) dropRun(old);
    writeHash(); renderRunList(); loadRun(runId);
  }
  function toggleOverlay(runId, on) {
    state.overlays = state.overlays.filter((r) => r !== runId);
    if (on) { state.overlays.push(runId); loadRun(runId); } else dropRun(runId);
    writeHash(); renderAll();
  }
  function dropRun(runId) {
    const d = state.data[runId];
    if (d && d.es) d.es.close();
    delete state.data[runId];
  }

  // -- loading a run ---------------------------------------------------------------------
  function plotWidth() {
    const el = document.querySelector('.plot');
    return Math.max(200, Math.min(4000, Math.round((el && el.clientWidth) || 800)));
  }
  async function fetchSeries(runId, name, range) {
    const q = new URLSearchParams({ name, width: plotWidth() });
    if (range) { q.set('start', Math.floor(range[0])); q.set('stop', Math.ceil(range[1])); }
    if (name === SMOOTHED) q.set('beta', beta());
    return api(`api/runs/${encodeURIComponent(runId)}/series?${q}`);
  }
  function fromResponse(r) {
    return { steps: r.steps, values: r.values, smooth: r.smooth || null, complete: r.mode === 'raw', beta: r.beta };
  }
  async function loadRun(runId) {
    const started = now();
    if (state.data[runId] && state.data[runId].es) state.data[runId].es.close();
    const d = state.data[runId] = { info: null, series: {}, events: [], lastId: 0, es: null, loadedAt: started };
    let info;
    try { info = await api(`api/runs/${encodeURIComponent(runId)}`); } catch (e) {
      if (runId === state.selected) showMessage(e.message);
      setTimeout(() => { if (state.data[runId] === d) loadRun(runId); }, 2000); // the run may not exist yet
      return;
    }
    if (state.data[runId] !== d) return; // replaced meanwhile
    d.info = info; d.events = info.events; d.lastId = info.last_metric_id;
    openStream(runId, d); // rows that land while the series load are merged into them
    if (runId === state.selected) { renderHead(); renderArtifacts(); renderPredict(); }
    await Promise.all(info.metrics.map((n) => fetchSeries(runId, n).then((r) => {
      if (state.data[runId] === d) { adopt(d, n, fromResponse(r)); scheduleRender(); } // each chart as soon as it can
    }).catch(() => null)));
    if (state.data[runId] !== d) return;
    renderAll();
    if (runId === state.selected) { await afterPaint(); debug.loadMs = now() - started; debug.ready = true; }
  }

  // -- live updates ----------------------------------------------------------------------
  function openStream(runId, d) {
    // thin=1: above ~1,300 steps/s a series arrives as per-message min/max rows (marked
    // "thinned"); the exact buckets and smoothing then come from the series endpoint.
    const es = d.es = new EventSource(`api/runs/${encodeURIComponent(runId)}/stream?last_id=${d.lastId}&thin=1`);
    let opened = false;
    es.onopen = () => { if (opened) debug.reconnects++; opened = true; setConn('live'); };
    es.onerror = () => {
      setConn('reconnecting');
      if (es.readyState === EventSource.CLOSED && state.data[runId] === d) {
        debug.reopens = (debug.reopens || 0) + 1; // the browser gave up: reopen with ?last_id
        setTimeout(() => { if (state.data[runId] === d && d.es === es) openStream(runId, d); }, 1000);
      }
    };
    es.addEventListener('metrics', (ev) => {
      debug.sseMessages++;
      const { rows, thinned } = JSON.parse(ev.data);
      const b = beta(); const t0 = now(); const limit = 4 * plotWidth(); // once: clientWidth forces a layout
      countRows(rows.length);
      for (const name of thinned || []) {
        const s = d.series[name];
        if (s) { s.complete = false; s.smoothStale = true; } // the page no longer has every raw point
      }
      for (const [id, name, step, value] of rows) {
        if (id <= d.lastId) continue;
        d.lastId = id;
        let s = d.series[name];
        if (!s) s = d.series[name] = { steps: [], values: [], smooth: name === SMOOTHED ? [] : null, complete: true, beta: b };
        const n = s.steps.length;
        if (n && step <= s.steps[n - 1]) continue; // already in the snapshot
        s.steps.push(step); s.values.push(value);
        if (s.smooth) s.smooth.push(value === null || s.smoothStale ? null : b * value + (1 - b) * lastFinite(s.smooth, value));
        if (name === SMOOTHED && runId === state.selected) { pendingArrivals.push(step); debug.received[step] = t0; }
        if (s.steps.length > limit) resample(runId, d, name);
      }
      for (const [name, s] of Object.entries(d.series)) if (s.smoothStale) resample(runId, d, name);
      if (runId === state.selected) debug.lastReceived = t0;
      scheduleRender();
    });
    es.addEventListener('events', (ev) => {
      const { events } = JSON.parse(ev.data);
      const known = new Set(d.events.map((e) => e.id));
      const fresh = events.filter((e) => !known.has(e.id));
      if (!fresh.length) return;
      d.events.push(...fresh);
      // A resume dropped the rows logged after the last checkpoint: reload the curves.
      if (fresh.some((e) => e.kind === 'resume')) { loadRun(runId); return; }
      scheduleRender();
    });
    es.addEventListener('run', (ev) => {
      const r = JSON.parse(ev.data);
      if (d.info) Object.assign(d.info, r);
      const row = state.runs.find((x) => x.id === runId);
      if (row) Object.assign(row, r);
      if (runId === state.selected) renderHead();
    });
  }
  // A long live run: once a series holds far more points than pixels, swap it for the
  // server's buckets (plus whatever arrived meanwhile), so drawing stays cheap.
  async function resample(runId, d, name) {
    d.resampling = d.resampling || {};
    const r = d.resampling[name] = d.resampling[name] || { at: 0, busy: false, again: false, timer: null };
    if (r.busy) { r.again = true; return; }
    const due = r.at + 1000 - now(); // at most once a second per series, and once more after the last call
    if (due > 0) {
      if (!r.timer) r.timer = setTimeout(() => { r.timer = null; resample(runId, d, name); }, due);
      return;
    }
    r.busy = true; r.at = now();
    const resp = await fetchSeries(runId, name).catch(() => null);
    r.busy = false;
    if (resp && state.data[runId] === d && d.series[name]) {
      adopt(d, name, fromResponse(resp));
      debug.resamples = (debug.resamples || 0) + 1;
      scheduleRender();
    }
    if (r.again) { r.again = false; resample(runId, d, name); }
  }
  // Replace a series by the server's answer, keeping the live points newer than it. Behind
  // thinned points the smoothed curve stops (it needs every raw point) until the next answer.
  function adopt(d, name, fresh) {
    const cur = d.series[name];
    const last = fresh.steps.length ? fresh.steps[fresh.steps.length - 1] : -Infinity;
    const b = beta();
    if (cur) {
      for (let i = 0; i < cur.steps.length; i++) {
        if (cur.steps[i] <= last) continue;
        const v = cur.values[i];
        fresh.steps.push(cur.steps[i]); fresh.values.push(v);
        if (cur.smoothStale) { fresh.smoothStale = true; fresh.complete = false; }
        if (fresh.smooth) fresh.smooth.push(v === null || fresh.smoothStale ? null : b * v + (1 - b) * lastFinite(fresh.smooth, v));
      }
    }
    d.series[name] = fresh;
  }
  // ECharts (lazyUpdate) draws in its own animation-frame callback, queued before ours: by the
  // time this frame callback runs, the canvas holds the new points.
  const afterPaint = () => new Promise((r) => requestAnimationFrame(() => r()));
  function lastFinite(arr, fallback) {
    for (let i = arr.length - 1; i >= 0; i--) if (arr[i] !== null) return arr[i];
    return fallback;
  }
  function setConn(s) { const el = $('#conn'); el.dataset.state = s; el.textContent = t(s); }

  let renderQueued = false; const pendingArrivals = [];
  // Live updates draw on the next animation frame, but spend at most about a quarter of the
  // time drawing (waiting at most 150 ms); a long or full-speed run (sampled curves, or
  // thousands of rows a second) is drawn four times a second: the page must not slow the
  // training beside it.
  let lastRenderMs = 0, lastRenderEnd = 0, paintMs = 0; // paintMs: ECharts' own drawing since the last render
  let rowRate = 0, rateStart = 0, rateRows = 0;
  function countRows(n) {
    const t = now();
    rateRows += n;
    if (t - rateStart >= 1000) { rowRate = rateRows * 1000 / (t - rateStart); rateStart = t; rateRows = 0; }
  }
  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    const heavy = rowRate > 5000 || shownRuns().some((r) => Object.values(state.data[r].series).some((x) => !x.complete));
    const gap = heavy ? 250 : Math.min(3 * (lastRenderMs + paintMs), 150);
    const wait = Math.max(0, lastRenderEnd + gap - now());
    const draw = () => requestAnimationFrame(() => { renderQueued = false; renderAll(); });
    if (wait > 0) setTimeout(draw, wait); else draw();
  }

  // -- smoothing -------------------------------------------------------------------------
  function ewm(values, b) {
    const out = new Array(values.length); let prev = null;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === null) { out[i] = null; continue; }
      prev = prev === null ? v : b * v + (1 - b) * prev;
      out[i] = prev;
    }
    return out;
  }
  let smoothTimer = null;
  function onSmoothing() {
    state.smoothing = Number($('#smoothing').value);
    $('#smoothing-value').textContent = `β = ${beta().toFixed(2)}`;
    const b = beta();
    for (const [runId, d] of Object.entries(state.data)) {
      const s = d.series[SMOOTHED];
      if (s && s.complete) { s.smooth = ewm(s.values, b); s.beta = b; }
    }
    renderAll();
    clearTimeout(smoothTimer); // series the page holds only sampled: the server smooths the raw points
    smoothTimer = setTimeout(async () => {
      for (const [runId, d] of Object.entries(state.data)) {
        const s = d.series[SMOOTHED];
        if (s && !s.complete) {
          const r = await fetchSeries(runId, SMOOTHED).catch(() => null);
          if (r && state.data[runId] === d) adopt(d, SMOOTHED, fromResponse(r));
        }
      }
      renderAll();
    }, 200);
  }

  // -- charts ----------------------------------------------------------------------------
  function chartOf(name) {
    if (name === 'train/loss' || name === 'train/loss_epoch') return 'loss';
    if (name === 'dev/loss') return 'dev';
    if (name === 'dev/accuracy') return 'acc';
    if (name === 'lr') return 'lr';
    if (name.startsWith('param/')) return 'param';
    return 'other';
  }
  function label(name) {
    if (name === 'train/loss') return t('raw');
    if (name === 'train/loss_epoch') return t('epoch_mean');
    if (name.startsWith('param/')) return name.slice(6);
    return { 'dev/loss': t('chart_dev'), 'dev/accuracy': t('chart_acc'), lr: t('chart_lr') }[name] || name;
  }
  // The points to draw: all of them, or (more than two per pixel, e.g. a fast live run between
  // two resamples) per pixel the first, smallest, largest and last point and the first gap,
  // as the server's buckets do. The page keeps every point it received; this only bounds
  // what ECharts has to lay out on each redraw.
  function zip(steps, values, width) {
    const n = steps.length;
    if (n <= 2 * width) { const out = new Array(n); for (let i = 0; i < n; i++) out[i] = [steps[i], values[i]]; return out; }
    const lo = steps[0], span = steps[n - 1] - lo + 1, out = [];
    let i = 0;
    while (i < n) {
      const b = Math.floor((steps[i] - lo) * width / span);
      let j = i, iMin = -1, iMax = -1, iGap = -1;
      for (; j < n && Math.floor((steps[j] - lo) * width / span) === b; j++) {
        const v = values[j];
        if (v === null) { if (iGap < 0) iGap = j; continue; }
        if (iMin < 0 || v < values[iMin]) iMin = j;
        if (iMax < 0 || v > values[iMax]) iMax = j;
      }
      for (const k of [...new Set([i, iMin, iMax, iGap, j - 1])].filter((k) => k >= 0).sort((a, c) => a - c)) out.push([steps[k], values[k]]);
      i = j;
    }
    return out;
  }
  function chart(key) {
    if (state.charts[key]) return state.charts[key];
    const fig = document.querySelector(`.chart[data-chart="${key}"]`);
    fig.hidden = false;
    const c = echarts.init(fig.querySelector('.plot'), null, { renderer: 'canvas' });
    c.group = 'learnsys';
    c.setOption({
      animation: false, grid: { left: 64, right: 24, top: 36, bottom: 56 },
      tooltip: { trigger: 'axis', axisPointer: { type: 'line' } },
      legend: { top: 4, type: 'scroll' },
      xAxis: { type: 'value', name: t('step'), nameLocation: 'middle', nameGap: 24, min: 'dataMin', max: 'dataMax' },
      yAxis: { type: 'value', scale: true },
      dataZoom: [{ type: 'inside', filterMode: 'none' }, { type: 'slider', height: 16, bottom: 4, filterMode: 'none', showDataShadow: false }],
      series: [],
    });
    c.on('datazoom', () => onZoom(c));
    c.on('rendered', (e) => { paintMs += e.elapsedTime || 0; debug.paintMs = (debug.paintMs || 0) + (e.elapsedTime || 0); });
    state.charts[key] = c;
    echarts.connect('learnsys');
    return c;
  }
  function shownRuns() { return [state.selected, ...state.overlays].filter((r) => state.data[r] && state.data[r].info); }
  function renderAll() {
    const started = now();
    const runs = shownRuns();
    const width = plotWidth();
    const perChart = Object.fromEntries(CHARTS.map((k) => [k, []]));
    runs.forEach((runId, ri) => {
      const d = state.data[runId]; const multi = runs.length > 1;
      const names = Object.keys(d.series).sort();
      let ci = 0;
      for (const name of names) {
        const s = d.series[name]; const key = chartOf(name);
        const color = multi ? PALETTE[ri % PALETTE.length] : PALETTE[ci++ % PALETTE.length];
        const prefix = multi ? `${runId} · ` : '';
        const smoothed = name === SMOOTHED && s.smooth;
        perChart[key].push({
          type: 'line', name: prefix + label(name), data: zip(s.steps, s.values, width), showSymbol: s.steps.length < 40,
          symbolSize: 4, lineStyle: { width: smoothed ? 1 : 1.6, opacity: smoothed ? 0.35 : 1 }, itemStyle: { color },
          emphasis: { disabled: true }, connectNulls: false,
          markLine: ri === 0 && key !== 'param' ? eventMarks(d.events) : undefined,
        });
        if (smoothed) {
          perChart[key].push({
            type: 'line', name: prefix + t('smoothed'), data: zip(s.steps, s.smooth, width), showSymbol: false,
            lineStyle: { width: 2 }, itemStyle: { color: multi ? color : '#d14a00' }, emphasis: { disabled: true },
          });
        }
      }
    });
    for (const key of CHARTS) {
      const series = perChart[key];
      const fig = document.querySelector(`.chart[data-chart="${key}"]`);
      if (!series.length) { fig.hidden = true; continue; }
      const c = chart(key); fig.hidden = false;
      const log = state.logScale && (key === 'loss' || key === 'dev');
      c.setOption({ xAxis: { name: t('step') }, yAxis: { type: log ? 'log' : 'value', scale: true }, series },
        { replaceMerge: ['series'], lazyUpdate: true });
    }
    $('#controls').hidden = !runs.some((r) => state.data[r].series[SMOOTHED]);
    debug.renders++;
    if (pendingArrivals.length) { // stamped once ECharts has painted them (it paints on the next frame)
      const steps = pendingArrivals.splice(0);
      afterPaint().then(() => { const at = now(); for (const step of steps) debug.arrivals[step] = at; });
    }
    debug.renderedAt = lastRenderEnd = now();
    lastRenderMs = lastRenderEnd - started;
    paintMs = 0;
    debug.renderMs = (debug.renderMs || 0) + lastRenderMs;
  }
  function eventMarks(events) {
    const marks = (events || []).filter((e) => EVENT_COLORS[e.kind]).map((e) => ({
      xAxis: e.step, name: t(e.kind), lineStyle: { color: EVENT_COLORS[e.kind], type: e.kind === 'checkpoint' ? 'dotted' : 'dashed' },
      label: { formatter: t(e.kind), color: EVENT_COLORS[e.kind], fontSize: 10 },
    }));
    return marks.length ? { symbol: 'none', silent: true, animation: false, data: marks } : undefined;
  }
  window.addEventListener('resize', () => { for (const c of Object.values(state.charts)) c.resize(); });

  // -- zoom: fetch full resolution for the visible range ----------------------------------
  let zoomTimer = null;
  function onZoom(c) {
    clearTimeout(zoomTimer);
    zoomTimer = setTimeout(async () => {
      const dz = c.getOption().dataZoom[0];
      const lo = dz.startValue, hi = dz.endValue;
      if (lo === undefined || hi === undefined) return;
      for (const runId of shownRuns()) {
        const d = state.data[runId];
        for (const [name, s] of Object.entries(d.series)) {
          if (s.complete) continue;
          const r = await fetchSeries(runId, name, [lo, hi]).catch(() => null);
          if (!r || state.data[runId] !== d || d.series[name] !== s) continue;
          spliceRange(s, r, lo, hi);
        }
      }
      debug.zooms = (debug.zooms || 0) + 1;
      renderAll();
    }, 250);
  }
  function spliceRange(s, r, lo, hi) {
    const keep = (i) => s.steps[i] < lo || s.steps[i] > hi;
    const steps = [], values = [], smooth = s.smooth ? [] : null;
    let inserted = false;
    for (let i = 0; i <= s.steps.length; i++) {
      if (!inserted && (i === s.steps.length || s.steps[i] > hi)) {
        steps.push(...r.steps); values.push(...r.values); if (smooth) smooth.push(...(r.smooth || r.values));
        inserted = true;
      }
      if (i < s.steps.length && keep(i)) { steps.push(s.steps[i]); values.push(s.values[i]); if (smooth) smooth.push(s.smooth[i]); }
    }
    s.steps = steps; s.values = values; s.smooth = smooth;
  }

  // -- header, artifacts, predict ----------------------------------------------------------
  function renderHead() {
    const d = state.data[state.selected];
    $('#run-head').hidden = !d || !d.info;
    if (!d || !d.info) return;
    const i = d.info;
    $('#run-title').textContent = i.id;
    const st = $('#run-status'); st.dataset.status = i.status; st.textContent = t(i.status);
    $('#run-progress').textContent = i.kind === 'train' ? `${t('step')} ${i.step}${i.total_steps ? ` ${t('of')} ${i.total_steps}` : ''}` : t(i.kind);
    $('#run-meta').textContent = [i.model, i.data].filter(Boolean).join(' · ');
    $('#run-message').textContent = i.message || '';
    $('#spec-text').textContent = Object.entries(i.spec || {}).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join('\n');
    $('#spec').hidden = !i.spec || !Object.keys(i.spec).length;
    $('#csv').href = `api/runs/${encodeURIComponent(i.id)}/csv`;
    $('#csv').hidden = !(i.metrics && i.metrics.length);
  }
  function showMessage(text) { $('#run-head').hidden = false; $('#run-message').textContent = text; }
  async function renderArtifacts() {
    const d = state.data[state.selected];
    const box = $('#artifact-views'); box.textContent = '';
    const names = (d && d.info && d.info.artifacts) || [];
    $('#artifacts').hidden = !names.length;
    const views = window.learnsysViews || {};
    for (const name of names) {
      const el = document.createElement('div'); el.className = 'artifact'; el.dataset.artifact = name; box.append(el);
      try {
        const data = await api(`api/runs/${encodeURIComponent(d.info.id)}/artifacts/${encodeURIComponent(name)}`);
        if (typeof views[name] === 'function') views[name](el, data, { echarts, lang: state.lang, runId: d.info.id, api });
        else { el.textContent = `${name}: ${t('no_view')}`; el.classList.add('hint'); }
      } catch (e) { el.textContent = `${name}: ${e.message}`; el.classList.add('error'); }
    }
  }
  function renderPredict() {
    const d = state.data[state.selected];
    $('#predict').hidden = !d || !d.info || d.info.kind !== 'train';
    $('#predict-out').textContent = '';
  }
  async function predict(ev) {
    ev.preventDefault();
    const out = $('#predict-out'); out.textContent = '';
    const rows = $('#predict-input').value.split(/[;\n]/).map((r) => r.trim()).filter(Boolean)
      .map((r) => r.split(/[,\s]+/).filter(Boolean).map(Number));
    try {
      const r = await api(`api/runs/${encodeURIComponent(state.selected)}/predict`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ rows }) });
      const head = out.insertRow();
      for (const k of ['input', 'output']) { const th = document.createElement('th'); th.textContent = t(k); head.append(th); }
      rows.forEach((x, i) => {
        const tr = out.insertRow();
        tr.insertCell().textContent = x.join(', ');
        const y = r.predictions[i];
        tr.insertCell().textContent = Array.isArray(y) ? y.map((v) => Number(v).toPrecision(6)).join(', ') : String(y);
      });
      debug.lastPrediction = r.predictions;
    } catch (e) {
      const tr = out.insertRow(); const td = tr.insertCell(); td.className = 'error'; td.textContent = e.message;
    }
  }

  // -- start -----------------------------------------------------------------------------
  function start() {
    $('#lang').addEventListener('change', (e) => { state.lang = e.target.value; localStorage.setItem('learnsys.lang', state.lang); applyLang(); });
    $('#smoothing').value = String(state.smoothing);
    $('#smoothing').addEventListener('input', onSmoothing);
    $('#log-scale').addEventListener('change', (e) => { state.logScale = e.target.checked; renderAll(); });
    $('#smoothing-value').textContent = `β = ${beta().toFixed(2)}`;
    $('#predict-form').addEventListener('submit', predict);
    window.addEventListener('hashchange', () => { const h = readHash(); if (h.run && h.run !== state.selected) select(h.run); });
    setConn('idle');
    applyLang();
    const h = readHash();
    state.overlays = h.compare;
    if (h.run) select(h.run);
    h.compare.forEach((r) => loadRun(r));
    refreshRuns();
    setInterval(refreshRuns, 2000);
  }
  debug.setLang = (lang) => { state.lang = lang; applyLang(); };
  debug.render = () => renderAll();
  debug.zoom = (lo, hi, key = 'loss') => state.charts[key].dispatchAction({ type: 'dataZoom', startValue: lo, endValue: hi });
  debug.chartSeries = (key) => (state.charts[key] ? state.charts[key].getOption().series : []).map((s) => ({
    name: s.name, points: s.data.length, marks: (s.markLine && s.markLine.data || []).map((m) => m.name) }));
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
