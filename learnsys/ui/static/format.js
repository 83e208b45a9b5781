// Numbers, chart text and tooltips for every chart on the page (app.js, charts.js, lectures.js).
//
//   learnsysFormat.num(8231039.2)     -> '8.231e6'   (compact: never wider than ~9 characters)
//   learnsysFormat.axisNum(1e-9)      -> '1e-9'      (axis ticks: enough digits to tell ticks apart)
//   learnsysFormat.tooltip(head, rows) -> a DOM node for an ECharts tooltip formatter
//   learnsysFormat.base()             -> options every chart shares (fonts, grid that holds its labels)
//   learnsysFormat.textBoxes(chart)   -> every drawn text of a chart with its box (browser tests)
//
// Tooltips are DOM nodes built with classes, never HTML strings: the page's CSP (style-src
// 'self') refuses the style="" attributes in ECharts' own tooltip markup. Styles set from
// script through the CSSOM (element.style.x = ...), which ECharts also uses for the tooltip
// box, are not inline markup and are allowed. docs/dashboard.md ("Tooltips and the CSP").
'use strict';
window.learnsysFormat = (function () {
  const FONT = 'system-ui, -apple-system, "Segoe UI", "Noto Sans SC", "Noto Sans CJK SC", "Source Han Sans SC", '
    + '"PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", sans-serif';

  // Compact: `digits` significant digits without trailing zeros; exponent form (8.2e7, 1e-9)
  // outside [1e-3, 1e5), where plain digits would need more room than a chart label has.
  function num(v, digits = 4) {
    if (v === null || v === undefined || Number.isNaN(v)) return '–';
    if (typeof v !== 'number') return String(v);
    if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
    if (v === 0) return '0';
    const a = Math.abs(Number(v.toPrecision(digits))); // 99999.7 rounds to 1e5: the exponent form too
    if (a >= 1e5 || a < 1e-3) {
      const [m, e] = v.toExponential(digits - 1).split('e');
      return `${m.includes('.') ? m.replace(/\.?0+$/, '') : m}e${Number(e)}`;
    }
    return String(Number(v.toPrecision(digits)));
  }
  // Axis ticks are round numbers, so six digits are plenty to keep neighbours apart, and the
  // compact form keeps them short (a loss axis of 2e7, 4e7, ... instead of 20,000,000).
  const axisNum = (v) => num(v, 6);
  // A step or another integer: digits grouped (12,345); large ones compact. (Not
  // toLocaleString: axis labels call this on every redraw, and it is slow.)
  const int = (v) => (v === null || v === undefined ? '–' : Math.abs(v) < 1e9
    ? String(Math.round(v)).replace(/\B(?=(\d{3})+(?!\d))/g, ',') : num(v));

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  // head: a line of text (or null); rows: [{color, name, value}] -> <div class="tt">...</div>
  function tooltip(head, rows) {
    const box = el('div', 'tt');
    if (head) box.append(el('div', 'tt-head', head));
    for (const r of rows || []) {
      const row = el('div', 'tt-row');
      const mark = el('span', 'tt-mark');
      if (r.color) mark.style.backgroundColor = r.color; // CSSOM, not an inline style attribute
      else mark.classList.add('tt-mark-none');
      row.append(mark, el('span', 'tt-name', r.name), el('span', 'tt-val', r.value));
      box.append(row);
    }
    return box;
  }
  const colorOf = (p) => (typeof p.color === 'string' ? p.color : (p.color && p.color.colorStops ? p.color.colorStops[0].color : null));

  function fallback(ps) {
    const value = (p) => (p.dataType === 'edge' && p.data ? `${p.data.source} → ${p.data.target}`
      : Array.isArray(p.value) ? p.value.map((v) => num(v, 6)).join(', ') : num(p.value, 6));
    return tooltip(null, (Array.isArray(ps) ? ps : [ps]).map((p) => ({ color: colorOf(p), name: p.seriesName || p.name || '', value: value(p) })));
  }
  // What every chart shares. containLabel: the grid grows to hold the axis labels, however
  // wide; axis names sit at the axis' end (above a y axis), where no tick label can be.
  function base() {
    return {
      animation: false,
      textStyle: { fontFamily: FONT },
      // a DOM tooltip for anything a chart does not format itself (a graph's edges, ...)
      tooltip: { confine: true, className: 'learnsys-tooltip', renderMode: 'html', appendToBody: false, formatter: fallback },
    };
  }
  // y: the name above the axis' top end, left-aligned; x (nameLocation 'middle'): the name
  // centred under the tick labels.
  function valueAxis(name, extra) {
    const x = extra && extra.nameLocation === 'middle';
    return Object.assign({
      type: 'value', name, nameLocation: 'end', nameGap: 8,
      nameTextStyle: x ? { align: 'center', verticalAlign: 'top', color: '#57606a', fontFamily: FONT }
        : { align: 'left', verticalAlign: 'bottom', color: '#57606a', fontFamily: FONT },
      axisLabel: { formatter: (v) => axisNum(v), hideOverlap: true },
    }, extra || {});
  }

  // Every text ECharts has drawn in `chart` (axis labels and names, legend, mark labels),
  // as boxes in the chart's own pixels: the browser tests check none is cut off or overlaps.
  function textBoxes(chart) {
    const out = [];
    const list = chart.getZr().storage.getDisplayList(true);
    for (const e of list) {
      if (e.type !== 'tspan' && e.type !== 'text') continue;
      if (e.invisible || e.ignore || !e.style || !e.style.text || e.style.opacity === 0) continue;
      if (hidden(e)) continue;
      const r = box(e);
      for (const clip of e.__clipPaths || []) { // a scrolled legend clips the items it does not show
        const c = box(clip);
        const x0 = Math.max(r.x, c.x), y0 = Math.max(r.y, c.y), x1 = Math.min(r.x + r.width, c.x + c.width), y1 = Math.min(r.y + r.height, c.y + c.height);
        r.x = x0; r.y = y0; r.width = x1 - x0; r.height = y1 - y0;
      }
      if (r.width <= 0 || r.height <= 0) continue;
      out.push({ text: String(e.style.text), x: r.x, y: r.y, width: r.width, height: r.height, kind: kindOf(e) });
    }
    return out;
  }
  function box(e) {
    const r = e.getBoundingRect().clone();
    const m = e.getComputedTransform ? e.getComputedTransform() : e.transform;
    if (m) r.applyTransform(m);
    return r;
  }
  function hidden(e) {
    for (let p = e; p; p = p.parent || p.__hostTarget) {
      if (p.ignore || p.invisible) return true;
      if (p.__hostTarget && p.__hostTarget.ignore) return true;
    }
    return false;
  }
  function kindOf(e) {
    for (let p = e; p; p = p.parent || p.__hostTarget) {
      const info = p.__ecComponentInfo;
      if (info) return info.mainType;
    }
    return '';
  }

  return { FONT, num, axisNum, int, tooltip, colorOf, base, valueAxis, textBoxes, el };
})();
