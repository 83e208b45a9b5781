// Dev image samples with their true and predicted labels (the 'evaluation' artifact's
// `samples`, train/evaluation.py): each drawn to its own <canvas> at the image's own pixels,
// grayscale for one channel and RGB for three, scaled up by CSS (views.css); a wrong
// prediction is marked.
//
//   learnsysSampleGrid.draw(parent, {shape: [C, H, W], images: [[C·H·W values]], true, pred},
//                           {t, name: (classId) => label})
//
// Pixel values are mapped to 0..255 by the smallest and largest value of all the samples
// together (digits come as 0..16, normalised data around 0), so the images stay comparable.
'use strict';
window.learnsysSampleGrid = (function () {
  const F = window.learnsysFormat;

  function range(images) {
    let lo = Infinity; let hi = -Infinity;
    for (const img of images) for (const v of img) { if (v < lo) lo = v; if (v > hi) hi = v; }
    return hi > lo ? [lo, hi] : [lo - 1, lo + 1];
  }
  // one image, flattened in (C, H, W) order, onto a W×H canvas
  function paint(canvas, values, [c, h, w], [lo, hi]) {
    canvas.width = w; canvas.height = h;
    const g = canvas.getContext('2d');
    const img = g.createImageData(w, h);
    const byte = (v) => Math.round((255 * (v - lo)) / (hi - lo));
    for (let y = 0; y < h; y += 1) {
      for (let x = 0; x < w; x += 1) {
        const at = y * w + x;
        const rgb = c === 3 ? [values[at], values[h * w + at], values[2 * h * w + at]] : [values[at], values[at], values[at]];
        img.data.set([...rgb.map(byte), 255], 4 * at);
      }
    }
    g.putImageData(img, 0, 0);
  }

  function draw(parent, samples, { t, name }) {
    const { shape, images } = samples;
    parent.append(F.el('h3', 'view-title', t('samples_title')));
    const grid = F.el('div', 'sample-grid');
    const scale = range(images);
    images.forEach((values, i) => {
      const truth = samples.true[i]; const pred = samples.pred[i];
      const wrong = truth !== pred;
      const fig = F.el('figure', wrong ? 'sample wrong' : 'sample');
      fig.dataset.true = truth; fig.dataset.pred = pred;
      const canvas = F.el('canvas', shape[0] === 3 ? 'rgb' : 'gray');
      paint(canvas, values, shape, scale);
      const cap = F.el('figcaption');
      cap.append(F.el('span', 'sample-true', `${t('true_label')} ${name(truth)}`),
        F.el('span', 'sample-pred', `${t('pred_label')} ${name(pred)}${wrong ? ' ✗' : ''}`));
      fig.title = `${t('true_label')} ${name(truth)} · ${t('pred_label')} ${name(pred)}${wrong ? ` · ${t('wrong')}` : ''}`;
      fig.append(canvas, cap);
      grid.append(fig);
    });
    parent.append(grid);
  }
  return { draw };
})();
