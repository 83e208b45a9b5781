// Run messages and event texts, which the training side writes into the store in English
// ("reached step 100", "Divergence at step 5: loss is nan."), shown in Chinese.
//
//   learnsysMessages.translate(text, lang, label)  -> the text in `lang` ('en': unchanged)
//
// FORMS lists every message form the Python side writes: '{name}' marks a value. A value is
// itself translated when it is a known form (a reason inside "Run stopped: {reason}."), a
// {status} is a status label (label(status)), a {point} is a Python dict made readable
// ("{'w': 2.0}" -> "w = 2"). Matching ignores case and a final period. A text that matches
// no form is shown as written. A third column is how English shows a form that needs it. tests/test_ui_messages.py reads the Python sources and fails
// when a message form written there has no entry here.
'use strict';
window.learnsysMessages = (function () {
  const FORMS = [
    ['Run created: {model} on {data}.', '已创建训练：模型 {model}，数据 {data}。'],
    ['Checkpoint at step {n}.', '第 {n} 步：已保存检查点。'],
    ['Run {status}: {reason}.', '训练{status}：{reason}。'],
    ['reached step {n}', '已训练到第 {n} 步'],
    ['interrupted by {signal}', '被 {signal} 信号中断'],
    ['interrupted twice; resume continues from the last checkpoint', '连续中断两次；断点重开将从最近的检查点继续'],
    ['Resumed from {where}; dropped {n} metric row(s) logged after it.', '从{where}断点重开；丢弃了其后记录的 {n} 行指标。'],
    ['the checkpoint at step {n}', '第 {n} 步的检查点'],
    ['the start (no checkpoint yet)', '开头（当时还没有检查点）'],
    ['Divergence at step {n}: {why}.', '第 {n} 步发散：{why}。'],
    ['Divergence at step {n}: {why}; rolled back to the last checkpoint\'s weights, lr now {lr}.',
      '第 {n} 步发散：{why}；已回退到最近检查点的权重，学习率降为 {lr}。'],
    ['diverged at step {n} ({why}) after {k} rollbacks', '第 {n} 步发散（{why}），已回退 {k} 次'],
    ['loss is {value}', '损失为 {value}'],
    ['loss {value} exceeds {factor}x the first loss ({first})', '损失 {value} 超过第一步损失（{first}）的 {factor} 倍'],
    ['diverged at step {n} ({why}) after {k} rollbacks down to lr {lr}', '第 {n} 步发散（{why}），已回退 {k} 次，学习率降到 {lr}'],
    ['ended at step {n} with a non-finite loss or weights (lr {lr})', '到第 {n} 步结束时损失或权重不是有限数（学习率 {lr}）'],
    ['early stop: {metric} did not improve by more than {delta} in {n} value(s); best {best} at step {step}',
      '提前停止：{metric} 连续 {n} 个值的改进都不超过 {delta}；最佳值 {best}，在第 {step} 步'],
    ['suggested lr {lr} ({rule}); {stopped}', '建议学习率 {lr}（{rule}）；{stopped}'],
    ['reached lr_max after {n} steps', '{n} 步后到达 lr_max'],
    ['the loss became {value} at lr {lr}', '学习率 {lr} 时损失变为 {value}'],
    ['the smoothed loss passed {factor}x its minimum at lr {lr}', '学习率 {lr} 时平滑损失超过其最小值的 {factor} 倍'],
    ['its row in the store is damaged: `learnsys doctor` rebuilds it', '这条训练记录在存储中已损坏：`learnsys doctor` 可以重建它'],
    ['rows were not written: {lost}', '有些行没有写入：{lost}'],
    ['steepest descent', '最陡下降'], // the LR finder's rules (train/lr_find.py)
    ['minimum / 10', '最小值 / 10'],
    ['is missing', '缺失'],
    ['is unreadable', '无法读取'],
    ['best {point}, loss {loss}', '最优点 {point}，损失 {loss}', 'best {point}, loss {loss}'],
    ['best {point} loss {loss}', '最优点 {point}，损失 {loss}', 'best {point}, loss {loss}'], // older runs: a Python dict
    ['{error}: {detail}', '{error}: {detail}'], // an exception's own text: kept as written
  ];
  const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const COMPILED = FORMS.map(([en, zh, enShown]) => {
    const names = [];
    const body = en.replace(/\.$/, '');
    const re = body.split(/(\{\w+\})/).map((part) => {
      const m = /^\{(\w+)\}$/.exec(part);
      if (!m) return escape(part);
      names.push(m[1]);
      return '(.+?)';
    }).join('');
    return { re: new RegExp(`^${re}\\.?$`, 'i'), names, zh, en: enShown, literal: body.replace(/\{\w+\}/g, '').length };
  }).sort((a, b) => b.literal - a.literal); // the most specific form first

  // "{'w': 2.0, 'b': -0.5}" -> "w = 2, b = -0.5"
  function pyDict(text) {
    const pairs = [...text.matchAll(/'([^']*)':\s*([^,}]+)/g)];
    if (!pairs.length) return text;
    const fmt = window.learnsysFormat ? window.learnsysFormat.num : String;
    return pairs.map(([, k, v]) => `${k} = ${Number.isFinite(Number(v)) ? fmt(Number(v), 6) : v.trim()}`).join(', ');
  }
  function translate(text, lang, label) {
    if (text === null || text === undefined) return '';
    return tr(String(text).trim(), lang === 'zh' ? 'zh' : 'en', label || ((k) => k), 0);
  }
  function tr(text, lang, label, depth) {
    if (depth > 4) return text;
    for (const f of COMPILED) {
      if (lang === 'en' && !f.en) continue;
      const m = f.re.exec(text);
      if (!m) continue;
      let out = f[lang];
      f.names.forEach((name, i) => {
        const v = m[i + 1];
        const shown = name === 'point' ? pyDict(v) : lang === 'en' ? v
          : name === 'status' ? label(v.toLowerCase()) : tr(v, lang, label, depth + 1);
        out = out.replace(`{${name}}`, shown);
      });
      return out;
    }
    return text;
  }
  return { translate, FORMS };
})();
