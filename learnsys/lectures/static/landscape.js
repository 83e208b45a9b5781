// Lectures 2-3's loss landscape (artifact 'landscape'): the exact loss surface or curve of a
// model with 1-2 scalars with the optimiser's path, drawn live while the run trains; for
// bigger models the random plane θ* + u·d₁ + v·d₂ and the PCA plane of Li et al. (2018).
// (u, v rather than the paper's α, β: in the lectures α is the learning rate and β the
// smoothing weight; artifacts stored with α, β are drawn with the same u, v labels.)
// Registers window.learnsysViews.landscape through the core (lectures.js, loaded before this).
(function () {
  'use strict';

  const L = window.learnsysLectures;
  const { t, add, stepN } = L;
  L.text({
    en: {
      landscape: 'Loss landscape', live: 'live: updating while training', show_path_to: 'path up to step',
      random_plane: 'filter-normalised random plane θ* + u·d₁ + v·d₂ through the final weights θ* (Li et al. 2018)',
      plane_u: 'u (along random direction d₁)', plane_v: 'v (along random direction d₂)',
      pca_plane: 'PCA plane of the trajectory, path projected (Li et al. 2018)', explained: 'of the path\'s variance',
    },
    zh: {
      landscape: '损失曲面', live: '实时：训练中持续更新', show_path_to: '路径显示到第几步',
      random_plane: '过最终权重 θ* 的滤波器归一化随机平面 θ* + u·d₁ + v·d₂（Li 等, 2018）',
      plane_u: 'u（沿随机方向 d₁）', plane_v: 'v（沿随机方向 d₂）',
      pca_plane: '轨迹的 PCA 平面与投影路径（Li 等, 2018）', explained: '的路径方差',
    },
  });

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
      L.surface(m, el, { xs: d.axes[0].values, ys: d.axes[1].values, z: d.losses, xName: t('plane_u'),
        yName: t('plane_v'), lossName, best: [0, 0] });
      if (d.pca) {
        add(el, 'p', `${t('pca_plane')}: ${(100 * (d.pca.explained[0] + d.pca.explained[1])).toFixed(1)}% ${t('explained')}`, 'hint');
        const c = L.surface(m, el, { xs: d.pca.axes[0].values, ys: d.pca.axes[1].values, z: d.pca.losses, xName: d.pca.axes[0].label,
          yName: d.pca.axes[1].label, lossName, path: true });
        const p = d.pca.path || { x: [], y: [] };
        L.setPath(c, p.x.map((x, k) => [x, p.y[k], p.steps ? p.steps[k] : k]));
      }
      L.debug.views.landscape = { kind: d.kind, charts: m.charts.length, pca: !!d.pca, flat: !!m.flat,
        axes: [t('plane_u'), t('plane_v')] };
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
      ? L.curve(m, el, { xs, ys: d.losses, xName: d.axes[0].name, lossName, path: true })
      : L.surface(m, el, { xs, ys: d.axes[1].values, z: d.losses, xName: d.axes[0].name, yName: d.axes[1].name, lossName, path: true });
    const show = () => {
      const pts = points(); const n = pts.length;
      slider.max = String(Math.max(1, n));
      const k = m.pathShown ? Math.min(m.pathShown, n) : n;
      slider.value = String(k); row.hidden = n < 2;
      out.textContent = n ? ` ${stepN(pts[k - 1][2])}` : '';
      L.setPath(chart, pts.slice(0, k));
      L.debug.views.landscape = { kind: d.kind, pathShown: k, pathPoints: n, step: n ? pts[n - 1][2] : m.data.step,
        artifactStep: m.data.step, live: !!m.data.live, tail: m.tail.length, flat: !!m.flat };
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
      } else L.render(m);
    } catch (e) { /* the next tick tries again */ }
  }

  L.register('landscape', viewLandscape);
})();
