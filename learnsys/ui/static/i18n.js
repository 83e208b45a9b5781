// The dashboard's labels in Chinese and English (app.js; lectures.js keeps its own).
// Add a key to both languages; app.js falls back to English, then to the key itself.
'use strict';
window.learnsysI18n = {
  en: {
    subtitle: 'data set → model → training → inference', language: 'Language', runs: 'Runs',
    compare_hint: 'Click a run to show it; tick others to overlay them.', no_runs: 'No runs yet. Start one with `learnsys train`.',
    download_csv: 'Download CSV (full resolution)', smoothing: 'Smoothing', smoothing_hint: 'exponentially weighted mean (lecture 3): c′ᵢ = β·cᵢ + (1−β)·c′ᵢ₋₁',
    chart_loss: 'Training loss', chart_dev: 'Dev loss', chart_acc: 'Dev accuracy', chart_lr: 'Learning rate',
    chart_param: 'Parameters', chart_other: 'Other metrics', artifacts: 'Views', predict: 'Predict',
    predict_button: 'Predict', predict_hint: 'rows separated by “;”, values in a row by “,”', step: 'step',
    raw: 'raw', smoothed: 'smoothed', live: 'live', reconnecting: 'reconnecting…', idle: 'not live',
    created: 'created', running: 'running', stopped: 'stopped', finished: 'finished', failed: 'failed', interrupted: 'interrupted',
    checkpoint: 'checkpoint', resume: 'resume', divergence: 'divergence', input: 'input', output: 'prediction',
    train: 'train', search: 'search', landscape: 'landscape', no_view: 'no view for this artifact', of: 'of',
    epoch_mean: 'epoch mean', spec: 'Run spec', log_scale: 'log scale (loss)',
  },
  zh: {
    subtitle: '数据集 → 模型 → 训练 → 推理', language: '语言', runs: '训练记录',
    compare_hint: '点击一条记录查看；勾选其他记录可叠加比较。', no_runs: '还没有训练记录。用 `learnsys train` 开始一次训练。',
    download_csv: '下载 CSV（全部数据点）', smoothing: '平滑', smoothing_hint: '指数加权均值（第 3 讲）：c′ᵢ = β·cᵢ + (1−β)·c′ᵢ₋₁',
    chart_loss: '训练损失', chart_dev: '验证集损失', chart_acc: '验证集准确率', chart_lr: '学习率',
    chart_param: '参数', chart_other: '其他指标', artifacts: '可视化', predict: '预测',
    predict_button: '预测', predict_hint: '各行用“;”分隔，一行中的数值用“,”分隔', step: '步数',
    raw: '原始', smoothed: '平滑', live: '实时', reconnecting: '正在重连…', idle: '未连接',
    created: '已创建', running: '训练中', stopped: '已停止', finished: '已完成', failed: '失败', interrupted: '已中断',
    checkpoint: '检查点', resume: '断点重开', divergence: '发散', input: '输入', output: '预测值',
    train: '训练', search: '搜索', landscape: '损失曲面', no_view: '此结果没有可用的视图', of: '/',
    epoch_mean: '每轮平均', spec: '运行配置', log_scale: '对数坐标（损失）',
  },
};
