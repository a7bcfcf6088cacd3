// Under test: the self-contained HTML score report as a person sees it — rendered by headless Chromium
// (Debian's `chromium`), showing the run's numbers, the trend across stored runs and the confusion matrix.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startLocalRuntime } from '../../src/local/runtime.ts';
import { scoreBenchmark } from '../../src/cli/score.ts';
import { loadBenchmark } from '../../src/scoring/benchmark.ts';
import type { ScoreReport } from '../../src/scoring/report.ts';

const chromium = ['chromium', 'chromium-browser'].find((c) => spawnSync(c, ['--version'], { encoding: 'utf8' }).status === 0);
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--no-first-run', '--hide-scrollbars'];

describe.skipIf(!chromium && !process.env.CI)('the HTML score report in headless Chromium', () => {
  it('shows the totals, per-field accuracy, the trend across runs and the confusion matrix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-html-'));
    const html = join(dir, 'report.html');
    const benchmark = loadBenchmark('claims-v1');
    const rt = await startLocalRuntime({ pollers: false, logLevel: 'SILENT' });
    let report: ScoreReport;
    try {
      const sink = { chunks: [] as string[], write(s: string) { this.chunks.push(s); return true; } };
      await scoreBenchmark(rt, benchmark, { sequential: false, json: true, progress: false }, sink as unknown as NodeJS.WritableStream);
      sink.chunks.length = 0;
      expect(await scoreBenchmark(rt, benchmark, { sequential: false, json: true, progress: false, html }, sink as unknown as NodeJS.WritableStream)).toBe(0);
      report = JSON.parse(sink.chunks.join('')) as ScoreReport;
    } finally {
      await rt.stop();
    }
    // Self-contained: nothing is fetched.
    expect(readFileSync(html, 'utf8')).not.toMatch(/<script|<link|src=|url\(/i);

    const run = (args: string[]) => spawnSync(chromium!, [...FLAGS, ...args], { encoding: 'utf8', timeout: 60_000 });
    const dom = run(['--dump-dom', `file://${html}`]).stdout;
    const text = (id: string) => new RegExp(`id="${id}">([^<]*)<`).exec(dom)?.[1];
    expect(text('items')).toBe(String(report.totals.items));
    expect(text('scored')).toBe(String(report.totals.scored));
    expect(text('failed')).toBe(String(report.totals.failed));
    for (const [f, a] of Object.entries(report.fields)) {
      expect(new RegExp(`data-field="${f}">([^<]*)<`).exec(dom)?.[1]).toBe(`${(a.accuracy! * 100).toFixed(1)}%`);
    }
    for (const e of report.confusion.labels) {
      for (const p of report.confusion.labels) {
        expect(new RegExp(`data-expected="${e}" data-predicted="${p}">(\\d+)<`).exec(dom)?.[1]).toBe(String(report.confusion.counts[e]?.[p] ?? 0));
      }
    }
    // Two stored runs: the trend is drawn, one line per field.
    expect(dom.match(/<polyline/g)).toHaveLength(3);
    expect(dom).toContain('2 runs, oldest left');
    expect(dom).toContain(`Against run <code>`);

    const png = join(dir, 'report.png');
    const shot = run(['--window-size=1200,1600', `--screenshot=${png}`, `file://${html}`]);
    expect(shot.status, shot.stderr).toBe(0);
    // A rendered page with charts and tables, not a blank one (a blank 1200×1600 PNG is a few KB).
    expect(statSync(png).size).toBeGreaterThan(50_000);
  }, 120_000);
});
