// learnsys lecture views, the core: the dashboard draws a run's artifacts with these
// (docs/lectures.md). One file per view registers itself here, loaded after this one:
//   search.js     lecture 2: the loss of every grid point (curve, heat map, or a sortable top-k table)
//   landscape.js  lectures 2-3: the loss surface with the optimiser's path (live while training)
//   graph.js      lecture 4: the computational graph, each node's value and gradient, stepped backward
// Contract with panels.js: window.learnsysViews[name](element, data, {echarts, lang, runId, api});
// window.learnsysViews.onLang(lang) re-renders every mounted view in the new language (and
// calls the onLang another view file set before this one, so any load order works).
// ctx.follow(names, fn) (optional) calls fn({name: [[step, value], ...]}) with a run's new
// metric rows as they arrive: the landscape draws its path from the 'param/<name>' rows live.
// The view files use window.learnsysLectures: text, formatting, DOM and chart helpers, register.
// Numbers and tooltips come from format.js (window.learnsysFormat), loaded before this file.
// No inline scripts or styles (the page's CSP): styles are set through the CSSOM, tooltips
// are DOM nodes. window.learnsysLectureDebug: what the views drew, for the browser tests.
(function () {
  'use strict';

  // Text every view shares; each view file adds its own with text({en: {...}, zh: {...}}).
  const TEXT = {
    en: {
      best: 'best', loss: 'loss', path: 'path', start: 'start', end: 'end', step: 'step', step_n: 'step {n}',
      flat_plane: 'The loss is the same everywhere on this plane: {loss} = {value}.',
      flat_line: 'The loss is the same everywhere on this line: {loss} = {value}.',
    },
    zh: {
      best: '最优', loss: '损失', path: '路径', start: '起点', end: '终点', step: '步', step_n: '第 {n} 步',
      flat_plane: '这个平面上处处损失相同：{loss} = {value}。',
      flat_line: '这条线上处处损失相同：{loss} = {value}。',
    },
  };
  let lang = 'en';
  let mounted = [];
  const debug = { views: {}, graph: null };
  window.learnsysLectureDebug = debug;

  const F = window.learnsysFormat;
  const t = (k) => (TEXT[lang] || TEXT.en)[k] || TEXT.en[k] || k;
  const tf = (k, vals) => t(k).replace(/\{(\w+)\}/g, (s, name) => (name in vals ? vals[name] : s));
  const stepN = (n) => tf('step_n', { n: F.int(n) });
  function text(more) { for (const l of Object.keys(more)) TEXT[l] = Object.assign(TEXT[l] || {}, more[l]); }
  // values: six significant digits, no padding (2.1, not 2.1000); 8.2e7 for large ones
  const fmt = (v) => (typeof v === 'number' && Number.isInteger(v) && Math.abs(v) < 1e6 ? String(v) : F.num(v, 6));
  const fmtAxis = F.axisNum;

  // -- small DOM helpers -------------------------------------------------------------------
  function add(parent, tag, content, cls) {
    const el = document.createElement(tag);
    if (content !== undefined && content !== null) el.textContent = content;
    if (cls) el.className = cls;
    parent.append(el);
    return el;
  }
  function plot(m, parent, height) {
    const div = add(parent, 'div', null, 'lecture-plot');
    div.style.width = '100%';
    div.style.height = `${height}px`;
    const chart = m.ctx.echarts.init(div);
    m.charts.push(chart);
    if (window.ResizeObserver) { const ro = new ResizeObserver(() => chart.resize()); ro.observe(div); m.observers.push(ro); }
    return chart;
  }
  function finite(values) { return values.filter((v) => v !== null && Number.isFinite(v)); }
  function edges(values) { // cell borders for a (possibly uneven) axis
    const n = values.length;
    if (n === 1) return [values[0] - 0.5, values[0] + 0.5];
    const out = [values[0] - (values[1] - values[0]) / 2];
    for (let i = 0; i < n - 1; i += 1) out.push((values[i] + values[i + 1]) / 2);
    out.push(values[n - 1] + (values[n - 1] - values[n - 2]) / 2);
    return out;
  }
  // A surface or curve whose every stored loss is the same draws one colour or a flat line,
  // which reads as a broken chart: a note above it says what it shows. Returns whether flat.
  function flatNote(m, parent, values, lossName, key) {
    const vals = finite(values);
    if (!vals.length || vals.some((v) => v !== vals[0])) return false;
    add(parent, 'p', tf(key, { loss: lossName, value: fmt(vals[0]) }), 'hint lecture-flat');
    m.flat = true;
    return true;
  }

  // -- a loss surface on value axes (custom rects), or a loss curve, with an optional path ----
  const PATH = '#d62728';
  function tip(head, pairs) { return F.tooltip(head, pairs.map(([name, value]) => ({ name, value }))); }
  function pathSeries() { // path, start and end: updated in place as a live path grows (setPath)
    return [
      { id: 'path', type: 'line', name: t('path'), data: [], symbolSize: 4, showSymbol: true, lineStyle: { color: PATH, width: 1.5 },
        itemStyle: { color: PATH }, z: 5, emphasis: { disabled: true } },
      { id: 'start', type: 'scatter', name: t('start'), data: [], symbolSize: 10, z: 6,
        itemStyle: { color: '#fff', borderColor: '#1f2328', borderWidth: 2 } },
      // a dot centred on the last point (ECharts' pin symbol stands above its point)
      { id: 'end', type: 'scatter', name: t('end'), data: [], symbol: 'circle', symbolSize: 12, z: 7,
        itemStyle: { color: PATH, borderColor: '#fff', borderWidth: 2 } },
    ];
  }
  function setPath(chart, pts) {
    chart.setOption({ series: [{ id: 'path', data: pts }, { id: 'start', data: pts.slice(0, 1) }, { id: 'end', data: pts.slice(-1) }] },
      { lazyUpdate: true });
  }
  function grid(right) { return { left: 12, right, top: 52, bottom: 36, containLabel: true }; }
  function axis(name, lo, hi, extra) {
    return F.valueAxis(name, Object.assign({ min: lo, max: hi, scale: true, axisLine: { onZero: false },
      axisLabel: { formatter: fmtAxis, showMinLabel: false, showMaxLabel: false, hideOverlap: true } }, extra || {}));
  }
  const bestSeries = (best) => ({ id: 'best', type: 'scatter', name: t('best'), data: [best], symbol: 'diamond', symbolSize: 14,
    itemStyle: { color: '#ff7f0e' }, z: 6 });

  function surface(m, parent, spec) {
    // spec: {xs, ys, z (rows over ys), xName, yName, lossName, path: true|false, best: [x, y]}
    flatNote(m, parent, spec.z.flat(), spec.lossName, 'flat_plane');
    const chart = plot(m, parent, 400);
    const flat = finite(spec.z.flat());
    const lo = flat.length ? Math.min(...flat) : 0; const hi = flat.length ? Math.max(...flat) : 1;
    const useLog = lo > 0 && hi / lo > 100;
    const colour = (v) => (useLog ? Math.log10(v) : v);
    const xe = edges(spec.xs); const ye = edges(spec.ys);
    const cells = [];
    spec.z.forEach((row, j) => row.forEach((v, i) => { if (v !== null && Number.isFinite(v)) cells.push([spec.xs[i], spec.ys[j], v, i, j, colour(v)]); }));
    const series = [{
      id: 'surface', type: 'custom', name: spec.lossName, data: cells, encode: { x: 0, y: 1 }, silent: false,
      renderItem(params, api) {
        const i = api.value(3); const j = api.value(4);
        const p0 = api.coord([xe[i], ye[j]]); const p1 = api.coord([xe[i + 1], ye[j + 1]]);
        return { type: 'rect', shape: { x: Math.min(p0[0], p1[0]), y: Math.min(p0[1], p1[1]),
          width: Math.abs(p1[0] - p0[0]) + 0.5, height: Math.abs(p1[1] - p0[1]) + 0.5 }, style: { fill: api.visual('color') } };
      },
    }];
    if (spec.path) series.push(...pathSeries());
    if (spec.best) series.push(bestSeries(spec.best));
    const [vlo, vhi] = lo === hi ? [colour(lo) - 1, colour(hi) + 1] : [colour(lo), colour(hi)]; // a flat surface: one colour
    chart.setOption(Object.assign(F.base(), {
      grid: grid(120),
      legend: { top: 0, data: series.slice(1).map((s) => s.name) },
      tooltip: Object.assign(F.base().tooltip, { trigger: 'item', formatter: (p) => (p.seriesType === 'custom'
        ? tip(null, [[spec.xName, fmt(p.value[0])], [spec.yName, fmt(p.value[1])], [spec.lossName, fmt(p.value[2])]])
        : tip(p.value.length > 2 ? `${p.seriesName} · ${stepN(p.value[2])}` : p.seriesName,
          [[spec.xName, fmt(p.value[0])], [spec.yName, fmt(p.value[1])]])) }),
      xAxis: axis(spec.xName, xe[0], xe[xe.length - 1], { nameLocation: 'middle', nameGap: 26 }),
      yAxis: axis(spec.yName, ye[0], ye[ye.length - 1]),
      // a flat surface's colour scale would show a range it does not have: its note gives the value
      visualMap: { type: 'continuous', show: lo !== hi, seriesIndex: 0, dimension: 5, min: vlo, max: vhi, right: 5, top: 'middle',
        text: [useLog ? `log₁₀ ${spec.lossName}` : spec.lossName, ''], calculable: true, itemWidth: 14,
        formatter: (v) => F.num(v, 3), inRange: { color: ['#440154', '#3b528b', '#21918c', '#5ec962', '#fde725'] } },
      series,
    }));
    return chart;
  }

  function curve(m, parent, spec) {
    // spec: {xs, ys, xName, lossName, path: true|false, best: [x, loss]}
    flatNote(m, parent, spec.ys, spec.lossName, 'flat_line');
    const chart = plot(m, parent, 340);
    const series = [{ id: 'surface', type: 'line', name: spec.lossName, data: spec.xs.map((x, i) => [x, spec.ys[i]]),
      showSymbol: spec.xs.length <= 60, symbolSize: 4, emphasis: { disabled: true } }];
    if (spec.path) series.push(...pathSeries());
    if (spec.best) series.push(bestSeries(spec.best));
    chart.setOption(Object.assign(F.base(), {
      grid: grid(30), legend: { top: 0 },
      tooltip: Object.assign(F.base().tooltip, { trigger: 'axis', axisPointer: { type: 'line' }, formatter: (ps) => F.tooltip(
        `${spec.xName} = ${fmt(ps[0].value[0])}`, ps.map((p) => ({ color: F.colorOf(p), name: p.seriesName,
          value: `${fmt(p.value[1])}${p.value.length > 2 ? ` · ${stepN(p.value[2])}` : ''}` }))) }),
      xAxis: axis(spec.xName, undefined, undefined, { nameLocation: 'middle', nameGap: 26, axisLabel: { formatter: fmtAxis, hideOverlap: true } }),
      yAxis: axis(spec.lossName, undefined, undefined, { axisLabel: { formatter: fmtAxis, hideOverlap: true } }),
      series,
    }));
    return chart;
  }

  // -- mounting, language, registering a view --------------------------------------------------
  function render(m) {
    m.charts.forEach((c) => c.dispose());
    m.observers.forEach((o) => o.disconnect());
    m.charts = []; m.observers = []; m.flat = false;
    if (m.playing) { clearInterval(m.playing); m.playing = null; }
    m.el.textContent = '';
    m.el.classList.add('lecture-view');
    try { m.fn(m); } catch (e) { m.el.textContent = `${m.name}: ${e.message}`; m.el.classList.add('error'); }
  }
  function mount(name, fn) {
    return (el, data, ctx) => {
      if (ctx && ctx.lang) lang = ctx.lang;
      mounted = mounted.filter((x) => x.el.isConnected && x.el !== el);
      const m = { el, data, ctx: ctx || {}, name, fn, charts: [], observers: [] };
      if (!m.ctx.echarts) m.ctx.echarts = window.echarts;
      mounted.push(m);
      render(m);
    };
  }

  const views = window.learnsysViews = window.learnsysViews || {};
  const before = views.onLang;
  views.onLang = (newLang) => {
    if (typeof before === 'function') before(newLang);
    lang = newLang;
    mounted = mounted.filter((x) => x.el.isConnected);
    mounted.forEach(render);
  };
  // register('search', fn): fn(m) draws m.data into m.el (m.ctx, m.charts; render(m) redraws)
  function register(name, fn) { views[name] = mount(name, fn); }

  window.learnsysLectures = { F, t, tf, text, stepN, fmt, add, plot, tip, surface, curve, setPath, render, register, debug };
})();
