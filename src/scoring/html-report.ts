/**
 * A score run as one self-contained HTML file (inline CSS and SVG, no scripts, nothing fetched): the
 * headline numbers, per-field accuracy bars, the trend across the benchmark's stored runs, the
 * decision's confusion matrix, flips since the previous run, and tables of failures and mistakes
 * with expected vs predicted and the judge's reason.
 */
import type { ScoreReport } from './report.ts';

/** Text made safe for HTML. */
export const esc = (v: unknown) =>
  String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const pct = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : `${(v * 100).toFixed(1)}%`);
const ms = (v: number | null) => (v === null ? '—' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);
const show = (v: unknown) => (Array.isArray(v) ? v.join('; ') : v === null ? '(none)' : String(v));

export interface TrendPoint {
  runId: string;
  startedAt: string;
  accuracy: Record<string, number | null | undefined>;
}

function accuracyBars(r: ScoreReport): string {
  const w = 520;
  const rowH = 34;
  const fields = Object.entries(r.fields);
  const rows = fields.map(([f, a], i) => {
    const width = Math.round((a.accuracy ?? 0) * (w - 200));
    const y = i * rowH;
    return `<g transform="translate(0,${y})"><text x="0" y="20" class="lbl">${esc(f)}</text>
<rect x="110" y="6" width="${w - 200}" height="20" class="track"/><rect x="110" y="6" width="${width}" height="20" class="bar"/>
<text x="${w - 80}" y="21" class="val" data-field="${esc(f)}">${pct(a.accuracy)}</text></g>`;
  }).join('');
  return `<svg role="img" aria-label="per-field accuracy" width="${w}" height="${fields.length * rowH}" viewBox="0 0 ${w} ${fields.length * rowH}">${rows}</svg>`;
}

/** Line colours of the trend chart (.l0… and .t0… in the style), reused in turn past that many fields. */
const COLOURS = 5;

function trendChart(fields: string[], points: TrendPoint[]): string {
  if (points.length < 2) return `<p class="muted">${points.length} stored run${points.length === 1 ? '' : 's'}: the trend appears from the second run on.</p>`;
  const w = 560;
  const h = 180;
  const pad = 30;
  const x = (i: number) => pad + (i * (w - 2 * pad)) / (points.length - 1);
  const y = (v: number) => h - pad - v * (h - 2 * pad);
  const lines = fields.map((f, k) => {
    const pts = points.map((p, i) => (typeof p.accuracy[f] === 'number' ? `${x(i).toFixed(1)},${y(p.accuracy[f]!).toFixed(1)}` : '')).filter(Boolean);
    return `<polyline class="line l${k % COLOURS}" points="${pts.join(' ')}" fill="none"/>`;
  }).join('');
  const axis = `<line x1="${pad}" y1="${y(0)}" x2="${w - pad}" y2="${y(0)}" class="axis"/><line x1="${pad}" y1="${y(1)}" x2="${w - pad}" y2="${y(1)}" class="grid"/>
<text x="2" y="${y(1) + 4}" class="tick">100%</text><text x="2" y="${y(0) + 4}" class="tick">0%</text>`;
  const legend = fields.map((f, k) => `<tspan class="t${k % COLOURS}" dx="${k ? 14 : 0}">■ ${esc(f)}</tspan>`).join('');
  return `<svg role="img" aria-label="accuracy across runs" width="${w}" height="${h + 20}" viewBox="0 0 ${w} ${h + 20}">${axis}${lines}<text x="${pad}" y="${h + 14}" class="tick">${legend} · ${points.length} runs, oldest left</text></svg>`;
}

function confusion(r: ScoreReport): string {
  const { labels, counts } = r.confusion;
  const max = Math.max(1, ...labels.flatMap((e) => labels.map((p) => counts[e]?.[p] ?? 0)));
  const head = `<tr><th>expected ↓ / predicted →</th>${labels.map((l) => `<th>${esc(l)}</th>`).join('')}</tr>`;
  const body = labels
    .map((e) => `<tr><th>${esc(e)}</th>${labels.map((p) => {
      const n = counts[e]?.[p] ?? 0;
      return `<td class="${e === p ? 'diag' : 'off'}" style="--a:${(n / max).toFixed(2)}" data-expected="${esc(e)}" data-predicted="${esc(p)}">${n}</td>`;
    }).join('')}</tr>`)
    .join('');
  return `<table class="cm">${head}${body}</table>`;
}

