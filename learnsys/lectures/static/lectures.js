// learnsys lecture views: the dashboard draws a run's artifacts with these (docs/lectures.md).
//   search    lecture 2: the loss of every grid point (curve, heat map, or a sortable top-k table)
//   landscape lectures 2-3: the loss surface with the optimiser's path (live while training)
//   graph     lecture 4: the computational graph, each node's value and gradient, stepped backward
// Contract with app.js: window.learnsysViews[name](element, data, {echarts, lang, runId, api});
// window.learnsysViews.onLang(lang) re-renders every mounted view in the new language.
// ctx.follow(names, fn) (optional) calls fn({name: [[step, value], ...]}) with a run's new
// metric rows as they arrive: the landscape draws its path from the 'param/<name>' rows live.
// Numbers and tooltips come from format.js (window.learnsysFormat), loaded before this file.
// No inline scripts or styles (the page's CSP): styles are set through the CSSOM, tooltips
// are DOM nodes.
(function () {
  'use strict';

  const TEXT = {
    en: {
      search: 'Exhaustive search', landscape: 'Loss landscape', graph: 'Computational graph',
      best: 'best', loss: 'loss', method: 'method', points: 'points', seconds: 's', partial: 'interrupted: partial result',
      rank: '#', top_table: 'best points (click a column to sort)', fixed: 'other parameters',
      path: 'path', start: 'start', end: 'end', step: 'step', live: 'live: updating while training',
      random_plane: 'filter-normalised random plane through the final weights (Li et al. 2018)',
      pca_plane: 'PCA plane of the trajectory, path projected (Li et al. 2018)',
      show_path_to: 'path up to step', value: 'value', grad: 'grad', back: '◀ back', next: 'next ▶',
      play: '▶▶ play', pause: '❚❚ pause', reset: 'reset', all: 'all gradients',
      backward_hint: 'Step through the backward pass: each step reaches one node and fills in ∂loss/∂node.',
      before_backward: 'Forward pass done; no gradient yet.', reached: 'reached', of: 'of',
      collapsed_hint: 'Large graph: modules are drawn as boxes; click a box to expand it, click a node inside to fold it.',
      sample: 'sample', prediction: 'prediction', input: 'input', target: 'target', param: 'parameter', op: 'operation',
      module: 'module', nodes: 'nodes', explained: 'of the path\'s variance', step_n: 'step {n}',
      methods: { statistics: 'sufficient statistics (closed form)', vmap: 'vmap (batched evaluation)', compiled: 'torch.compile' },
    },
    zh: {
      search: '穷举搜索', landscape: '损失曲面', graph: '计算图',
      best: '最优', loss: '损失', method: '方法', points: '个点', seconds: '秒', partial: '已中断：部分结果',
      rank: '#', top_table: '最优的点（点击列名排序）', fixed: '其他参数',
      path: '路径', start: '起点', end: '终点', step: '步', live: '实时：训练中持续更新',
      random_plane: '过最终权重的滤波器归一化随机平面（Li 等, 2018）',
      pca_plane: '轨迹的 PCA 平面与投影路径（Li 等, 2018）',
      show_path_to: '路径显示到第几步', value: '值', grad: '梯度', back: '◀ 上一步', next: '下一步 ▶',
      play: '▶▶ 播放', pause: '❚❚ 暂停', reset: '重置', all: '全部梯度',
      backward_hint: '逐步执行反向传播：每一步到达一个节点，并填上 ∂loss/∂节点。',
      before_backward: '前向传播已完成，尚无梯度。', reached: '到达', of: '/',
      collapsed_hint: '计算图较大：模块画成方框；点击方框展开，点击其中的节点收起。',
      sample: '样本', prediction: '预测', input: '输入', target: '目标', param: '参数', op: '运算',
      module: '模块', nodes: '个节点', explained: '的路径方差', step_n: '第 {n} 步',
      methods: { statistics: '充分统计量（闭式解）', vmap: 'vmap 批量求值', compiled: 'torch.compile 编译' },
    },
  };
  let lang = 'en';
  let mounted = [];
  const debug = { views: {}, graph: null };
  window.learnsysLectureDebug = debug;

  const F = window.learnsysFormat;
  const t = (k) => (TEXT[lang] || TEXT.en)[k] || TEXT.en[k] || k;
  const stepN = (n) => t('step_n').replace('{n}', F.int(n));
  const method = (name) => t('methods')[name] || name;
  // values: six significant digits, no padding (2.1, not 2.1000); 8.2e7 for large ones
  const fmt = (v) => (typeof v === 'number' && Number.isInteger(v) && Math.abs(v) < 1e6 ? String(v) : F.num(v, 6));
  const fmtAxis = F.axisNum;

  // -- small DOM helpers -------------------------------------------------------------------
  function add(parent, tag, text, cls) {
    const el = document.createElement(tag);
    if (text !== undefined && text !== null) el.textContent = text;
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

  // -- a loss surface on value axes (custom rects), or a loss curve, with an optional path ----
  const PATH = '#d62728';
  function tip(head, pairs) { return F.tooltip(head, pairs.map(([name, value]) => ({ name, value }))); }
  function pathSeries(spec) { // path, start and end: updated in place as a live path grows (setPath)
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

  function surface(m, parent, spec) {
    // spec: {xs, ys, z (rows over ys), xName, yName, lossName, path: true|false, best: [x, y]}
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
    if (spec.path) series.push(...pathSeries(spec));
    if (spec.best) series.push({ id: 'best', type: 'scatter', name: t('best'), data: [spec.best], symbol: 'diamond', symbolSize: 14, itemStyle: { color: '#ff7f0e' }, z: 6 });
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
      visualMap: { type: 'continuous', seriesIndex: 0, dimension: 5, min: vlo, max: vhi, right: 5, top: 'middle',
        text: [useLog ? `log₁₀ ${spec.lossName}` : spec.lossName, ''], calculable: true, itemWidth: 14,
        formatter: (v) => F.num(v, 3), inRange: { color: ['#440154', '#3b528b', '#21918c', '#5ec962', '#fde725'] } },
      series,
    }));
    return chart;
  }

  function curve(m, parent, spec) {
    // spec: {xs, ys, xName, lossName, path: true|false, best: [x, loss]}
    const chart = plot(m, parent, 340);
    const series = [{ id: 'surface', type: 'line', name: spec.lossName, data: spec.xs.map((x, i) => [x, spec.ys[i]]),
      showSymbol: spec.xs.length <= 60, symbolSize: 4, emphasis: { disabled: true } }];
    if (spec.path) series.push(...pathSeries(spec));
    if (spec.best) series.push({ id: 'best', type: 'scatter', name: t('best'), data: [spec.best], symbol: 'diamond', symbolSize: 14, itemStyle: { color: '#ff7f0e' }, z: 6 });
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

  // -- lecture 2: search ---------------------------------------------------------------------
  function viewSearch(m) {
    const d = m.data; const el = m.el;
    const lossName = (d.loss || 'loss').toUpperCase();
    add(el, 'h3', `${t('search')} · ${d.model} · ${d.data}`);
    const bestText = Object.entries(d.best.point).map(([k, v]) => `${k} = ${fmt(v)}`).join(', ');
    add(el, 'p', `${t('best')}: ${bestText}, ${lossName} = ${fmt(d.best.loss)} · ${F.int(d.evaluated)} ${t('points')} · ${t('method')}: ${method(d.method)}` +
      ` · ${fmt(d.seconds)} ${t('seconds')}${d.partial ? ` · ${t('partial')}` : ''}`, 'hint');
    if (d.kind === 'curve') {
      const a = d.axes[0];
      curve(m, el, { xs: a.values, ys: d.losses, xName: a.name, lossName, best: [d.best.point[a.name], d.best.loss] });
    } else if (d.kind === 'heatmap') {
      const [a0, a1] = d.axes;
      surface(m, el, { xs: a1.values, ys: a0.values, z: d.losses, xName: a1.name, yName: a0.name, lossName,
        best: [d.best.point[a1.name], d.best.point[a0.name]] });
    }
    topTable(el, d, lossName);
    debug.views.search = { kind: d.kind, charts: m.charts.length };
  }

  function topTable(el, d, lossName) {
    if (!d.top || !d.top.length) return;
    const wrap = add(el, 'details', null, 'lecture-top');
    if (d.kind === 'table') wrap.open = true;
    add(wrap, 'summary', t('top_table'));
    const table = add(wrap, 'table', null, 'lecture-table');
    const cols = [...d.params, 'loss'];
    let sortCol = 'loss'; let asc = true;
    const head = table.createTHead().insertRow();
    const body = table.createTBody();
    const fill = () => {
      const rows = d.top.map((r, i) => ({ rank: i + 1, loss: r.loss, ...r.point }));
      rows.sort((a, b) => (asc ? 1 : -1) * ((a[sortCol] ?? Infinity) - (b[sortCol] ?? Infinity)));
      body.textContent = '';
      for (const r of rows) {
        const tr = body.insertRow();
        tr.insertCell().textContent = String(r.rank);
        for (const c of cols) tr.insertCell().textContent = fmt(r[c]);
      }
    };
    add(head, 'th', t('rank'));
    for (const c of cols) {
      const th = add(head, 'th', c === 'loss' ? lossName : c);
      th.dataset.col = c;
      th.addEventListener('click', () => { asc = sortCol === c ? !asc : true; sortCol = c; fill(); });
    }
    fill();
  }

  // -- lectures 2-3: landscape ---------------------------------------------------------------
  // An exact landscape (1-2 scalars) of a run that trains is drawn live: the path grows with
  // each step's 'param/<name>' rows from the page's event stream (ctx.follow), and the
  // artifact, which the run rewrites every half second or so, is fetched once a second for
  // the exact losses along the path and a new surface when the path left the old one.
  function viewLandscape(m) {
    const d = m.data; const el = m.el;
    const lossName = (d.loss || 'loss').toUpperCase();
    add(el, 'h3', t('landscape'));
    if (d.live) add(el, 'p', t('live'), 'hint live');
    if (d.kind === 'exact') exactLandscape(m, d, el, lossName);
    else {
      add(el, 'p', t('random_plane'), 'hint');
      surface(m, el, { xs: d.axes[0].values, ys: d.axes[1].values, z: d.losses, xName: d.axes[0].label || 'α',
        yName: d.axes[1].label || 'β', lossName, best: [0, 0] });
      if (d.pca) {
        add(el, 'p', `${t('pca_plane')}: ${(100 * (d.pca.explained[0] + d.pca.explained[1])).toFixed(1)}% ${t('explained')}`, 'hint');
        const c = surface(m, el, { xs: d.pca.axes[0].values, ys: d.pca.axes[1].values, z: d.pca.losses, xName: d.pca.axes[0].label,
          yName: d.pca.axes[1].label, lossName, path: true });
        const p = d.pca.path || { x: [], y: [] };
        setPath(c, p.x.map((x, k) => [x, p.y[k], p.steps ? p.steps[k] : k]));
      }
      debug.views.landscape = { kind: d.kind, charts: m.charts.length, pca: !!d.pca };
    }
    if (d.live && m.ctx.api && !m.polling) m.polling = setInterval(() => poll(m), 1000);
  }

  function exactLandscape(m, d, el, lossName) {
    const one = d.axes.length === 1;
    const xs = d.axes[0].values;
    // the loss at w on the stored curve (for live points until the artifact has their exact loss)
    const lossAt = (w) => {
      if (!one || w < xs[0] || w > xs[xs.length - 1]) return null;
      let i = 1; while (i < xs.length - 1 && xs[i] < w) i += 1;
      const a = d.losses[i - 1]; const b = d.losses[i];
      return a === null || b === null ? null : a + (b - a) * (w - xs[i - 1]) / (xs[i] - xs[i - 1]);
    };
    m.stored = storedPath(d);
    m.tail = (m.tail || []).filter((p) => p[2] > (d.step ?? -Infinity));
    const points = () => m.stored.concat(m.tail);
    const row = add(el, 'label', null, 'lecture-slider');
    add(row, 'span', `${t('show_path_to')} `);
    const slider = add(row, 'input'); slider.type = 'range'; slider.min = '1';
    const out = add(row, 'output');
    const chart = one
      ? curve(m, el, { xs, ys: d.losses, xName: d.axes[0].name, lossName, path: true })
      : surface(m, el, { xs, ys: d.axes[1].values, z: d.losses, xName: d.axes[0].name, yName: d.axes[1].name, lossName, path: true });
    const show = () => {
      const pts = points(); const n = pts.length;
      slider.max = String(Math.max(1, n));
      const k = m.pathShown ? Math.min(m.pathShown, n) : n;
      slider.value = String(k); row.hidden = n < 2;
      out.textContent = n ? ` ${stepN(pts[k - 1][2])}` : '';
      setPath(chart, pts.slice(0, k));
      debug.views.landscape = { kind: d.kind, pathShown: k, pathPoints: n, step: n ? pts[n - 1][2] : m.data.step,
        artifactStep: m.data.step, live: !!m.data.live, tail: m.tail.length };
    };
    slider.addEventListener('input', () => { const k = Number(slider.value); m.pathShown = k >= points().length ? null : k; show(); });
    m.showPath = show;
    if (d.live && m.ctx.follow && !m.unfollow) { // each step's parameters, as the run records them
      const names = d.params.map((p) => `param/${p}`);
      const pending = new Map(); // step -> {name: value}
      m.unfollow = m.ctx.follow(names, (rows) => {
        if (!m.el.isConnected) { m.unfollow(); return; }
        for (const [name, list] of Object.entries(rows)) {
          for (const [step, v] of list) {
            const at = pending.get(step) || {}; at[name] = v; pending.set(step, at);
          }
        }
        const last = points().length ? points()[points().length - 1][2] : -Infinity;
        for (const [step, at] of [...pending.entries()].sort((a, b) => a[0] - b[0])) {
          if (names.some((n) => !(n in at))) continue;
          pending.delete(step);
          if (step <= last || at[names[0]] === null) continue;
          const w = at[names[0]];
          m.tail.push([w, one ? lossAt(w) : at[names[1]], step]);
        }
        if (m.showPath) m.showPath();
      });
    }
    show();
  }

  function storedPath(d) { // [[x, y or loss, step], ...]
    const p = d.path || { x: [], y: [], loss: [], steps: [] }; const one = d.axes.length === 1;
    return p.x.map((x, k) => [x, one ? (p.loss || [])[k] : p.y[k], (p.steps || [])[k]]);
  }
  async function poll(m) {
    if (!m.el.isConnected) { clearInterval(m.polling); m.polling = null; return; }
    try {
      const fresh = await m.ctx.api(`api/runs/${encodeURIComponent(m.ctx.runId)}/artifacts/landscape`);
      if (fresh.step === m.data.step && fresh.live === m.data.live) return;
      const sameSurface = fresh.kind === 'exact' && fresh.live && JSON.stringify(fresh.axes) === JSON.stringify(m.data.axes);
      m.data = fresh;
      if (!fresh.live) { clearInterval(m.polling); m.polling = null; if (m.unfollow) { m.unfollow(); m.unfollow = null; } }
      if (sameSurface && m.showPath) { // only the path changed: its exact losses replace the live estimates
        m.stored = storedPath(fresh);
        m.tail = (m.tail || []).filter((q) => q[2] > fresh.step);
        m.showPath();
      } else render(m);
    } catch (e) { /* the next tick tries again */ }
  }

  // -- lecture 4: graph ----------------------------------------------------------------------
  const KIND_COLOUR = { input: '#9ecae1', target: '#9ecae1', param: '#fdd0a2', op: '#ffffff', loss: '#fc9272', group: '#dadaeb' };
  function short(tj) {
    if (!tj) return '–';
    if (tj.value !== undefined) {
      let v = tj.value;
      while (Array.isArray(v) && v.length === 1) v = v[0];
      return Array.isArray(v) ? `[${v.flat(3).slice(0, 4).map(fmt).join(', ')}${v.flat(3).length > 4 ? ', …' : ''}]` : fmt(v);
    }
    return `${tj.shape.join('×')} ‖·‖=${fmt(tj.norm)}`;
  }

  function displayGraph(d, expanded) {
    // Nodes of collapsed groups are replaced by one box per group; edges are mapped and deduplicated.
    const groupOf = {};
    for (const n of d.nodes) if (n.group && !expanded.has(n.group)) groupOf[n.id] = `g:${n.group}`;
    const nodes = []; const seen = new Set();
    for (const n of d.nodes) {
      const id = groupOf[n.id] || n.id;
      if (seen.has(id)) continue;
      seen.add(id);
      if (groupOf[n.id]) {
        const g = d.groups.find((x) => x.id === id);
        nodes.push({ id, kind: 'group', label: g.module, members: g.nodes, group: g.module });
      } else nodes.push({ ...n });
    }
    const links = []; const linkSeen = new Set();
    for (const e of d.edges) {
      const s = groupOf[e.source] || e.source; const tg = groupOf[e.target] || e.target;
      const key = `${s}>${tg}`;
      if (s === tg || linkSeen.has(key)) continue;
      linkSeen.add(key); links.push({ source: s, target: tg });
    }
    // layers: longest path from the leaves, on the displayed graph
    const inputs = {}; nodes.forEach((n) => { inputs[n.id] = []; });
    links.forEach((l) => inputs[l.target].push(l.source));
    const layer = {};
    const depth = (id, stack = new Set()) => {
      if (layer[id] !== undefined) return layer[id];
      if (stack.has(id)) return 0;
      stack.add(id);
      layer[id] = 1 + Math.max(-1, ...inputs[id].map((s) => depth(s, stack)));
      return layer[id];
    };
    nodes.forEach((n) => { n.layer = depth(n.id); });
    return { nodes, links };
  }

  function viewGraph(m) {
    const d = m.data; const el = m.el;
    m.expanded = m.expanded || new Set();
    m.visited = m.visited === undefined ? 0 : m.visited;
    add(el, 'h3', `${t('graph')}${d.model ? ` · ${d.model}` : ''}`);
    const js = (v) => JSON.stringify(v, (k, x) => (typeof x === 'number' ? Number(x.toPrecision(6)) : x)); // 4.12, not 4.119999885559082
    add(el, 'p', `${t('sample')}: x = ${js(d.sample.x)}, y = ${js(d.sample.y)} · ${t('prediction')} ${js(d.prediction)} · ${t('loss')} ${fmt(d.loss)} · ${d.nodes.length} ${t('nodes')}`, 'hint');
    add(el, 'p', t('backward_hint'), 'hint');
    if (d.collapsed) add(el, 'p', t('collapsed_hint'), 'hint');
    const bar = add(el, 'div', null, 'lecture-controls');
    const buttons = {};
    for (const k of ['reset', 'back', 'next', 'play', 'all']) { buttons[k] = add(bar, 'button', t(k)); buttons[k].type = 'button'; buttons[k].dataset.action = k; }
    const status = add(el, 'p', '', 'lecture-status');
    const chart = plot(m, el, Math.min(900, 160 + 70 * (1 + Math.max(...d.nodes.map((n) => n.layer)))));
    const order = d.backward_order;
    const byId = Object.fromEntries(d.nodes.map((n) => [n.id, n]));

    const draw = () => {
      const k = m.visited;
      const reached = new Set(order.slice(0, k));
      const current = k > 0 ? order[k - 1] : null;
      const g = displayGraph(d, m.expanded);
      const maxLayer = Math.max(...g.nodes.map((n) => n.layer));
      const perLayer = {};
      g.nodes.forEach((n) => { (perLayer[n.layer] = perLayer[n.layer] || []).push(n); });
      const data = g.nodes.map((n) => {
        const row = perLayer[n.layer]; const idx = row.indexOf(n);
        const isGroup = n.kind === 'group';
        const done = isGroup ? n.members.every((id) => reached.has(id)) : reached.has(n.id);
        const lines = isGroup ? [`▣ ${n.label}`, `${n.members.length} ${t('nodes')}`]
          : [n.label, `${t('value')} ${short(n.value)}`, `${t('grad')} ${done ? short(n.grad) : '?'}`];
        return {
          id: n.id, name: n.id, x: (idx - (row.length - 1) / 2) * 170, y: (maxLayer - n.layer) * 90,
          value: n.kind, symbol: 'roundRect', symbolSize: [isGroup ? 120 : 130, isGroup ? 40 : 52],
          itemStyle: { color: KIND_COLOUR[n.kind] || '#fff', borderColor: n.id === current ? '#d62728' : (done ? '#e6550d' : '#888'),
            borderWidth: n.id === current ? 4 : (done ? 2 : 1) },
          label: { show: true, formatter: lines.join('\n'), fontSize: 11, lineHeight: 14, color: '#222' },
          tooltip: { formatter: () => (isGroup ? F.tooltip(`${t('module')} ${n.label}: ${n.members.length} ${t('nodes')}`, [])
            : tip(`${n.label} (${t(n.kind === 'loss' ? 'loss' : n.kind)})`, [...(n.module ? [[t('module'), n.module]] : []),
              [t('value'), short(n.value)], [`${t('grad')} ∂loss/∂node`, done ? short(n.grad) : '?']])) },
        };
      });
      const links = g.links.map((l) => ({ source: l.source, target: l.target,
        lineStyle: { color: reached.has(l.target) && reached.has(l.source) ? '#e6550d' : '#999', width: reached.has(l.target) ? 2 : 1 } }));
      chart.setOption({
        animation: false, textStyle: { fontFamily: F.FONT }, tooltip: F.base().tooltip,
        series: [{ type: 'graph', layout: 'none', roam: true, data, links, edgeSymbol: ['none', 'arrow'], edgeSymbolSize: 8,
          label: { position: 'inside' }, emphasis: { focus: 'adjacency' } }],
      }, true);
      status.textContent = k === 0 ? t('before_backward')
        : `${t('step')} ${k} ${t('of')} ${order.length}: ${t('reached')} ${byId[current].label} · ∂loss/∂${byId[current].label} = ${short(byId[current].grad)}`;
      buttons.back.disabled = k === 0; buttons.next.disabled = k >= order.length;
      buttons.play.textContent = m.playing ? t('pause') : t('play');
      debug.graph = { visited: k, total: order.length, current: current && byId[current].label, shown: data.length,
        expanded: [...m.expanded], labels: data.map((x) => x.label.formatter) };
      debug.views.graph = { visited: k, total: order.length };
    };
    const stop = () => { if (m.playing) { clearInterval(m.playing); m.playing = null; } };
    buttons.reset.addEventListener('click', () => { stop(); m.visited = 0; draw(); });
    buttons.back.addEventListener('click', () => { stop(); m.visited = Math.max(0, m.visited - 1); draw(); });
    buttons.next.addEventListener('click', () => { stop(); m.visited = Math.min(order.length, m.visited + 1); draw(); });
    buttons.all.addEventListener('click', () => { stop(); m.visited = order.length; draw(); });
    buttons.play.addEventListener('click', () => {
      if (m.playing) { stop(); draw(); return; }
      if (m.visited >= order.length) m.visited = 0;
      m.playing = setInterval(() => {
        if (!m.el.isConnected || m.visited >= order.length) { stop(); if (m.el.isConnected) draw(); return; }
        m.visited += 1; draw();
      }, 700);
      draw();
    });
    chart.on('click', (p) => {
      if (p.dataType !== 'node') return;
      const n = byId[p.data.id];
      if (p.data.value === 'group') m.expanded.add(p.data.id.slice(2));
      else if (n && n.group && m.expanded.has(n.group)) m.expanded.delete(n.group);
      else return;
      draw();
    });
    debug.graphStep = (k) => { stop(); m.visited = Math.max(0, Math.min(order.length, k)); draw(); };
    debug.graphToggle = (group) => { if (m.expanded.has(group)) m.expanded.delete(group); else m.expanded.add(group); draw(); };
    draw();
  }

  // -- mounting and language ---------------------------------------------------------------
  function render(m) {
    m.charts.forEach((c) => c.dispose());
    m.observers.forEach((o) => o.disconnect());
    m.charts = []; m.observers = [];
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

  window.learnsysViews = Object.assign(window.learnsysViews || {}, {
    search: mount('search', viewSearch),
    landscape: mount('landscape', viewLandscape),
    graph: mount('graph', viewGraph),
    onLang(newLang) {
      lang = newLang;
      mounted = mounted.filter((x) => x.el.isConnected);
      mounted.forEach(render);
    },
  });
})();
