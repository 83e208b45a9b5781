// learnsys dashboard page: the state (runs, the selected run, overlays, language, smoothing,
// x axis) and the wiring between the page's modules. No build step, no framework.
//   format.js (numbers, tooltips) · i18n.js (labels) · messages.js (run messages in zh)
//   series.js (fetch, merge, resample, smooth series) · live.js (the stream, reconnect, replay)
//   charts.js (drawing) · panels.js (run list, header, events, views, predict) · lectures.js
// This file: selection and the URL hash, loading a run, when to redraw, smoothing, zoom.
//
// Data flow: GET /api/runs/{id} (metric names, events, last row id) -> GET .../series for each
// metric (min/max buckets or all points) -> EventSource .../stream?last_id=N appends new rows.
// Smoothing is the exponentially weighted mean of lecture 3 on the raw points: computed by series.js
// when the page holds every raw point of a series, else asked from the server (?beta=).
'use strict';
(function () {
  const I18N = window.learnsysI18n;
  const SMOOTHED = window.learnsysSeries.SMOOTHED;

  const $ = (sel) => document.querySelector(sel);
  const now = () => performance.timeOrigin + performance.now();
  const state = {
    lang: localStorage.getItem('learnsys.lang') || ((navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en'),
    runs: [], selected: null, overlays: [], smoothing: 0.6, xMode: localStorage.getItem('learnsys.x') || 'step', logScale: false,
    data: {},        // runId -> {info, series: {name: S}, events, lastId, es}
  };
  // S (series.js) = {steps, values, smooth|null, complete: every raw point of the run is here, gen}
  const debug = window.learnsysDebug = {
    ready: false, renders: 0, sseMessages: 0, reconnects: 0, loadMs: null, arrivals: {}, received: {}, renderMs: 0, paintMs: 0,
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
  const tf = (key, vals) => t(key).replace(/\{(\w+)\}/g, (m, k) => (k in vals ? vals[k] : m));
  const msg = (text) => window.learnsysMessages.translate(text, state.lang, t);

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

  // -- run list, header, events, artifacts, predict: panels.js -------------------------------
  const panels = window.learnsysPanels.create({
    state, debug, t, tf, msg, api, follow: (runId, names, fn) => live.follow(runId, names, fn),
    select: (r) => select(r), toggleOverlay: (r, on) => toggleOverlay(r, on),
  });
  const { renderRunList, renderHead, renderEvents, checkArtifacts, renderArtifacts, renderPredict, predict, showMessage, runLabels } = panels;

  // -- series (series.js) and live rows (live.js) --------------------------------------------
  const series = window.learnsysSeries.create({ state, debug, api, plotWidth, beta, now, changed: () => scheduleRender() });
  const live = window.learnsysLive.create({
    state, debug, t, series, beta, plotWidth, now,
    on: { rows: (n) => countRows(n), arrived: (step) => pendingArrivals.push(step), reload: (runId) => loadRun(runId),
      head: renderHead, events: renderEvents, statusChanged: () => checkArtifacts(true), changed: () => scheduleRender() },
  });

  // -- selection -----------------------------------------------------------------------------
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
    checkArtifacts();
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
    writeHash(); renderAll(); renderRunList();
  }
  function dropRun(runId) {
    const d = state.data[runId];
    if (d && d.es) d.es.close();
    delete state.data[runId];
  }

  // -- loading a run ---------------------------------------------------------------------
  let width = 0; // of a chart's plot in pixels: read once (a layout), kept until the window resizes
  function plotWidth() {
    if (!width) {
      const el = [...document.querySelectorAll('.plot')].find((p) => p.offsetParent);
      width = el ? Math.max(200, Math.min(4000, Math.round(el.clientWidth))) : gridColumnWidth();
    }
    return width;
  }
  // A chart's plot width before any chart is shown: the #charts grid's columns (minmax 460px).
  function gridColumnWidth() {
    const w = $('#charts').clientWidth || 800;
    const cols = Math.max(1, Math.floor((w + 12) / (460 + 12)));
    return Math.max(200, Math.min(4000, Math.round((w - 12 * (cols - 1)) / cols - 14)));
  }
  async function loadRun(runId) {
    const started = now();
    if (state.data[runId] && state.data[runId].es) state.data[runId].es.close();
    const d = state.data[runId] = { info: null, series: {}, events: [], lastId: 0, es: null };
    let info;
    try { info = await api(`api/runs/${encodeURIComponent(runId)}`); } catch (e) {
      if (runId === state.selected) showMessage(e.message);
      setTimeout(() => { if (state.data[runId] === d) loadRun(runId); }, 2000); // the run may not exist yet
      return;
    }
    if (state.data[runId] !== d) return; // replaced meanwhile
    d.info = info; d.events = info.events; d.lastId = info.last_metric_id;
    live.open(runId, d); // rows that land while the series load are merged into them
    if (runId === state.selected) { renderHead(); renderArtifacts(); renderPredict(); }
    if (state.overlays.length) renderRunList();
    await Promise.all(info.metrics.map((n) => series.fetchSeries(runId, n).then((r) => {
      if (state.data[runId] === d) { series.adopt(d, n, series.fromResponse(r)); scheduleRender(); } // each chart as soon as it can
    }).catch(() => null)));
    if (state.data[runId] !== d) return;
    renderAll();
    if (runId === state.selected) {
      await afterPaint();
      debug.loadMs = now() - started; debug.pageMs = performance.now(); debug.ready = true; // pageMs: since navigation
    }
  }

  // The next animation frame: the one that shows what the last (synchronous) redraw drew.
  const afterPaint = () => new Promise((r) => requestAnimationFrame(() => r()));

  // Live updates draw on the next animation frame. After a redraw the page waits three times
  // what it cost (at most 150 ms), so drawing stays a share of a core; an ECharts
  // update costs a few milliseconds per chart whatever its points, and a redraw touches only
  // the charts that changed (charts.js). A full-speed run (rows thinned, or thousands a
  // second) draws its loss charts as each message comes (at least 40 ms apart: the step ->
  // drawn latency is theirs) and the other charts four times a second, so the page does not
  // slow the training beside it.
  let renderQueued = false; const pendingArrivals = [];
  let lastCost = 0, lastFirstCost = 0, lastRenderEnd = 0, lastFullRender = 0;
  let rowRate = 0, rateStart = 0, rateRows = 0;
  const SLOW_LANE_MS = 250; let slowTimer = null;
  function countRows(n) {
    const at = now();
    rateRows += n;
    if (at - rateStart >= 1000) { rowRate = rateRows * 1000 / (at - rateStart); rateStart = at; rateRows = 0; }
  }
  const isHeavy = () => rowRate > 5000 || shownRuns().some((r) => Object.values(state.data[r].series).some((x) => !x.complete));
  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    const heavy = isHeavy();
    const gap = heavy ? Math.min(150, Math.max(40, 2 * lastFirstCost)) : Math.min(150, 3 * lastCost);
    const wait = Math.max(0, lastRenderEnd + gap - now());
    const draw = () => requestAnimationFrame(() => {
      renderQueued = false;
      const full = !heavy || now() - lastFullRender >= SLOW_LANE_MS;
      renderAll(full ? undefined : window.learnsysCharts.FIRST);
      if (!full && !slowTimer) { // the other charts, when due
        slowTimer = setTimeout(() => { slowTimer = null; scheduleRender(); }, SLOW_LANE_MS - (now() - lastFullRender));
      }
    });
    if (wait > 0) setTimeout(draw, wait); else draw();
  }

  // -- smoothing -------------------------------------------------------------------------
  let smoothTimer = null;
  function onSmoothing() {
    state.smoothing = Number($('#smoothing').value);
    $('#smoothing-value').textContent = `β = ${beta().toFixed(2)}`;
    const b = beta();
    for (const d of Object.values(state.data)) {
      const s = d.series[SMOOTHED];
      if (s && s.complete) series.resmooth(s, b);
    }
    renderAll();
    clearTimeout(smoothTimer); // series the page holds only sampled: the server smooths the raw points
    smoothTimer = setTimeout(async () => {
      for (const [runId, d] of Object.entries(state.data)) {
        const s = d.series[SMOOTHED];
        if (s && !s.complete) {
          const r = await series.fetchSeries(runId, SMOOTHED).catch(() => null);
          if (r && state.data[runId] === d) series.adopt(d, SMOOTHED, series.fromResponse(r));
        }
      }
      renderAll();
    }, 200);
  }

  // -- charts ----------------------------------------------------------------------------
  const charts = window.learnsysCharts.create({
    t, onZoom: (inst) => onZoom(inst),
    onRendered: (ms) => { debug.paintMs += ms; }, // inside renderAll's own time now (synchronous updates)
  });
  function shownRuns() { return [state.selected, ...state.overlays].filter((r) => state.data[r] && state.data[r].info); }
  function xModeOf(runs) { // epochs only when every shown run knows its steps per epoch
    return state.xMode === 'epoch' && runs.every((r) => state.data[r].info.steps_per_epoch) ? 'epoch' : 'step';
  }
  function renderAll(keys) { // keys: only these charts (the loss charts of a full-speed run)
    const started = now();
    const runs = shownRuns();
    const labels = runs.length > 1 ? runLabels(runs) : {};
    const xMode = xModeOf(runs);
    charts.render({
      runs: runs.map((r) => ({ runId: r, label: labels[r] || r, spe: state.data[r].info.steps_per_epoch || 1, events: state.data[r].events, series: state.data[r].series })),
      xMode, log: state.logScale, width: plotWidth(),
    }, keys);
    $('#controls').hidden = !runs.some((r) => state.data[r].series[SMOOTHED]);
    $('#x-epoch').disabled = !runs.every((r) => state.data[r].info.steps_per_epoch);
    $(xMode === 'epoch' ? '#x-epoch' : '#x-step').checked = true; // epochs asked for but not known: steps
    debug.renders++; debug.xMode = xMode;
    if (pendingArrivals.length) { // drawn: the canvas holds them now, shown when this frame is
      const at = now();
      for (const step of pendingArrivals.splice(0)) debug.arrivals[step] = at;
    }
    debug.renderedAt = lastRenderEnd = now();
    const ms = lastRenderEnd - started;
    if (keys) lastFirstCost = ms; else { lastCost = ms; lastFirstCost = Math.min(ms, lastFirstCost || ms); lastFullRender = lastRenderEnd; }
    debug.renderMs += ms;
    if (!keys) debug.fullRenders = (debug.fullRenders || 0) + 1;
  }
  window.addEventListener('resize', () => { width = 0; charts.resize(); renderAll(); });

  // -- zoom: fetch full resolution for the visible range ----------------------------------
  let zoomTimer = null;
  function onZoom(inst) {
    clearTimeout(zoomTimer);
    zoomTimer = setTimeout(async () => {
      const dz = inst.getOption().dataZoom[0];
      const lo = dz.startValue, hi = dz.endValue;
      if (lo === undefined || hi === undefined) return;
      const epochs = debug.xMode === 'epoch';
      for (const runId of shownRuns()) {
        const d = state.data[runId];
        const spe = epochs ? d.info.steps_per_epoch : 1;
        for (const [name, s] of Object.entries(d.series)) {
          if (s.complete) continue;
          const r = await series.fetchSeries(runId, name, [lo * spe, hi * spe]).catch(() => null);
          if (!r || state.data[runId] !== d || d.series[name] !== s) continue;
          series.spliceRange(s, r, lo * spe, hi * spe);
        }
      }
      debug.zooms = (debug.zooms || 0) + 1;
      renderAll();
    }, 250);
  }
  // -- start -----------------------------------------------------------------------------
  function start() {
    $('#lang').addEventListener('change', (e) => { state.lang = e.target.value; localStorage.setItem('learnsys.lang', state.lang); applyLang(); });
    $('#smoothing').value = String(state.smoothing);
    $('#smoothing').addEventListener('input', onSmoothing);
    $('#log-scale').addEventListener('change', (e) => { state.logScale = e.target.checked; renderAll(); });
    for (const id of ['#x-step', '#x-epoch']) {
      $(id).checked = $(id).value === state.xMode;
      $(id).addEventListener('change', (e) => { state.xMode = e.target.value; localStorage.setItem('learnsys.x', state.xMode); renderAll(); });
    }
    $('#smoothing-value').textContent = `β = ${beta().toFixed(2)}`;
    $('#predict-form').addEventListener('submit', predict);
    window.addEventListener('hashchange', () => { const h = readHash(); if (h.run && h.run !== state.selected) select(h.run); });
    live.setConn('idle');
    applyLang();
    const h = readHash();
    state.overlays = h.compare;
    if (h.run) select(h.run);
    h.compare.forEach((r) => loadRun(r));
    refreshRuns();
    setInterval(refreshRuns, 2000);
  }
  debug.setLang = (lang) => { state.lang = lang; applyLang(); };
  debug.setX = (mode) => { state.xMode = mode; renderAll(); };
  debug.render = () => renderAll();
  debug.zoom = (lo, hi, key = 'loss') => charts.instance(key).dispatchAction({ type: 'dataZoom', startValue: lo, endValue: hi });
  debug.chartSeries = (key) => charts.drawn(key);
  debug.points = (key) => charts.points(key);
  debug.chart = (key) => charts.instance(key);
  debug.translate = (text, lang) => window.learnsysMessages.translate(text, lang || state.lang, t);
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
