/**
 * An improvement run as one self-contained HTML file (inline CSS and SVG, no scripts): the score per loop on
 * train and validation with start and final test, the failure categories of each loop, every edit tried with
 * its gain and why it was kept or rejected, and the profile's diff from the start to the improved version.
 */
import { createTwoFilesPatch } from 'diff';
import { esc } from '../scoring/html-report.ts';
import type { ImproveReport } from './loop.ts';
import type { ProfileData } from './edits.ts';

const pct = (v: number | undefined) => `${((v ?? 0) * 100).toFixed(1)}%`;

function chart(r: ImproveReport): string {
  const f = r.field;
  const points = [...r.loops.map((l) => ({ train: l.train[f] ?? 0, validation: l.validation[f] ?? 0 })), { train: r.final.train[f] ?? 0, validation: r.final.validation[f] ?? 0 }];
  const w = 560;
  const h = 200;
  const pad = 34;
  const x = (i: number) => pad + (points.length > 1 ? (i * (w - 2 * pad)) / (points.length - 1) : 0);
  const y = (v: number) => h - pad - v * (h - 2 * pad);
  const line = (k: 'train' | 'validation', cls: string) => `<polyline class="${cls}" fill="none" points="${points.map((p, i) => `${x(i).toFixed(1)},${y(p[k]).toFixed(1)}`).join(' ')}"/>`;
  const dots = (k: 'train' | 'validation', cls: string) => points.map((p, i) => `<circle class="${cls}" cx="${x(i).toFixed(1)}" cy="${y(p[k]).toFixed(1)}" r="3" data-${k}="${i}"><title>${k} ${pct(p[k])}</title></circle>`).join('');
  return `<svg role="img" aria-label="${esc(f)} accuracy per loop" width="${w}" height="${h + 24}" viewBox="0 0 ${w} ${h + 24}">
<line x1="${pad}" y1="${y(0)}" x2="${w - pad}" y2="${y(0)}" class="axis"/><line x1="${pad}" y1="${y(1)}" x2="${w - pad}" y2="${y(1)}" class="grid"/>
<text x="2" y="${y(1) + 4}" class="tick">100%</text><text x="2" y="${y(0) + 4}" class="tick">0%</text>
${line('train', 'l0')}${line('validation', 'l1')}${dots('train', 'd0')}${dots('validation', 'd1')}
<text x="${pad}" y="${h + 16}" class="tick"><tspan class="t0">■ train</tspan> <tspan class="t1" dx="12">■ validation</tspan> · loops left to right, the last point the final version</text></svg>`;
}

export function renderImproveHtml(r: ImproveReport, start: ProfileData): string {
  const f = r.field;
  const diff = [
    createTwoFilesPatch('profile.json', 'profile.json', `${JSON.stringify(start.profile, null, 2)}\n`, `${JSON.stringify(r.data.profile, null, 2)}\n`, r.versions.start, r.versions.final),
    createTwoFilesPatch('rules.json', 'rules.json', `${JSON.stringify(start.rules, null, 2)}\n`, `${JSON.stringify(r.data.rules, null, 2)}\n`, r.versions.start, r.versions.final),
    createTwoFilesPatch('prompt', 'prompt', start.prompt, r.data.prompt, r.versions.start, r.versions.final),
  ]
    .filter((p) => p.split('\n').some((l) => /^[+-][^+-]/.test(l)))
    .join('\n');
  const loops = r.loops
    .map(
      (l) => `<h3>Loop ${l.loop}: train ${pct(l.train[f])}, validation ${pct(l.validation[f])}</h3>
<p class="muted">Failure categories: ${l.categories.map((c) => `${esc(c.key)} (${c.count})`).join(' · ') || 'none'}</p>
<table><tr><th>category</th><th>edit</th><th>status</th><th>gain</th><th>why</th></tr>${l.tried
        .map((t) => `<tr class="${t.status}"><td>${esc(t.category)}</td><td>${esc(t.description)}</td><td>${t.status}</td><td>${t.gain === undefined ? '' : pct(t.gain)}</td><td>${esc(t.reason)}</td></tr>`)
        .join('')}</table>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sluice improve · ${esc(r.benchmark)}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#1d2330}
h1{font-size:1.5rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #e3e6ec} h3{font-size:1rem}
.muted{color:#6b7385} table{border-collapse:collapse;width:100%;font-size:13px} th,td{border:1px solid #e3e6ec;padding:.3rem .5rem;text-align:left}
tr.kept td{background:#e8f5ee} tr.invalid td{color:#a15c00} pre{background:#f6f7f9;padding:.8rem;overflow:auto;font-size:12px}
.axis{stroke:#8a93a6}.grid{stroke:#e3e6ec;stroke-dasharray:3 3}.l0{stroke:#2f6fdb;stroke-width:2.5}.l1{stroke:#d9822b;stroke-width:2.5}.d0,.t0{fill:#2f6fdb}.d1,.t1{fill:#d9822b}.tick{font:12px sans-serif}
</style></head><body>
<h1>${esc(r.benchmark)}: improving ${esc(r.profile)}</h1>
<p>${esc(f)} on test (scored once, at the end): <b id="test-start">${pct(r.start.test[f])}</b> → <b id="test-final">${pct(r.final.test[f])}</b>, gain ${pct(r.testGain.gain)} (95% interval ${pct(r.testGain.low)} to ${pct(r.testGain.high)}).
Splits train ${r.splits.train.length} / validation ${r.splits.validation.length} / test ${r.splits.test.length} (seed ${r.seed}). Version ${esc(r.versions.start)} → ${esc(r.versions.final)}; stopped: ${esc(r.stopped)}.</p>
<h2>${esc(f)} per loop</h2>${chart(r)}
<h2>Edits kept</h2>${r.edits.length ? `<ul>${r.loops.flatMap((l) => l.tried.filter((t) => t.status === 'kept').map((t) => `<li class="kept-edit">${esc(t.description)} — ${esc(t.reason)}</li>`)).join('')}</ul>` : '<p class="muted">None: the profile stays as it is.</p>'}
<h2>Loops</h2>${loops}
<h2>Profile diff</h2>${diff ? `<pre>${esc(diff)}</pre>` : '<p class="muted">No change.</p>'}
</body></html>
`;
}
