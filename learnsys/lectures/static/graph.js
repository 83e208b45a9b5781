// Lecture 4's computational graph (artifact 'graph'): each node's value, the backward pass
// stepped node by node (each step fills in ∂loss/∂node), modules of a big graph as boxes that
// expand. Registers window.learnsysViews.graph through the core (lectures.js, loaded before).
(function () {
  'use strict';

  const L = window.learnsysLectures;
  const { F, t, fmt, add, plot, tip, debug } = L;
  L.text({
    en: {
      graph: 'Computational graph', value: 'value', grad: 'grad', back: '◀ back', next: 'next ▶',
      play: '▶▶ play', pause: '❚❚ pause', reset: 'reset', all: 'all gradients',
      backward_hint: 'Step through the backward pass: each step reaches one node and fills in ∂loss/∂node.',
      before_backward: 'Forward pass done; no gradient yet.', reached: 'reached', of: 'of',
      collapsed_hint: 'Large graph: modules are drawn as boxes; click a box to expand it, click a node inside to fold it.',
      sample: 'sample', prediction: 'prediction', input: 'input', target: 'target', param: 'parameter', op: 'operation',
      module: 'module', nodes: 'nodes',
    },
    zh: {
      graph: '计算图', value: '值', grad: '梯度', back: '◀ 上一步', next: '下一步 ▶',
      play: '▶▶ 播放', pause: '❚❚ 暂停', reset: '重置', all: '全部梯度',
      backward_hint: '逐步执行反向传播：每一步到达一个节点，并填上 ∂loss/∂节点。',
      before_backward: '前向传播已完成，尚无梯度。', reached: '到达', of: '/',
      collapsed_hint: '计算图较大：模块画成方框；点击方框展开，点击其中的节点收起。',
      sample: '样本', prediction: '预测', input: '输入', target: '目标', param: '参数', op: '运算',
      module: '模块', nodes: '个节点',
    },
  });

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

  L.register('graph', viewGraph);
})();
