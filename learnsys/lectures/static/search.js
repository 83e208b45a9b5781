// Lecture 2's exhaustive search (artifact 'search'): the loss of every grid point as a curve
// (1 parameter), a heat map (2) or the best points in a sortable table (more). Registers
// window.learnsysViews.search through the core (lectures.js, loaded before this file).
(function () {
  'use strict';

  const L = window.learnsysLectures;
  const { F, t, fmt, add } = L;
  L.text({
    en: {
      search: 'Exhaustive search', method: 'method', points: 'points', seconds: 's', partial: 'interrupted: partial result',
      rank: '#', top_table: 'best points (click a column to sort)',
      methods: { statistics: 'sufficient statistics (closed form)', vmap: 'vmap (batched evaluation)', compiled: 'torch.compile' },
    },
    zh: {
      search: '穷举搜索', method: '方法', points: '个点', seconds: '秒', partial: '已中断：部分结果',
      rank: '#', top_table: '最优的点（点击列名排序）',
      methods: { statistics: '充分统计量（闭式解）', vmap: 'vmap 批量求值', compiled: 'torch.compile 编译' },
    },
  });
  const method = (name) => t('methods')[name] || name;

  function viewSearch(m) {
    const d = m.data; const el = m.el;
    const lossName = (d.loss || 'loss').toUpperCase();
    add(el, 'h3', `${t('search')} · ${d.model} · ${d.data}`);
    const bestText = Object.entries(d.best.point).map(([k, v]) => `${k} = ${fmt(v)}`).join(', ');
    add(el, 'p', `${t('best')}: ${bestText}, ${lossName} = ${fmt(d.best.loss)} · ${F.int(d.evaluated)} ${t('points')} · ${t('method')}: ${method(d.method)}` +
      ` · ${fmt(d.seconds)} ${t('seconds')}${d.partial ? ` · ${t('partial')}` : ''}`, 'hint');
    if (d.kind === 'curve') {
      const a = d.axes[0];
      L.curve(m, el, { xs: a.values, ys: d.losses, xName: a.name, lossName, best: [d.best.point[a.name], d.best.loss] });
    } else if (d.kind === 'heatmap') {
      const [a0, a1] = d.axes;
      L.surface(m, el, { xs: a1.values, ys: a0.values, z: d.losses, xName: a1.name, yName: a0.name, lossName,
        best: [d.best.point[a1.name], d.best.point[a0.name]] });
    }
    topTable(el, d, lossName);
    L.debug.views.search = { kind: d.kind, charts: m.charts.length, flat: !!m.flat };
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

  L.register('search', viewSearch);
})();
