// The 'evaluation' artifact (sinks/store.py, from train/evaluation.py): a classifier's dev
// confusion matrix as a heat map (rows the true class, columns the predicted one, counts in
// the cells, the dev accuracy in the title) and, for image data, the dev samples with their
// true and predicted labels (samples.js).
//
//   data: {step, metrics: {'dev/loss', 'dev/accuracy'?}, confusion: [[count]] | null,
//          samples: {shape, images, true, pred} | null, classes?: [name]}
//
// The store rewrites the artifact at every evaluation, each of which also logs a 'dev/loss'
// row: the view follows that row on the run's stream and fetches the artifact again when one
// arrives. A run that has ended sends no rows, so nothing is fetched after it.
'use strict';
(function () {
  const F = window.learnsysFormat;
  const kit = window.learnsysViewKit;
  const RIGHT = '#0969da';
  const WRONG = '#cf222e';
  const LABELS_UP_TO = 20; // classes; a larger matrix shows its counts on hover only

  // a colour between white and `to`, by share (0..1) of the largest count
  function shade(to, share) {
    const mix = (i) => Math.round(255 + (parseInt(to.slice(i, i + 2), 16) - 255) * share);
    return `rgb(${mix(1)}, ${mix(3)}, ${mix(5)})`;
  }
  const className = (data, id) => (data.classes && data.classes[id] !== undefined ? String(data.classes[id]) : String(id));

  // The width of the widest class name as ECharts draws axis labels (12 px), so the y axis'
  // name sits left of the labels whatever their length ('versicolor', '猫', '7').
  function widest(names) {
    const ctx = document.createElement('canvas').getContext('2d');
    ctx.font = `12px ${F.FONT}`;
    return Math.ceil(Math.max(0, ...names.map((s) => ctx.measureText(s).width)));
  }

  function matrix(m) {
    const { data, t, tf } = m;
    const counts = data.confusion;
    const n = counts.length;
    const names = counts.map((row, i) => className(data, i));
    const largest = Math.max(1, ...counts.flat());
    const rowSums = counts.map((row) => row.reduce((a, b) => a + b, 0));
    const cells = [];
    counts.forEach((row, i) => row.forEach((count, j) => {
      const share = Math.sqrt(count / largest); // sqrt: the few wrong counts stay visible beside the diagonal
      cells.push({ value: [j, i, count], itemStyle: { color: count ? shade(i === j ? RIGHT : WRONG, share) : '#ffffff' },
        label: { color: share > 0.6 ? '#ffffff' : '#1f2328' } });
    }));
    const acc = data.metrics && data.metrics['dev/accuracy'];
    const head = [t('confusion_title'), acc !== undefined ? tf('accuracy_is', { acc: `${F.num(acc * 100, 4)}%` }) : '']
      .filter(Boolean).join(' · ');
    m.el.append(F.el('h3', 'view-title', head));
    const chart = m.plot(Math.min(560, 90 + n * 34));
    const axis = (name, extra) => Object.assign({
      type: 'category', data: names, name, nameLocation: 'middle', nameGap: 26,
      nameTextStyle: { color: '#57606a', fontFamily: F.FONT }, splitArea: { show: false }, axisTick: { show: false },
      axisLabel: { hideOverlap: true, interval: 0 },
    }, extra);
    chart.setOption(Object.assign(F.base(), {
      grid: { left: 36, right: 16, top: 8, bottom: 44, containLabel: true },
      xAxis: axis(t('predicted_class'), { position: 'bottom' }),
      yAxis: axis(t('true_class'), { inverse: true, nameGap: widest(names) + 14 }), // the name left of the longest label
      tooltip: Object.assign(F.base().tooltip, { trigger: 'item', formatter: (p) => {
        const [j, i, count] = p.value;
        return F.tooltip(`${t('true_class')} ${names[i]} → ${t('predicted_class')} ${names[j]}`, [
          { name: t('count'), value: F.int(count) },
          { name: t('of_true_class'), value: rowSums[i] ? `${F.num((100 * count) / rowSums[i], 3)}%` : '–' }]);
      } }),
      series: [{ id: 'confusion', type: 'heatmap', data: cells, itemStyle: { borderColor: '#d0d7de', borderWidth: 1 },
        label: { show: n <= LABELS_UP_TO, formatter: (p) => (p.value[2] ? F.int(p.value[2]) : '') },
        emphasis: { itemStyle: { borderColor: '#1f2328', borderWidth: 2 } } }],
    }));
    // A redraw (a new evaluation while the run trains, a language change) keeps the cell the
    // mouse is on showing its tooltip, with the new counts, instead of closing it.
    chart.on('mouseover', (p) => { m.hovered = p.dataIndex; });
    chart.on('globalout', () => { m.hovered = null; });
    if (m.hovered !== null && m.hovered !== undefined && m.hovered < cells.length) {
      chart.dispatchAction({ type: 'showTip', seriesIndex: 0, dataIndex: m.hovered });
    }
  }

  function draw(m) {
    const { data, tf } = m;
    m.el.dataset.step = data.step;
    m.el.append(F.el('h2', 'view-head', tf('evaluation_title', { step: F.int(data.step) })));
    if (data.confusion && data.confusion.length) matrix(m);
    if (data.samples && data.samples.images && data.samples.images.length) {
      window.learnsysSampleGrid.draw(m.el, data.samples, { t: m.t, name: (id) => className(data, id) });
    }
  }

  // Fetch the artifact again when the run logs a dev loss (a new evaluation); one request at a
  // time, and one more if rows came in meanwhile.
  function followEvaluations(m) {
    if (!m.ctx.api) return;
    let busy = false;
    let again = false;
    async function refetch() {
      if (busy) { again = true; return; }
      busy = true;
      try {
        const data = await m.ctx.api(`api/runs/${encodeURIComponent(m.ctx.runId)}/artifacts/evaluation`);
        kit.debug.fetches.evaluation = (kit.debug.fetches.evaluation || 0) + 1;
        if (m.alive() && data.step !== m.data.step) { m.data = data; m.redraw(); }
      } catch (e) { /* the next evaluation tries again */ } finally { busy = false; }
      if (again && m.alive()) { again = false; refetch(); }
    }
    m.follow(['dev/loss'], refetch);
    // an evaluation logged while this artifact was on its way here
    const dev = m.ctx.series && m.ctx.series('dev/loss');
    if (dev && dev.steps.length && dev.steps[dev.steps.length - 1] > m.data.step) refetch();
  }

  kit.register('evaluation', draw, followEvaluations);
})();
