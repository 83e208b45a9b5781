// The page's panels around the charts: the run list (names, what differs between overlaid
// runs), the run header (status, progress, message, events), the lecture views of a run's
// artifacts, and predict. app.js owns the state and calls these; they only read it.
'use strict';
window.learnsysPanels = (function () {
  const F = window.learnsysFormat;
  const DIFF_KEYS = ['model', 'data', 'optimizer', 'lr', 'batch_size', 'epochs', 'steps', 'init', 'loss', 'scheduler', 'seed', 'shuffle', 'dev', 'guard'];
  const $ = (sel) => document.querySelector(sel);
  const ENDED_BADLY = ['diverged', 'failed', 'damaged']; // the store's statuses of a run that did not end well

  function create({ state, debug, t, tf, msg, api, follow, select, toggleOverlay }) {
    // -- names: what a run is, and what tells overlaid runs apart -------------------------------
    function batchText(b) { return b === 'full' || b === undefined ? t('full_batch') : b === 1 ? tf('sgd_batch', { n: 1 }) : tf('batch_n', { n: b }); }
    function displayName(r) {
      const b = r.brief || r.spec || {};
      if (r.kind === 'search') return tf('search_name', { params: (b.params || []).join(', ') });
      return r.id;
    }
    function summary(r) {
      const b = r.brief || r.spec || {};
      if (r.kind === 'search') return [r.model, r.data, `${F.int(r.total_steps)} ${t('points')}`].filter(Boolean).join(' · ');
      return [r.model, r.data, b.lr !== undefined ? `lr ${F.num(b.lr, 6)}` : '', b.batch_size !== undefined ? batchText(b.batch_size) : '']
        .filter(Boolean).join(' · ');
    }
    function diffText(key, v) {
      if (key === 'lr') return `lr ${F.num(v, 6)}`;
      if (key === 'batch_size') return batchText(v);
      if (key === 'model' || key === 'data' || key === 'optimizer') return String(v);
      if (key === 'epochs') return tf('epochs_n', { n: v });
      return `${key} ${typeof v === 'object' ? JSON.stringify(v) : v}`;
    }
    // runId -> the spec fields in which it differs from the other shown runs ("lr 0.1, batch 1")
    function runLabels(runIds) {
      const specs = runIds.map((r) => (state.data[r] && state.data[r].info && state.data[r].info.spec) || {});
      const keys = DIFF_KEYS.filter((k) => new Set(specs.map((s) => JSON.stringify(s[k]))).size > 1);
      const out = {};
      runIds.forEach((r, i) => {
        const text = keys.map((k) => diffText(k, specs[i][k])).join(', ');
        out[r] = text && text.length <= 48 ? text : r;
      });
      if (new Set(Object.values(out)).size < runIds.length) runIds.forEach((r) => { out[r] = r; });
      return out;
    }

    function renderRunList() {
      const ul = $('#runs'); ul.textContent = '';
      $('#no-runs').hidden = state.runs.length > 0;
      const shown = [state.selected, ...state.overlays];
      const labels = state.overlays.length ? runLabels(shown.filter((r) => state.data[r] && state.data[r].info)) : {};
      for (const r of state.runs) {
        const li = document.createElement('li');
        li.dataset.run = r.id; li.classList.toggle('selected', r.id === state.selected);
        const box = document.createElement('input'); box.type = 'checkbox'; box.title = t('compare');
        box.checked = state.overlays.includes(r.id); box.disabled = r.id === state.selected;
        box.addEventListener('click', (ev) => { ev.stopPropagation(); toggleOverlay(r.id, box.checked); });
        const name = F.el('span', 'rid', displayName(r)); name.title = `${r.id} · ${t(r.kind)}`;
        const st = F.el('span', 'status', t(r.status)); st.dataset.status = r.status;
        if (ENDED_BADLY.includes(r.status) && r.message) st.title = msg(r.message);
        const step = F.el('span', 'step', r.kind === 'train' ? F.int(r.step) : '');
        const line2 = F.el('span', 'sub', labels[r.id] && labels[r.id] !== r.id ? labels[r.id] : summary(r));
        line2.classList.toggle('diff', !!labels[r.id] && labels[r.id] !== r.id);
        li.append(box, name, st, step, line2);
        li.addEventListener('click', () => select(r.id));
        ul.append(li);
      }
    }
    // -- header, events, artifacts, predict ---------------------------------------------------
    function renderHead() {
      const d = state.data[state.selected];
      $('#run-head').hidden = !d || !d.info;
      if (!d || !d.info) return;
      const i = d.info;
      $('#run-title').textContent = displayName(i);
      $('#run-id').textContent = displayName(i) === i.id ? '' : i.id;
      const st = $('#run-status'); st.dataset.status = i.status; st.textContent = t(i.status);
      $('#run-progress').textContent = i.kind === 'train'
        ? (i.total_steps ? tf('progress', { n: F.int(i.step), total: F.int(i.total_steps) }) : tf('step_n', { n: F.int(i.step) })) : t(i.kind);
      const rows = i.train_rows !== null && i.train_rows !== undefined
        ? [tf('train_rows', { n: i.train_rows }), i.dev_rows ? tf('dev_rows', { n: i.dev_rows }) : ''] : [];
      const processes = i.world_size > 1 ? tf('processes', { n: i.world_size }) : '';
      const sps = i.samples_per_s;   // averaged since the last start or resume (runinfo.py)
      const speed = sps ? tf('samples_per_s', { n: sps >= 100 ? F.int(Math.round(sps)) : F.num(sps, 3) }) : '';
      $('#run-meta').textContent = [i.model, i.data, ...rows, processes, speed].filter(Boolean).join(' · ');
      renderReason(d);
      $('#spec-text').textContent = Object.entries(i.spec || {}).map(([k, v]) => `${k} = ${JSON.stringify(v)}`).join('\n')
        + (i.dev_indices ? `\n${t('dev_indices')} = ${JSON.stringify(i.dev_indices)}` : '');
      $('#spec').hidden = !i.spec || !Object.keys(i.spec).length;
      $('#csv').href = `api/runs/${encodeURIComponent(i.id)}/csv`;
      $('#csv').hidden = !(i.metrics && i.metrics.length);
      renderEvents();
    }
    // A run that ended badly says why (its final message, else its last stop or divergence
    // event) and, when it diverged, what to try; any other run shows its message as it is.
    function renderReason(d) {
      const i = d.info; const bad = ENDED_BADLY.includes(i.status);
      const last = [...(d.events || [])].reverse().find((e) => (e.kind === 'stop' || e.kind === 'divergence') && e.message);
      const why = msg(i.message || (bad && last ? last.message : ''));
      const el = $('#run-message');
      el.classList.toggle('ended-badly', bad);
      el.textContent = bad && why ? tf('reason', { why }) : why;
      $('#run-advice').hidden = i.status !== 'diverged';
      $('#run-advice').textContent = i.status === 'diverged' ? t('diverged_hint') : '';
    }
    function renderEvents() {
      const d = state.data[state.selected];
      const list = $('#events-list'); list.textContent = '';
      const evs = ((d && d.events) || []).filter((e) => e.message);
      $('#events').hidden = !evs.length;
      $('#events-count').textContent = `(${evs.length})`;
      for (const e of evs.slice(-200)) {
        const li = F.el('li', `event-${e.kind}`);
        li.append(F.el('span', 'ev-step', tf('step_n', { n: F.int(e.step) })), F.el('span', 'ev-kind', t(e.kind)), F.el('span', 'ev-msg', msg(e.message)));
        list.append(li);
      }
    }
    function showMessage(text) { $('#run-head').hidden = false; $('#run-message').textContent = text; }
    // A run that is training may write its first artifact (the live loss landscape) at any
    // time: look again while it runs (every two seconds, and when its status changes).
    let checking = false;
    let checked = 0;
    async function checkArtifacts(force) {
      const d = state.data[state.selected];
      // while it trains, and for two minutes after (a plane landscape comes after the end)
      const recent = d && d.info && (d.info.status === 'running' || Date.now() / 1000 - (d.info.updated || 0) < 120);
      if (checking || !recent || (!force && performance.now() - checked < 1500)) return;
      checking = true; checked = performance.now();
      try {
        const names = await api(`api/runs/${encodeURIComponent(d.info.id)}/artifacts`);
        if (state.data[state.selected] === d && JSON.stringify(names) !== JSON.stringify(d.info.artifacts || [])) {
          d.info.artifacts = names; renderArtifacts();
        }
      } catch (e) { /* the next check tries again */ } finally { checking = false; }
    }
    async function renderArtifacts() {
      const d = state.data[state.selected];
      const box = $('#artifact-views'); box.textContent = '';
      const names = (d && d.info && d.info.artifacts) || [];
      $('#artifacts').hidden = !names.length;
      const views = window.learnsysViews || {};
      for (const name of names) {
        const el = F.el('div', 'artifact'); el.dataset.artifact = name; box.append(el);
        try {
          const data = await api(`api/runs/${encodeURIComponent(d.info.id)}/artifacts/${encodeURIComponent(name)}`);
          const runId = d.info.id;
          const ctx = { echarts, lang: state.lang, runId, api, follow: (names, fn) => follow(runId, names, fn), series: (n) => d.series[n] };
          if (typeof views[name] === 'function') views[name](el, data, ctx);
          else { el.textContent = `${name}: ${t('no_view')}`; el.classList.add('hint'); }
        } catch (e) { el.textContent = `${name}: ${e.message}`; el.classList.add('error'); }
      }
    }
    function renderPredict() {
      const d = state.data[state.selected];
      $('#predict').hidden = !d || !d.info || d.info.kind !== 'train';
      $('#predict-out').textContent = '';
    }
    async function predict(ev) {
      ev.preventDefault();
      const out = $('#predict-out'); out.textContent = '';
      const rows = $('#predict-input').value.split(/[;\n]/).map((r) => r.trim()).filter(Boolean)
        .map((r) => r.split(/[,\s]+/).filter(Boolean).map(Number));
      try {
        const r = await api(`api/runs/${encodeURIComponent(state.selected)}/predict`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ rows }) });
        const head = out.insertRow();
        for (const k of ['input', 'output']) head.append(F.el('th', null, t(k)));
        rows.forEach((x, i) => {
          const tr = out.insertRow();
          tr.insertCell().textContent = x.map((v) => F.num(v, 6)).join(', ');
          const y = r.predictions[i];
          tr.insertCell().textContent = Array.isArray(y) ? y.map((v) => F.num(Number(v), 6)).join(', ') : String(y);
        });
        debug.lastPrediction = r.predictions;
      } catch (e) {
        const tr = out.insertRow(); const td = tr.insertCell(); td.className = 'error'; td.textContent = e.message;
      }
    }

    return { renderRunList, renderHead, renderEvents, checkArtifacts, renderArtifacts, renderPredict, predict, showMessage, runLabels };
  }
  return { create };
})();
