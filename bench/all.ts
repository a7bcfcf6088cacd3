/**
 * `npm run bench`: the four benchmarks of `npm run bench` in turn (pipeline, LLM, scoring, deal documents), each with its defaults.
 * Options belong to one benchmark each, so they are refused here with the command that takes them.
 */
import { execFileSync } from 'node:child_process';

if (process.argv.length > 2) {
  process.stderr.write(
    `npm run bench takes no options (each benchmark has its own): npm run bench:pipeline -- --notes N --rounds R | npm run bench:llm -- --claims N --latency MS --cap C | npm run bench:score -- --items N --latency MS | npm run bench:deals -- --opportunities N --documents D --latency MS --cap C\n`,
  );
  process.exit(2);
}
for (const name of ['pipeline', 'llm', 'score', 'deals']) {
  process.stderr.write(`npm run bench: ${name}\n`);
  execFileSync(process.execPath, [`bench/${name}.bench.ts`], { stdio: 'inherit' });
}
