// What the dashboard's own artifact views (evaluation.js, lr_find.js) share: their place in
// the view registry, their text in both languages, re-drawing on a language change, and the
// charts they own.
//
//   learnsysViewKit.register('evaluation', draw, start)
//     draw(m) on every render (m.el, m.data, m.ctx, m.t, m.tf, m.plot(height) -> an ECharts chart);
//     start(m), optional, once per mount: m.follow(names, fn) follows the run's metric rows
//     until the view leaves the page; m.redraw() after changing m.data.
//
// The registry is window.learnsysViews (panels.js renderArtifacts calls
// views[name](element, data, ctx)); lectures.js merges its views into the same object. Both
// set views.onLang, which app.js calls on a language change: this file is loaded after
// lectures.js and keeps the onLang it finds, calling it before re-drawing its own views.
'use strict';
window.learnsysViewKit = (function () {
  const views = window.learnsysViews = window.learnsysViews || {};
  const I18N = window.learnsysI18n;
  let lang = 'en';
  let mounted = [];
  const debug = { fetches: {} }; // artifact fetches after the first, by view (browser tests)

  const t = (key) => (I18N[lang] && I18N[lang][key]) ?? I18N.en[key] ?? key;
  const tf = (key, vals) => t(key).replace(/\{(\w+)\}/g, (s, k) => (k in vals ? vals[k] : s));

  function plot(m, height) {
    const div = window.learnsysFormat.el('div', 'view-plot');
    div.style.height = `${height}px`; // CSSOM, not a style attribute (the page's CSP)
    m.el.append(div);
    const chart = (m.ctx.echarts || window.echarts).init(div);
    m.charts.push(chart);
    if (window.ResizeObserver) { const ro = new ResizeObserver(() => chart.resize()); ro.observe(div); m.observers.push(ro); }
    return chart;
  }
  function clear(m) {
    m.charts.forEach((c) => c.dispose());
    m.observers.forEach((o) => o.disconnect());
    m.charts = []; m.observers = [];
    m.el.textContent = '';
  }
  function render(m) {
    clear(m);
    try { m.draw(m); } catch (e) { m.el.textContent = `${m.name}: ${e.message}`; m.el.classList.add('error'); }
  }
  // A view that is no longer on the page (another run shown, the artifacts re-listed) stops
  // whatever it follows.
  function forget(m) { clear(m); m.stops.forEach((stop) => stop()); m.stops = []; }
  function prune(keep) {
    mounted.filter((m) => !keep(m)).forEach(forget);
    mounted = mounted.filter(keep);
  }

  // ctx.follow (app.js) until the view is gone: a row that finds it off the page ends it
  function follow(m, names, fn) {
    if (!m.ctx.follow) return;
    const stop = m.ctx.follow(names, (rows) => { if (m.alive()) fn(rows); else stop(); });
    m.stops.push(stop);
  }

  function register(name, draw, start) {
    views[name] = (el, data, ctx) => {
      if (ctx && ctx.lang) lang = ctx.lang;
      prune((m) => m.el.isConnected && m.el !== el);
      const m = { name, el, data, ctx: ctx || {}, draw, charts: [], observers: [], stops: [], t, tf };
      m.plot = (height) => plot(m, height);
      m.redraw = () => render(m);
      m.alive = () => m.el.isConnected && mounted.includes(m);
      m.follow = (names, fn) => follow(m, names, fn);
      m.lang = () => lang;
      mounted.push(m);
      render(m);
      if (start) start(m);
    };
  }

  const before = views.onLang;
  views.onLang = (newLang) => {
    if (typeof before === 'function') before(newLang);
    lang = newLang;
    prune((m) => m.el.isConnected);
    mounted.forEach(render);
  };

  return { register, t, tf, debug };
})();
