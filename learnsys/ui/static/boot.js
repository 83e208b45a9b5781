// The first script the page runs (deferred, before ECharts is even compiled): it starts
// loading the run named in the URL (#run=ID) — its info, then each of its series — so the
// requests overlap the ~0.1-0.3 s the browser spends on the chart library. app.js takes
// these answers instead of asking again (learnsysBoot.take).
'use strict';
window.learnsysBoot = (function () {
  const run = new URLSearchParams(location.hash.slice(1)).get('run');
  // A chart's plot width before any chart is shown: the #charts grid's columns (minmax 460px).
  function plotWidth() {
    const grid = document.querySelector('#charts');
    const w = (grid && grid.clientWidth) || 800;
    const cols = Math.max(1, Math.floor((w + 12) / (460 + 12)));
    return Math.max(200, Math.min(4000, Math.round((w - 12 * (cols - 1)) / cols - 14)));
  }
  const width = plotWidth();
  const beta = 0.4; // the page's default smoothing (app.js: 1 - 0.6)
  const get = (path) => fetch(path).then((r) => r.json().then((body) => (r.ok ? body : Promise.reject(new Error(body.error || r.status)))));
  let pending = null;
  if (run) {
    const base = `api/runs/${encodeURIComponent(run)}`;
    const info = get(base);
    const series = info.then((i) => Object.fromEntries(i.metrics.map((name) => {
      const q = new URLSearchParams({ name, width });
      if (name === 'train/loss') q.set('beta', beta);
      return [name, get(`${base}/series?${q}`)];
    })));
    info.catch(() => null); series.catch(() => null);
    pending = { run, width, beta, info, series };
  }
  return {
    width,
    // the prefetched answers for `runId` (once), if they were asked with these settings
    take(runId, w, b) {
      const p = pending;
      if (!p || p.run !== runId || p.width !== w || p.beta !== b) return null;
      pending = null;
      return p;
    },
  };
})();
