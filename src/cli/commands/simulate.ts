/** `sluice simulate`: an OpenAI-compatible simulator on loopback, with latency and faults. */
import { Command, Option } from 'commander';
import { EXIT, aSample, act, numberIn, wholeNumber } from '../shared.ts';

interface SimulateFlags {
  port: number;
  latency: number;
  rate429: number;
  rate5xx: number;
  rateTimeout: number;
  rateMalformed: number;
  ratePersistent: number;
  rateJudgeOmit: number;
  seed: number;
  json?: boolean;
}

export function simulateCommand(): Command {
  const rate = (flag: string, what: string) => new Option(`${flag} <r>`, `${what} (0 to 1)`).default(0).argParser(numberIn(0, 1));
  return new Command('simulate')
    .description('an OpenAI-compatible simulator on 127.0.0.1 (Chat Completions), with latency and faults, until Ctrl-C')
    .addOption(new Option('--port <n>', 'its port (0: any free port)').default(8089).argParser(wholeNumber(0, 65535)))
    .addOption(new Option('--latency <ms>', 'milliseconds per call').default(300).argParser(numberIn(0)))
    .addOption(rate('--rate-429', 'share of calls answered 429 with Retry-After'))
    .addOption(rate('--rate-5xx', 'share of calls answered 500/503'))
    .addOption(rate('--rate-timeout', 'share of calls never answered'))
    .addOption(rate('--rate-malformed', 'share of calls answered with JSON that fails the schema'))
    .addOption(rate('--rate-persistent', 'share of requests answered 500 however often retried'))
    .addOption(rate('--rate-judge-omit', 'share of multi-item judge requests whose answer leaves out one id'))
    .addOption(new Option('--seed <n>', 'the faults’ random seed').default(1).argParser(wholeNumber(0)))
    .option('--json', 'its URL and environment as one JSON object on stdout')
    .action(act(simulate));
}

async function simulate(flags: SimulateFlags): Promise<number> {
  const { startSimulator } = await import('../../llm/simulator.ts');
  const sim = await startSimulator({
    port: flags.port,
    latencyMs: flags.latency,
    seed: flags.seed,
    faults: {
      rateLimit: flags.rate429,
      serverError: flags.rate5xx,
      timeout: flags.rateTimeout,
      malformed: flags.rateMalformed,
      persistent: flags.ratePersistent,
      judgeOmit: flags.rateJudgeOmit,
    },
  });
  // Listening before the first line is out: a client that signals as soon as it reads it is heard.
  const stopped = new Promise<void>((resolveStop) => {
    process.once('SIGINT', () => resolveStop());
    process.once('SIGTERM', () => resolveStop());
  });
  const line = { url: sim.url, env: { OPENAI_API_KEY: 'sk-simulated', OPENAI_BASE_URL: sim.url } };
  if (flags.json) process.stdout.write(`${JSON.stringify(line)}\n`);
  else process.stdout.write(`sluice simulate: OpenAI-compatible simulator on ${sim.url} (Ctrl-C to stop)\n  OPENAI_API_KEY=sk-simulated OPENAI_BASE_URL=${sim.url} npx sluice run ${aSample()}\n`);
  await stopped;
  const s = sim.stats;
  process.stderr.write(`sluice simulate: ${s.calls} calls, max in flight ${s.maxInFlight}, retries ${s.retries} (${s.earlyRetries} before Retry-After), outcomes ${JSON.stringify(s.outcomes)}\n`);
  await sim.stop();
  return EXIT.ok;
}