export function renderHtmlReport(r: ScoreReport, trend: TrendPoint[]): string {
  const t = r.totals;
  const failures = r.failures.length
    ? `<table><tr><th>item</th><th>status</th><th>error</th><th>reason</th></tr>${r.failures
        .map((f) => `<tr><td>${esc(f.id)}</td><td class="${esc(f.status)}">${esc(f.status)}</td><td>${esc(f.error)}</td><td>${esc(f.reason)}</td></tr>`)
        .join('')}</table>`
    : '<p class="muted">No item failed or was skipped.</p>';
  const mistakes = r.mistakes.length
    ? `<table><tr><th>item</th><th>tags</th><th>field</th><th>expected</th><th>predicted</th><th>judge's reason</th></tr>${r.mistakes
        .map((m) => `<tr><td>${esc(m.id)}</td><td>${esc(m.tags.join(', '))}</td><td>${esc(m.field)}</td><td>${esc(show(m.expected))}</td><td>${esc(show(m.predicted))}</td><td>${esc(m.judgeReason ?? '')}</td></tr>`)
        .join('')}</table>`
    : '<p class="muted">Every scored field was right.</p>';
  const flips = r.flips
    ? `<p>Against run <code>${esc(r.flips.previousRunId)}</code>: <b class="ok">${r.flips.fixed.length} fixed</b>${r.flips.fixed.length ? ` (${esc(r.flips.fixed.join(', '))})` : ''}, <b class="bad">${r.flips.broke.length} broke</b>${r.flips.broke.length ? ` (${esc(r.flips.broke.join(', '))})` : ''}, ${r.flips.nowFailed.length} newly failed.</p>`
    : '<p class="muted">No previous run of this benchmark to compare with.</p>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sluice score · ${esc(r.run.benchmark)} · ${esc(r.run.runId)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#1d2330}
h1{font-size:1.5rem;margin:0 0 .2rem} h2{font-size:1.1rem;margin:2rem 0 .6rem;border-bottom:1px solid #e3e6ec;padding-bottom:.3rem}
.muted{color:#6b7385} code{background:#f3f4f7;padding:0 .25rem;border-radius:3px}
.cards{display:flex;gap:.8rem;flex-wrap:wrap;margin:1rem 0}.card{border:1px solid #e3e6ec;border-radius:8px;padding:.6rem .9rem;min-width:120px}
.card b{display:block;font-size:1.6rem}.card.warn b{color:#b4261a}
.lbl,.val,.tick{font:13px system-ui,sans-serif;fill:#1d2330}.track{fill:#eef0f4}.bar{fill:#2f6fdb}
.axis{stroke:#8a93a6}.grid{stroke:#e3e6ec;stroke-dasharray:3 3}.line{stroke-width:2.5}.l0{stroke:#2f6fdb}.l1{stroke:#d9822b}.l2{stroke:#2e9e5b}.l3{stroke:#8e44ad}.l4{stroke:#b4261a}.t0{fill:#2f6fdb}.t1{fill:#d9822b}.t2{fill:#2e9e5b}.t3{fill:#8e44ad}.t4{fill:#b4261a}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border:1px solid #e3e6ec;padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#f7f8fa}
.cm{width:auto}.cm td{text-align:center;min-width:70px;font-weight:600}.cm td.diag{background:rgba(46,158,91,var(--a))}.cm td.off{background:rgba(180,38,26,var(--a))}
.failed{color:#b4261a}.skipped{color:#a15c00}.ok{color:#2e9e5b}.bad{color:#b4261a}
</style></head><body>
<h1>${esc(r.run.benchmark)} — score run <code>${esc(r.run.runId)}</code></h1>
<p class="muted">Started ${esc(r.run.startedAt)} · provider ${esc(r.run.provider)} (${esc(r.run.model)}), prompt ${esc(r.run.promptVersion)} · judge ${esc(r.run.judge)} · benchmark version ${esc(r.run.benchmarkVersion)} · predict concurrency ${r.run.concurrency.predict}</p>
<div class="cards">
<div class="card"><span>items</span><b id="items">${t.items}</b></div>
<div class="card"><span>scored</span><b id="scored">${t.scored}</b></div>
<div class="card ${t.failed ? 'warn' : ''}"><span>failed</span><b id="failed">${t.failed}</b></div>
<div class="card ${t.skipped ? 'warn' : ''}"><span>skipped</span><b id="skipped">${t.skipped}</b></div>
<div class="card"><span>weighted score</span><b id="weighted">${pct(t.weightedScore)}</b></div>
<div class="card"><span>all fields right</span><b>${t.allFieldsCorrect}/${t.scored}</b></div>
</div>
<p class="muted">Accuracy is over the ${t.scored} scored items; ${t.failed} failed and ${t.skipped} skipped are counted here, not folded in.</p>
<h2>Per-field accuracy</h2>${accuracyBars(r)}
<p class="muted">${Object.entries(r.fields).map(([f, a]) => `${esc(f)}: ${a.correct}/${a.scored} (${esc(a.method)}, weight ${a.weight})`).join(' · ')}</p>
<h2>Trend across stored runs</h2>${trendChart(Object.keys(r.fields), trend)}
<h2>Decision <code>${esc(r.confusion.decision)}</code>: confusion matrix</h2>${confusion(r)}
<h2>Since the previous run</h2>${flips}
<h2>Phases</h2><p>predict ${ms(r.phases.predictMs)} · compare ${ms(r.phases.compareMs)} · judge ${ms(r.phases.judgeMs)} · whole run ${ms(r.phases.totalMs)}</p>
<p class="muted">Judge: ${r.judge.needed} items needed it; ${r.judge.batchVerdicts} graded in ${r.judge.batchCalls} batch calls, ${r.judge.singleVerdicts} singly after a failed batch, ${r.judge.fallbacks} kept the deterministic overlap.</p>
<h2>Failed and skipped items</h2>${failures}
<h2>Mistakes: expected vs predicted</h2>${mistakes}
</body></html>
`;
}
