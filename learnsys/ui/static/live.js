// A run's live rows: one EventSource per shown run (GET .../stream?last_id=N&thin=1), reopened
// with the last row id it has when the browser gives up, so no row is missed or doubled.
// Metric rows are appended to the run's series (series.js), new events to its events, a run
// row's new status to the run; lecture views that follow a run get its fresh rows.
//
//   const live = learnsysLive.create({ state, debug, t, series, beta, plotWidth, now, on });
//   live.open(runId, d)   live.follow(runId, names, fn) -> unfollow   live.setConn('idle')
//   on = {rows(n), arrived(step), reload(runId), head(), events(), statusChanged(), changed()}
'use strict';
window.learnsysLive = (function () {
  const $ = (sel) => document.querySelector(sel);

  function create({ state, debug, t, series, beta, plotWidth, now, on }) {
    const followers = new Set(); // lecture views following a run's rows: {runId, names, fn}
    function follow(runId, names, fn) {
      const f = { runId, names: new Set(names), fn };
      followers.add(f);
      return () => followers.delete(f);
    }
    function setConn(s) { const el = $('#conn'); el.dataset.state = s; el.textContent = t(s); }

    function open(runId, d) {
      // thin=1: above ~1,300 steps/s a series arrives as per-message min/max rows (marked
      // "thinned"); the exact buckets and smoothing then come from the series endpoint.
      const es = d.es = new EventSource(`api/runs/${encodeURIComponent(runId)}/stream?last_id=${d.lastId}&thin=1`);
      let opened = false;
      es.onopen = () => { if (opened) debug.reconnects++; opened = true; setConn('live'); };
      es.onerror = () => {
        setConn('reconnecting');
        if (es.readyState === EventSource.CLOSED && state.data[runId] === d) {
          debug.reopens = (debug.reopens || 0) + 1; // the browser gave up: reopen with ?last_id
          setTimeout(() => { if (state.data[runId] === d && d.es === es) open(runId, d); }, 1000);
        }
      };
      es.addEventListener('metrics', (ev) => onMetrics(runId, d, JSON.parse(ev.data)));
      es.addEventListener('events', (ev) => {
        const { events } = JSON.parse(ev.data);
        const known = new Set(d.events.map((e) => e.id));
        const fresh = events.filter((e) => !known.has(e.id));
        if (!fresh.length) return;
        d.events.push(...fresh);
        // A resume dropped the rows logged after the last checkpoint: reload the curves.
        if (fresh.some((e) => e.kind === 'resume')) { on.reload(runId); return; }
        if (runId === state.selected) on.events();
        on.changed();
      });
      es.addEventListener('run', (ev) => {
        const r = JSON.parse(ev.data);
        const statusChanged = d.info && d.info.status !== r.status;
        if (d.info) Object.assign(d.info, r);
        const row = state.runs.find((x) => x.id === runId);
        if (row) Object.assign(row, r);
        if (runId === state.selected) { on.head(); if (statusChanged) on.statusChanged(); }
      });
    }

    function onMetrics(runId, d, { rows, thinned }) {
      debug.sseMessages++;
      const b = beta(); const t0 = now(); const limit = 4 * plotWidth();
      on.rows(rows.length);
      for (const name of thinned || []) {
        const s = d.series[name];
        if (s) { s.complete = false; s.smoothStale = true; } // the page no longer has every raw point
      }
      const followed = [...followers].filter((f) => f.runId === runId);
      const fresh = followed.length ? {} : null;
      for (const [id, name, step, value] of rows) {
        if (id <= d.lastId) continue;
        d.lastId = id;
        const s = d.series[name] || (d.series[name] = series.empty(name, b));
        const n = s.steps.length;
        if (n && step <= s.steps[n - 1]) continue; // already in the snapshot
        series.push(s, step, value, b);
        if (name === series.SMOOTHED && runId === state.selected) { on.arrived(step); debug.received[step] = t0; }
        if (fresh) (fresh[name] = fresh[name] || []).push([step, value]);
        if (s.steps.length > limit) series.resample(runId, d, name);
      }
      for (const [name, s] of Object.entries(d.series)) if (s.smoothStale) series.resample(runId, d, name);
      if (runId === state.selected) debug.lastReceived = t0;
      for (const f of followed) {
        const mine = Object.fromEntries(Object.entries(fresh).filter(([n]) => f.names.has(n)));
        if (Object.keys(mine).length) f.fn(mine);
      }
      on.changed();
    }
    return { open, follow, setConn };
  }
  return { create };
})();
