// A run's series on the page: fetched from the server (min/max buckets, or every point),
// merged with the live points newer than an answer, resampled when a live series outgrows the
// plot, re-fetched for a zoomed range, and smoothed (lecture 3's exponentially weighted mean).
// app.js and live.js hold the series in state.data[run].series; this file makes and merges them.
//
//   const series = learnsysSeries.create({ state, debug, api, plotWidth, beta, now, changed });
//   series.fetchSeries(runId, name, [lo, hi]?)  -> the server's answer;  series.fromResponse(answer) -> S
//   series.adopt(d, name, S)  series.push(S, step, value, beta)  series.resample(runId, d, name)
//
// S = {steps, values, smooth|null, complete: every raw point of the run is here, gen}
'use strict';
window.learnsysSeries = (function () {
  const SMOOTHED = 'train/loss';

  function create({ state, debug, api, plotWidth, beta, now, changed }) {
    let gen = 0; // S.gen: a new number whenever a series' arrays are replaced (charts.js redraws it whole)
    const nextGen = () => ++gen;

    async function fetchSeries(runId, name, range) {
      const q = new URLSearchParams({ name, width: plotWidth() });
      if (range) { q.set('start', Math.floor(range[0])); q.set('stop', Math.ceil(range[1])); }
      if (name === SMOOTHED) q.set('beta', beta());
      return api(`api/runs/${encodeURIComponent(runId)}/series?${q}`);
    }
    function fromResponse(r) {
      return { steps: r.steps, values: r.values, smooth: r.smooth || null, complete: r.mode === 'raw', beta: r.beta, gen: nextGen() };
    }
    function empty(name, b) {
      return { steps: [], values: [], smooth: name === SMOOTHED ? [] : null, complete: true, beta: b, gen: nextGen() };
    }
    // One more point at the end. Behind thinned points (smoothStale) the smoothed curve stops:
    // it needs every raw point, until the next answer of the server.
    function push(s, step, value, b) {
      s.steps.push(step); s.values.push(value);
      if (s.smooth) s.smooth.push(value === null || s.smoothStale ? null : b * value + (1 - b) * lastFinite(s.smooth, value));
    }
    // Replace a series by the server's answer, keeping the live points newer than it.
    function adopt(d, name, fresh) {
      const cur = d.series[name];
      const last = fresh.steps.length ? fresh.steps[fresh.steps.length - 1] : -Infinity;
      const b = beta();
      if (cur) {
        for (let i = 0; i < cur.steps.length; i++) {
          if (cur.steps[i] <= last) continue;
          if (cur.smoothStale) { fresh.smoothStale = true; fresh.complete = false; }
          push(fresh, cur.steps[i], cur.values[i], b);
        }
      }
      d.series[name] = fresh;
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
        changed();
      }
      if (r.again) { r.again = false; resample(runId, d, name); }
    }
    // The server's full-resolution points of [lo, hi] in place of the sampled ones there (a zoom).
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
      s.steps = steps; s.values = values; s.smooth = smooth; s.gen = nextGen();
    }
    // Smoothing again with a new beta, when the page holds every raw point (s.complete).
    function resmooth(s, b) {
      const out = new Array(s.values.length); let prev = null;
      for (let i = 0; i < s.values.length; i++) {
        const v = s.values[i];
        if (v === null) { out[i] = null; continue; }
        prev = prev === null ? v : b * v + (1 - b) * prev;
        out[i] = prev;
      }
      s.smooth = out; s.beta = b; s.gen = nextGen();
    }
    return { fetchSeries, fromResponse, empty, push, adopt, resample, spliceRange, resmooth, SMOOTHED };
  }

  function lastFinite(arr, fallback) {
    for (let i = arr.length - 1; i >= 0; i--) if (arr[i] !== null) return arr[i];
    return fallback;
  }
  return { create, SMOOTHED };
})();
