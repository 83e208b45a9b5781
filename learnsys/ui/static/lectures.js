// learnsys lecture views: the dashboard draws a run's artifacts with these (docs/lectures.md).
//   search    lecture 2: the loss of every grid point (curve, heat map, or a sortable top-k table)
//   landscape lectures 2-3: the loss surface with the optimiser's path (live while training)
//   graph     lecture 4: the computational graph, each node's value and gradient, stepped backward
// Contract with app.js: window.learnsysViews[name](element, data, {echarts, lang, runId, api});
// window.learnsysViews.onLang(lang) re-renders every mounted view in the new language.
// No inline scripts or styles (the page's CSP): styles are set through the CSSOM.
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
      module: 'module', nodes: 'nodes', explained: 'of the path\'s variance',
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
      module: '模块', nodes: '个节点', explained: '的路径方差',
    },
  };
  let lang = 'en';
  let mounted = [];
  const debug = { views: {}, graph: null };
  window.learnsysLectureDebug = debug;

  const t = (k) => (TEXT[lang] || TEXT.en)[k] || TEXT.en[k] || k;
  const fmt = (v) => (v === null || v === undefined || Number.isNaN(v) ? '–'
    : typeof v === 'number' ? (Number.isInteger(v) && Math.abs(v) < 1e6 ? String(v) : Number(v).toPrecision(5)) : String(v));
  // axis ticks: five significant digits without trailing zeros (0.5, not 0.50000)
  const fmtAxis = (v) => String(Number(Number(v).toPrecision(5)));

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

  // -- a loss surface on value axes (custom rects), with an optional path -------------------
  function surface(m, parent, spec) {
    // spec: {xs, ys, z (rows over ys), xName, yName, lossName, path: {x, y, steps}, best: [x, y]}
    const chart = plot(m, parent, 380);
    const flat = finite(spec.z.flat());
    const lo = Math.min(...flat); const hi = Math.max(...flat);
    const useLog = lo > 0 && hi / lo > 100;
    const colour = (v) => (useLog ? Math.log10(v) : v);
    const xe = edges(spec.xs); const ye = edges(spec.ys);
    const cells = [];
    spec.z.forEach((row, j) => row.forEach((v, i) => { if (v !== null && Number.isFinite(v)) cells.push([spec.xs[i], spec.ys[j], v, i, j, colour(v)]); }));
    const series = [{
      type: 'custom', name: spec.lossName, data: cells, encode: { x: 0, y: 1 }, silent: false,
      renderItem(params, api) {
        const i = api.value(3); const j = api.value(4);
        const p0 = api.coord([xe[i], ye[j]]); const p1 = api.coord([xe[i + 1], ye[j + 1]]);
        return { type: 'rect', shape: { x: Math.min(p0[0], p1[0]), y: Math.min(p0[1], p1[1]),
          width: Math.abs(p1[0] - p0[0]) + 0.5, height: Math.abs(p1[1] - p0[1]) + 0.5 }, style: { fill: api.visual('color') } };
      },
    }];
    if (spec.path && spec.path.x && spec.path.x.length) {
      const pts = spec.path.x.map((x, k) => [x, spec.path.y[k], spec.path.steps ? spec.path.steps[k] : k]);
      series.push({ type: 'line', name: t('path'), data: pts, symbolSize: 3, lineStyle: { color: '#d62728', width: 1.5 },
        itemStyle: { color: '#d62728' }, z: 5 });
      series.push({ type: 'scatter', name: t('start'), data: [pts[0]], symbolSize: 10, itemStyle: { color: '#fff', borderColor: '#000' }, z: 6 });
      series.push({ type: 'scatter', name: t('end'), data: [pts[pts.length - 1]], symbol: 'pin', symbolSize: 18, itemStyle: { color: '#d62728' }, z: 6 });
    }
    if (spec.best) series.push({ type: 'scatter', name: t('best'), data: [spec.best], symbol: 'diamond', symbolSize: 14, itemStyle: { color: '#ff7f0e' }, z: 6 });
    chart.setOption({
      animation: false,
      grid: { left: 70, right: 110, top: 30, bottom: 50 },
      legend: { top: 0, data: series.slice(1).map((s) => s.name) },
      tooltip: { trigger: 'item', formatter: (p) => (p.seriesType === 'custom'
        ? `${spec.xName} = ${fmt(p.value[0])}<br>${spec.yName} = ${fmt(p.value[1])}<br>${spec.lossName} = ${fmt(p.value[2])}`
        : `${p.seriesName}<br>${spec.xName} = ${fmt(p.value[0])}<br>${spec.yName} = ${fmt(p.value[1])}<br>${t('step')} ${fmt(p.value[2])}`) },
      xAxis: { type: 'value', name: spec.xName, nameLocation: 'middle', nameGap: 28, min: xe[0], max: xe[xe.length - 1], scale: true,
        axisLabel: { formatter: (v) => fmtAxis(v), showMinLabel: false, showMaxLabel: false } },
      yAxis: { type: 'value', name: spec.yName, nameLocation: 'middle', nameGap: 50, min: ye[0], max: ye[ye.length - 1], scale: true,
        axisLabel: { formatter: (v) => fmtAxis(v), showMinLabel: false, showMaxLabel: false } },
      visualMap: { type: 'continuous', seriesIndex: 0, dimension: 5, min: colour(lo), max: colour(hi), right: 5, top: 'middle',
        text: [useLog ? `log₁₀ ${spec.lossName}` : spec.lossName, ''], calculable: true,
        inRange: { color: ['#440154', '#3b528b', '#21918c', '#5ec962', '#fde725'] } },
      series,
    });
    return chart;
  }

  function curve(m, parent, spec) {
    // spec: {xs, ys, xName, lossName, path: {x, loss, steps}, best: [x, loss]}
    const chart = plot(m, parent, 320);
    const series = [{ type: 'line', name: spec.lossName, data: spec.xs.map((x, i) => [x, spec.ys[i]]), showSymbol: spec.xs.length <= 60, symbolSize: 4 }];
    if (spec.path && spec.path.x && spec.path.x.length) {
      const pts = spec.path.x.map((x, k) => [x, spec.path.loss[k], spec.path.steps ? spec.path.steps[k] : k]);
      series.push({ type: 'line', name: t('path'), data: pts, symbolSize: 5, lineStyle: { color: '#d62728', width: 1 }, itemStyle: { color: '#d62728' } });
      series.push({ type: 'scatter', name: t('end'), data: [pts[pts.length - 1]], symbol: 'pin', symbolSize: 18, itemStyle: { color: '#d62728' } });
    }
    if (spec.best) series.push({ type: 'scatter', name: t('best'), data: [spec.best], symbol: 'diamond', symbolSize: 14, itemStyle: { color: '#ff7f0e' } });
    chart.setOption({
      animation: false, grid: { left: 70, right: 30, top: 30, bottom: 50 }, legend: { top: 0 },
      tooltip: { trigger: 'item', formatter: (p) => `${spec.xName} = ${fmt(p.value[0])}<br>${spec.lossName} = ${fmt(p.value[1])}${p.value.length > 2 ? `<br>${t('step')} ${p.value[2]}` : ''}` },
      xAxis: { type: 'value', name: spec.xName, nameLocation: 'middle', nameGap: 28, scale: true },
      yAxis: { type: 'value', name: spec.lossName, nameLocation: 'middle', nameGap: 50, scale: true },
      series,
    });
    return chart;
  }

  // -- lecture 2: search ---------------------------------------------------------------------
  function viewSearch(m) {
    const d = m.data; const el = m.el;
    const lossName = (d.loss || 'loss').toUpperCase();
    add(el, 'h3', `${t('search')} · ${d.model} · ${d.data}`);
    const bestText = Object.entries(d.best.point).map(([k, v]) => `${k} = ${fmt(v)}`).join(', ');
    add(el, 'p', `${t('best')}: ${bestText}, ${lossName} = ${fmt(d.best.loss)} · ${d.evaluated} ${t('points')} · ${t('method')} ${d.method}` +
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
  function viewLandscape(m) {
    const d = m.data; const el = m.el;
    const lossName = (d.loss || 'loss').toUpperCase();
    add(el, 'h3', t('landscape'));
    if (d.live) add(el, 'p', t('live'), 'hint live');
    if (d.kind === 'exact') {
      const path = d.path || { x: [], y: [], loss: [], steps: [] };
      const n = path.x.length;
      const holder = add(el, 'div');
      const draw = (k) => {
        m.charts.forEach((c) => c.dispose()); m.charts = []; holder.textContent = '';
        const cut = { x: path.x.slice(0, k), y: (path.y || []).slice(0, k), loss: (path.loss || []).slice(0, k), steps: (path.steps || []).slice(0, k) };
        if (d.axes.length === 1) {
          curve(m, holder, { xs: d.axes[0].values, ys: d.losses, xName: d.axes[0].name, lossName, path: cut });
        } else {
          surface(m, holder, { xs: d.axes[0].values, ys: d.axes[1].values, z: d.losses, xName: d.axes[0].name,
            yName: d.axes[1].name, lossName, path: cut });
        }
        debug.views.landscape = { kind: d.kind, pathShown: k, pathPoints: n, step: d.step, live: !!d.live };
      };
      if (n > 1) {
        const row = add(el, 'label', null, 'lecture-slider');
        add(row, 'span', `${t('show_path_to')} `);
        const slider = add(row, 'input');
        slider.type = 'range'; slider.min = '1'; slider.max = String(n); slider.value = String(m.pathShown || n);
        const out = add(row, 'output');
        const show = () => { const k = Number(slider.value); m.pathShown = k === n ? null : k; out.textContent = ` ${t('step')} ${path.steps[k - 1]}`; draw(k); };
        slider.addEventListener('input', show);
        el.append(holder);
        show();
      } else draw(n);
    } else {
      add(el, 'p', t('random_plane'), 'hint');
      surface(m, el, { xs: d.axes[0].values, ys: d.axes[1].values, z: d.losses, xName: d.axes[0].label || 'α',
        yName: d.axes[1].label || 'β', lossName, best: [0, 0] });
      if (d.pca) {
        add(el, 'p', `${t('pca_plane')}: ${(100 * (d.pca.explained[0] + d.pca.explained[1])).toFixed(1)}% ${t('explained')}`, 'hint');
        surface(m, el, { xs: d.pca.axes[0].values, ys: d.pca.axes[1].values, z: d.pca.losses, xName: d.pca.axes[0].label,
          yName: d.pca.axes[1].label, lossName, path: d.pca.path });
      }
      debug.views.landscape = { kind: d.kind, charts: m.charts.length, pca: !!d.pca };
    }
    if (d.live && m.ctx.api && !m.polling) { // the LiveLandscape callback rewrites the artifact: follow it
      m.polling = setInterval(async () => {
        if (!m.el.isConnected) { clearInterval(m.polling); return; }
        try {
          const fresh = await m.ctx.api(`api/runs/${encodeURIComponent(m.ctx.runId)}/artifacts/landscape`);
          if (fresh.step !== m.data.step || fresh.live !== m.data.live) {
            m.data = fresh;
            if (!fresh.live) { clearInterval(m.polling); m.polling = null; }
            render(m);
          }
        } catch (e) { /* the next tick tries again */ }
      }, 1000);
    }
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
    add(el, 'p', `${t('sample')}: x = ${JSON.stringify(d.sample.x)}, y = ${JSON.stringify(d.sample.y)} · ${t('prediction')} ${JSON.stringify(d.prediction)} · ${t('loss')} ${fmt(d.loss)} · ${d.nodes.length} ${t('nodes')}`, 'hint');
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
          tooltip: { formatter: () => (isGroup ? `${t('module')} ${n.label}: ${n.members.length} ${t('nodes')}`
            : `${n.label} (${t(n.kind === 'loss' ? 'loss' : n.kind)})${n.module ? `<br>${t('module')} ${n.module}` : ''}<br>${t('value')} ${short(n.value)}<br>${t('grad')} ∂loss/∂node ${done ? short(n.grad) : '?'}`) },
        };
      });
      const links = g.links.map((l) => ({ source: l.source, target: l.target,
        lineStyle: { color: reached.has(l.target) && reached.has(l.source) ? '#e6550d' : '#999', width: reached.has(l.target) ? 2 : 1 } }));
      chart.setOption({
        animation: false, tooltip: {},
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
