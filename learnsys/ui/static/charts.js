// The run charts (loss, dev, accuracy, lr, parameters, gradients, other): one ECharts
// instance per chart, redrawn incrementally. app.js owns the data; this file draws it.
//
//   const charts = learnsysCharts.create({ t, onZoom, onRendered });
//   charts.render(view, keys)   view = {runs: [{runId, label, spe, events, series: {name: S}}], xMode, log, width};
//                               keys: the charts to bring up to date (default all)
//
// S (app.js) = {steps, values, smooth|null, gen}; `gen` changes when the arrays are replaced
// (a resample, a zoom, new smoothing), and a longer array with the same `gen` only grew.
// A render touches only what changed: a chart whose series, names, axis or marks are as they
// were gets a setOption with just the series that grew, and a series that grew by appending
// gets the new points pushed onto the array ECharts already has; an unchanged chart is not
// touched at all. Language, x axis (step/epoch), log scale or the runs shown rebuild a chart.
// Updates are synchronous (no lazyUpdate): the canvas holds the new points when render
// returns, and what a redraw costs is measured where it happens. An ECharts update costs about
// the same for 500 points as for 2,000 (mostly the axes, legend and zoom components), so the
// way to spend less is to update fewer charts: app.js updates the loss charts first.
'use strict';
window.learnsysCharts = (function () {
  const F = window.learnsysFormat;
  const KEYS = ['loss', 'dev', 'acc', 'lr', 'param', 'grad', 'other'];
  const EVENT_COLORS = { checkpoint: '#8c959f', resume: '#0969da', divergence: '#cf222e' };
  const EVENT_RANK = { divergence: 0, resume: 1, checkpoint: 2 }; // whose colour a shared label takes
  const PALETTE = ['#5470c6', '#ee6666', '#3ba272', '#fc8452', '#9a60b4', '#73c0de', '#fac858', '#ea7ccc'];
  const SMOOTHED = 'train/loss';
  const MAX_MARK_LINES = 200; // more checkpoints than this: only the non-checkpoint events get lines

  function chartOf(name) {
    if (name === 'train/loss' || name === 'train/loss_epoch') return 'loss';
    if (name === 'dev/loss') return 'dev';
    if (name === 'dev/accuracy' || name === 'train/accuracy') return 'acc'; // train and dev together
    if (name === 'lr') return 'lr';
    if (name.startsWith('param/')) return 'param';
    if (name.startsWith('grad/')) return 'grad';
    return 'other';
  }

  // All points, or (more than two per pixel: a fast live run between two resamples) per
  // pixel the first, smallest, largest and last point and the first gap, as the server's
  // buckets do. Bounds what ECharts lays out on a redraw; the page keeps every point.
  // Columns of float64 (x, y; a gap is NaN): ECharts copies and reads typed columns about
  // twice as fast as [x, y] pairs.
  // A value a chart cannot draw is NaN: a gap (null: a NaN or infinite loss), and on a log
  // axis (positive) zero or less.
  const yv = (v, positive) => (v === null || (positive && v <= 0) ? NaN : v);
  function zip(steps, values, width, scale, positive) {
    const n = steps.length;
    if (n <= 2 * width) {
      const x = new Float64Array(n), y = new Float64Array(n);
      for (let i = 0; i < n; i++) { x[i] = steps[i] / scale; y[i] = yv(values[i], positive); }
      return { x, y, n };
    }
    const lo = steps[0], span = steps[n - 1] - lo + 1, keep = [];
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
      for (const k of [...new Set([i, iMin, iMax, iGap, j - 1])].filter((k) => k >= 0).sort((a, c) => a - c)) keep.push(k);
      i = j;
    }
    const x = new Float64Array(keep.length), y = new Float64Array(keep.length);
    keep.forEach((k, m) => { x[m] = steps[k] / scale; y[m] = yv(values[k], positive); });
    return { x, y, n: keep.length };
  }

  function create({ t, onZoom, onRendered }) {
    const charts = {}; // key -> {inst, structure, drawn: {id: {gen, len, sampled, data}}, marksKey}

    function instance(key) {
      if (charts[key]) return charts[key];
      const fig = document.querySelector(`.chart[data-chart="${key}"]`);
      fig.hidden = false;
      const inst = echarts.init(fig.querySelector('.plot'), null, { renderer: 'canvas' });
      inst.group = 'learnsys';
      inst.on('datazoom', () => onZoom(inst));
      inst.on('rendered', (e) => onRendered(e.elapsedTime || 0));
      echarts.connect('learnsys');
      return (charts[key] = { inst, structure: null, drawn: {}, marksKey: null });
    }

    const yOf = (p) => (Array.isArray(p.value) ? p.value[1] : p.value && typeof p.value === 'object' ? p.value.y : p.value);
    function xLabel(view) { return view.xMode === 'epoch' ? t('epoch') : t('step'); }
    function xValue(view, x) {
      return view.xMode === 'epoch' ? `${t('epoch')} ${F.num(x, 4)}` : t('step_n').replace('{n}', F.int(x));
    }
    // Accuracy is a share of rows (0..1), drawn and read as a percentage on a fixed 0-100 % axis.
    const percent = (v) => `${F.num(v * 100, 4)} %`;
    function yAxis(key, view) {
      if (key === 'acc') return F.valueAxis('', { min: 0, max: 1, axisLabel: { formatter: percent, hideOverlap: true } });
      const name = { grad: t('axis_grad'), param: t('axis_param') }[key] || '';
      return F.valueAxis(name, { type: view.log && (key === 'loss' || key === 'dev') ? 'log' : 'value', scale: true });
    }
    function baseOption(key, view) {
      const value = key === 'acc' ? percent : (v) => F.num(v, 6);
      return Object.assign(F.base(), {
        grid: { left: 10, right: 28, top: 44, bottom: 42, containLabel: true },
        tooltip: Object.assign(F.base().tooltip, {
          trigger: 'axis', axisPointer: { type: 'line' },
          formatter: (ps) => {
            const list = Array.isArray(ps) ? ps : [ps];
            if (!list.length) return '';
            return F.tooltip(xValue(view, list[0].axisValue),
              list.map((p) => ({ color: F.colorOf(p), name: p.seriesName, value: value(yOf(p)) })));
          },
        }),
        legend: { top: 4, type: 'scroll', left: 'center' },
        xAxis: {
          type: 'value', name: xLabel(view), nameLocation: 'middle', nameGap: 26, axisLine: { onZero: false },
          // epochs count from 0; steps from the first one, in whole steps, and a single step
          // (a run of one step) one step either side, not ticks 0.5, 0.6, ... that all read "1"
          min: view.xMode === 'epoch' ? 0 : (v) => (v.max - v.min < 1 ? v.min - 1 : v.min),
          max: view.xMode === 'epoch' ? 'dataMax' : (v) => (v.max - v.min < 1 ? v.max + 1 : v.max),
          minInterval: view.xMode === 'epoch' ? 0 : 1,
          axisLabel: { formatter: (v) => (view.xMode === 'epoch' ? F.axisNum(v) : F.int(v)), hideOverlap: true },
        },
        yAxis: yAxis(key, view),
        dataZoom: [{ type: 'inside', filterMode: 'none' },
          { type: 'slider', height: 14, bottom: 4, filterMode: 'none', showDataShadow: false,
            labelFormatter: (v) => (view.xMode === 'epoch' ? F.num(v, 4) : F.int(v)) }],
      });
    }

    // The series each chart shows, in order, with what decides their look.
    function plan(view) {
      const per = Object.fromEntries(KEYS.map((k) => [k, []]));
      const multi = view.runs.length > 1;
      view.runs.forEach((run, ri) => {
        const names = Object.keys(run.series).sort();
        const scale = view.xMode === 'epoch' ? run.spe : 1;
        const ci = {}; // colours count per chart
        for (const name of names) {
          const s = run.series[name]; const key = chartOf(name);
          ci[key] = (ci[key] || 0) + 1;
          const color = multi ? PALETTE[ri % PALETTE.length] : PALETTE[(ci[key] - 1) % PALETTE.length];
          const prefix = multi ? `${run.label} · ` : '';
          const smoothed = name === SMOOTHED && s.smooth;
          // the selected run's events, once per chart (on its first series)
          const marks = ri === 0 && key !== 'param' && key !== 'grad' && !per[key].length;
          const log = view.log && (key === 'loss' || key === 'dev');
          per[key].push({ id: `${run.runId}\u0001${name}`, s, field: 'values', scale, log, name: prefix + label(name),
            color, smoothed, marks: marks ? run.events : null, showSymbol: s.steps.length < 40 });
          if (smoothed) {
            per[key].push({ id: `${run.runId}\u0001${name}\u0001smooth`, s, field: 'smooth', scale, log, name: prefix + t('smoothed'),
              color: multi ? color : '#d14a00', smooth: true, showSymbol: false });
          }
        }
      });
      return per;
    }
    function label(name) {
      if (name === 'train/loss') return t('raw');
      if (name === 'train/loss_epoch') return t('epoch_mean');
      if (name.startsWith('param/')) return name.slice(6);
      if (name.startsWith('grad/')) return `∂loss/∂${name.slice(5)}`;
      return { 'dev/loss': t('chart_dev'), 'dev/accuracy': t('dev_accuracy'), 'train/accuracy': t('train_accuracy'), lr: t('chart_lr') }[name] || name;
    }

    function seriesOption(p) {
      return {
        id: p.id, type: 'line', name: p.name, datasetId: p.id, encode: { x: 'x', y: 'y' }, showSymbol: p.showSymbol,
        symbolSize: 4, connectNulls: false, animation: false, emphasis: { disabled: true },
        lineStyle: p.smooth ? { width: 2 } : { width: p.smoothed ? 1 : 1.6, opacity: p.smoothed ? 0.35 : 1 },
        itemStyle: { color: p.color },
      };
    }

    // The columns of one series for ECharts (a dataset of its own), or null when unchanged.
    // A series that only grew gets its new points written into the columns it has (grown by
    // doubling); ECharts is handed views of them, which it copies.
    function points(c, p, width) {
      const s = p.s; const src = s[p.field]; const n = s.steps.length;
      const d = c.drawn[p.id];
      if (d && d.gen === s.gen && d.len === n && d.width === width) return null; // unchanged
      if (d && d.gen === s.gen && !d.sampled && n > d.len && n <= 2 * width && d.width === width) {
        if (n > d.x.length) {
          const cap = Math.max(2 * n, 64);
          const x = new Float64Array(cap), y = new Float64Array(cap);
          x.set(d.x.subarray(0, d.len)); y.set(d.y.subarray(0, d.len));
          d.x = x; d.y = y;
        }
        for (let i = d.len; i < n; i++) { d.x[i] = s.steps[i] / p.scale; d.y[i] = yv(src[i], p.log); }
        d.len = n; d.n = n;
        return { x: d.x.subarray(0, n), y: d.y.subarray(0, n) };
      }
      const z = zip(s.steps, src, width, p.scale, p.log);
      c.drawn[p.id] = { gen: s.gen, len: n, width, sampled: n > 2 * width, x: z.x, y: z.y, n: z.n };
      return { x: z.x, y: z.y };
    }

    function render(view, keys = KEYS) {
      const per = plan(view);
      for (const key of keys) {
        const list = per[key];
        const fig = document.querySelector(`.chart[data-chart="${key}"]`);
        if (!list.length) { fig.hidden = true; if (charts[key]) charts[key].structure = null; continue; }
        const c = instance(key); fig.hidden = false;
        const structure = JSON.stringify([view.xMode, view.log, t('step'), list.map((p) => [p.id, p.name, p.color, p.showSymbol])]);
        const marksOf = list.find((p) => p.marks);
        const marks = marksOf ? eventMarks(marksOf.marks, view, marksOf.scale, extent(list), c) : null;
        const marksKey = JSON.stringify(marks);
        if (structure !== c.structure) {
          c.drawn = {};
          const dataset = list.map((p) => ({ id: p.id, source: points(c, p, view.width) }));
          const series = list.map(seriesOption);
          if (marksOf) series[list.indexOf(marksOf)].markLine = marks || { data: [] };
          c.inst.setOption(Object.assign(baseOption(key, view), { dataset, series }), { notMerge: true });
          c.structure = structure; c.marksKey = marksKey;
          continue;
        }
        const dataset = [];
        for (const p of list) {
          const source = points(c, p, view.width);
          if (source) dataset.push({ id: p.id, source });
        }
        const update = dataset.length ? { dataset } : {};
        if (marksKey !== c.marksKey) {
          update.series = [{ id: marksOf.id, markLine: marks || { data: [] } }];
          c.marksKey = marksKey;
        }
        if (update.dataset || update.series) c.inst.setOption(update);
      }
    }
    function extent(list) {
      let lo = Infinity, hi = -Infinity;
      for (const p of list) {
        const st = p.s.steps; if (!st.length) continue;
        lo = Math.min(lo, st[0] / p.scale); hi = Math.max(hi, st[st.length - 1] / p.scale);
      }
      return [lo, hi];
    }

    // Event markers: one line per event; one label per group of events whose labels would
    // touch at the current scale (a resume at a checkpoint's step: "resume · checkpoint").
    // Widths are estimated (10 px text), so the groups change only when the scale does.
    const textWidth = (s) => [...s].reduce((w, ch) => w + (ch.codePointAt(0) > 0x2e80 ? 10 : 5.8), 0);
    function eventMarks(events, view, scale, [lo, hi], c) {
      let evs = (events || []).filter((e) => EVENT_COLORS[e.kind]);
      if (!evs.length || !Number.isFinite(lo)) return null;
      if (view.xMode !== 'epoch' && hi - lo < 1) { lo -= 1; hi += 1; } // a single step: the axis is padded so (baseOption)
      if (evs.length > MAX_MARK_LINES) evs = evs.filter((e) => e.kind !== 'checkpoint');
      const span = Math.max(hi - lo, 1e-9);
      const plotPx = Math.max(100, c.inst.getWidth() - 90);
      const px = (x) => Math.round((x - lo) / span * plotPx); // about where the grid puts x
      const box = (g) => { // the label's pixels: centred on its line, kept inside the plot at the ends
        const w = textWidth(g.kinds.map(t).join(' · ')); const at = px(g.x);
        const align = at + w / 2 > plotPx ? 'right' : at - w / 2 < 0 ? 'left' : 'center';
        return { align, l: align === 'left' ? at : align === 'right' ? at - w : at - w / 2, r: align === 'left' ? at + w : align === 'right' ? at : at + w / 2 };
      };
      const groups = [];
      for (const e of evs.map((x) => ({ x: x.step / scale, kind: x.kind })).sort((a, b) => a.x - b.x)) {
        const g = groups[groups.length - 1];
        if (g) {
          const merged = { x: g.x, kinds: g.kinds.includes(e.kind) ? g.kinds : [...g.kinds, e.kind] };
          const alone = box({ x: e.x, kinds: [e.kind] });
          if (alone.l < box(g).r + 6) { g.kinds = merged.kinds; g.lines.push(e); continue; }
        }
        groups.push({ x: e.x, kinds: [e.kind], lines: [e] });
      }
      const data = [];
      for (const g of groups) {
        g.kinds.sort((a, b) => EVENT_RANK[a] - EVENT_RANK[b]);
        const colour = EVENT_COLORS[g.kinds[0]];
        const { align } = box(g);
        g.lines.forEach((e, i) => data.push({
          xAxis: e.x, name: e.kind,
          lineStyle: { color: EVENT_COLORS[e.kind], type: e.kind === 'checkpoint' ? 'dotted' : 'dashed' },
          label: i ? { show: false } : { show: true, formatter: g.kinds.map(t).join(' · '), color: colour, fontSize: 10, position: 'end', align },
        }));
      }
      return { symbol: 'none', silent: true, animation: false, data };
    }

    function resize() { for (const c of Object.values(charts)) c.inst.resize(); }
    return {
      render, resize,
      instance: (key) => charts[key] && charts[key].inst,
      drawn(key) { // what ECharts holds: for the tests
        const c = charts[key]; if (!c) return [];
        const o = c.inst.getOption(); const sets = Object.fromEntries(o.dataset.map((d) => [d.id, d.source]));
        return o.series.map((s) => ({ name: s.name, points: sets[s.datasetId].x.length,
          marks: ((s.markLine && s.markLine.data) || []).map((m) => m.name) }));
      },
      points(key) { // {series name: [[x, y], ...]} as drawn: for the tests
        const c = charts[key]; if (!c) return {};
        const o = c.inst.getOption(); const sets = Object.fromEntries(o.dataset.map((d) => [d.id, d.source]));
        return Object.fromEntries(o.series.map((s) => { const d = sets[s.datasetId];
          return [s.name, Array.from(d.x, (x, i) => [x, Number.isNaN(d.y[i]) ? null : d.y[i]])]; }));
      },
    };
  }
  return { create, chartOf, zip, SMOOTHED, KEYS, FIRST: ['loss', 'dev'] };
})();
