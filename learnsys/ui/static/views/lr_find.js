// The 'lr_find' artifact (api.py, from train/lr_find.py LrFindResult.artifact()): the
// learning-rate range test's loss against lr on a log axis, raw and smoothed, with the
// suggested lr marked and its rule named. Runs of kind 'lr-find' and `train --lr auto` have it.
//
//   data: {lrs, losses, smoothed, suggestion, rule, stopped, beta, stop_factor}
//
// The test stops once the smoothed loss passes stop_factor × its minimum, and the raw loss
// may have blown up by then: the y axis ends a little above the smoothed curve before its last
// point (and that point up to stop_factor × the minimum), so the blow-up does not flatten it.
'use strict';
(function () {
  const F = window.learnsysFormat;
  const kit = window.learnsysViewKit;
  const RAW = '#8c959f';
  const SMOOTH = '#0969da';
  const MARK = '#d62728';

  const finite = (v) => v !== null && v !== undefined && Number.isFinite(v);
  // The smoothed curve's range up to its last point, and that point up to stop_factor × the
  // minimum (the raw loss above that is cut off).
  function yRange(data) {
    const smooth = data.smoothed.filter(finite);
    const lowest = Math.min(...smooth);
    const last = smooth[smooth.length - 1];
    const before = smooth.length > 1 ? Math.max(...smooth.slice(0, -1)) : last;
    const top = Math.max(before, Math.min(last, (data.stop_factor || 4) * lowest));
    const lo = Math.min(lowest, ...data.losses.filter(finite));
    const pad = (top - lo) * 0.05 || Math.abs(top) * 0.05 || 1;
    return [lo - pad, top + pad];
  }
  const decade = (v, round) => 10 ** round(Math.log10(v)); // a log axis from one power of ten to another
  // message texts from Python ('steepest descent', 'the smoothed loss passed 4x ...') in the page's language
  const said = (m, text) => window.learnsysMessages.translate(String(text || ''), m.lang(), m.t);

  function draw(m) {
    const { data, t, tf } = m;
    const model = m.info && m.info.model;
    m.el.dataset.suggestion = data.suggestion;
    m.el.append(F.el('h2', 'view-head', model ? tf('lr_find_title', { model }) : t('lr_find')));
    m.el.append(F.el('p', 'hint', `${tf('lr_suggested', { lr: F.num(data.suggestion, 4), rule: said(m, data.rule) })} · ${said(m, data.stopped)}`));
    const [lo, hi] = yRange(data);
    const pairs = (ys) => data.lrs.map((lr, i) => [lr, finite(ys[i]) ? ys[i] : null]);
    const chart = m.plot(340);
    chart.setOption(Object.assign(F.base(), {
      grid: { left: 12, right: 28, top: 40, bottom: 36, containLabel: true },
      legend: { top: 0, data: [t('raw'), t('smoothed')] },
      xAxis: F.valueAxis(t('learning_rate'), { type: 'log', logBase: 10, nameLocation: 'middle', nameGap: 24,
        min: decade(data.lrs[0], Math.floor), max: decade(data.lrs[data.lrs.length - 1], Math.ceil), axisLabel: { formatter: F.axisNum, hideOverlap: true } }),
      yAxis: F.valueAxis(t('loss'), { min: lo, max: hi, scale: true,
        axisLabel: { formatter: F.axisNum, hideOverlap: true, showMinLabel: false, showMaxLabel: false } }),
      tooltip: Object.assign(F.base().tooltip, { trigger: 'axis', formatter: (ps) => {
        const list = Array.isArray(ps) ? ps : [ps];
        if (!list.length) return '';
        return F.tooltip(`lr ${F.num(list[0].value[0], 4)}`,
          list.map((p) => ({ color: F.colorOf(p), name: p.seriesName, value: F.num(p.value[1], 5) })));
      } }),
      series: [
        { id: 'raw', type: 'line', name: t('raw'), data: pairs(data.losses), showSymbol: false, symbolSize: 4,
          lineStyle: { color: RAW, width: 1 }, itemStyle: { color: RAW } },
        { id: 'smoothed', type: 'line', name: t('smoothed'), data: pairs(data.smoothed), showSymbol: false, symbolSize: 4,
          lineStyle: { color: SMOOTH, width: 2 }, itemStyle: { color: SMOOTH },
          markLine: { silent: true, symbol: 'none', lineStyle: { color: MARK, type: 'dashed', width: 1.5 },
            label: { formatter: () => `${t('suggested')} ${F.num(data.suggestion, 4)}`, position: 'insideEndTop', color: MARK },
            data: [{ xAxis: data.suggestion }] } },
      ],
    }));
  }

  // The title names the run's model, which the run's own record holds.
  async function fetchModel(m) {
    if (!m.ctx.api || !m.ctx.runId) return;
    try {
      m.info = await m.ctx.api(`api/runs/${encodeURIComponent(m.ctx.runId)}`);
      if (m.alive()) m.redraw();
    } catch (e) { /* the title goes without the model */ }
  }

  kit.register('lr_find', draw, fetchModel);
})();
