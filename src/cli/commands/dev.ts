/** `sluice dev`: keep the local stack up for other clients (`aws`, an SDK, other sluice commands). */
import { mkdirSync } from 'node:fs';
import { basename } from 'node:path';
import { Command, Option } from 'commander';
import { listProfiles, profileSchedules } from '../../profiles/profile.ts';
import { topology } from '../../topology/topology.ts';
import { removeDevInfo, stateDir, writeDevInfo } from '../local-stack.ts';
import { recognizeProfile } from '../recognize.ts';
import { EXIT, aSample, type StackFlags, act, llmFor, numberIn, offlineOption, stackOptions, wholeNumber } from '../shared.ts';

interface DevFlags extends StackFlags {
  json?: boolean;
  port: number;
  sqsPort: number;
  dynamodbPort: number;
  speed: number;
}

export function devCommand(): Command {
  const port = wholeNumber(0, 65535);
  const cmd = new Command('dev')
    .description('keep the local stack up (S3, SQS, DynamoDB on 127.0.0.1, the handlers, the schedules) until Ctrl-C')
    .addOption(new Option('--port <n>', 'the S3 port (0: any free port)').default(4566).argParser(port))
    .addOption(new Option('--sqs-port <n>', 'the SQS port').default(4568).argParser(port))
    .addOption(new Option('--dynamodb-port <n>', 'the DynamoDB port').default(4567).argParser(port))
    .addOption(new Option('--speed <n>', 'fire the schedules n× faster (3600: hourly → every second)').default(1).argParser(numberIn(1)))
    .option('--json', 'the endpoints and names as one JSON object on stdout');
  return offlineOption(stackOptions(cmd)).action(act(dev));
}

/** How the running dev's provider is described to commands that attach to it. */
function providerName(llm: ReturnType<typeof llmFor>): string {
  return llm ? `openai (${llm.model} at ${llm.baseURL ?? 'api.openai.com'})` : 'offline';
}

async function dev(flags: DevFlags): Promise<number> {
  const state = stateDir(flags.state);
  mkdirSync(state, { recursive: true });
  const llm = llmFor(flags);
  const { handlerLayout, startLocalRuntime } = await import('../../local/runtime.ts');
  const { logFile } = await import('../logs.ts');
  const rt = await startLocalRuntime({
    stateDir: state,
    ...handlerLayout(),
    ports: { aws: flags.port, sqs: flags.sqsPort, dynamodb: flags.dynamodbPort },
    // The handlers' JSON lines (logs and EMF metrics) go to the state's log file (`sluice logs -f` follows
    // it); with --verbose they are on stderr too.
    logStream: logFile(state, flags.verbose ? process.stderr : undefined),
    logLevel: 'INFO',
    llm,
    schedules: { speed: flags.speed },
  });
  // Listening before the first line is out: a client that signals as soon as it reads it is heard.
  const stopped = new Promise<void>((resolveStop) => {
    process.once('SIGINT', () => resolveStop());
    process.once('SIGTERM', () => resolveStop());
  });
  writeDevInfo(state, { pid: process.pid, endpoints: rt.endpoints, startedAt: new Date().toISOString(), provider: providerName(llm) });
  const info = {
    endpoints: rt.endpoints,
    buckets: rt.names.buckets,
    queues: Object.fromEntries(Object.entries(rt.names.queues).map(([q, n]) => [q, { url: n.url, dlqUrl: n.dlqUrl }])),
    table: rt.names.table,
    provider: providerName(llm),
    profiles: listProfiles(),
    schedules: Object.fromEntries<{ expression: string; target: string; speed: number; backfill?: object }>([
      ...Object.entries(topology.schedules).map(([name, sch]) => [name, { expression: sch.expression, target: sch.target, speed: flags.speed }] as const),
      ...profileSchedules().map((p) => [p.id, { expression: p.expression, target: 'backfill', speed: flags.speed, backfill: p.backfill }] as const),
    ]),
  };
  if (flags.json) process.stdout.write(`${JSON.stringify(info)}\n`);
  else {
    const sample = aSample();
    const sampleProfile = await recognizeProfile(sample).catch(() => 'PROFILE');
    process.stdout.write(
      [
        'sluice dev: local stack up (Ctrl-C to stop)',
        `  S3        ${rt.endpoints.s3}`,
        `  SQS       ${rt.endpoints.sqs}`,
        `  DynamoDB  ${rt.endpoints.dynamodb}`,
        `  provider  ${info.provider}`,
        `  drop bucket     ${rt.names.buckets.drop}   (files under ${topology.dropPrefix}<profile>/ are ingested)`,
        `  results bucket  ${rt.names.buckets.results}`,
        `  status table    ${rt.names.table}`,
        ...Object.entries(rt.names.queues).map(([q, n]) => `  queue ${q.padEnd(8)} ${n.url}`),
        ...Object.entries(info.schedules).map(([name, sch]) => `  schedule ${name.padEnd(8)} ${sch.expression} → ${sch.target}${flags.speed > 1 ? ` (${flags.speed}× faster)` : ''}`),
        '',
        'Drop a file with the AWS CLI:',
        `  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_DEFAULT_REGION=us-east-1 aws --endpoint-url ${rt.endpoints.s3} s3 cp ${sample} s3://${rt.names.buckets.drop}/${topology.dropPrefix}${sampleProfile}/${basename(sample)}`,
        'then `npx sluice status --watch` and `npx sluice logs -f` in other terminals.',
        '',
      ].join('\n'),
    );
  }
  await stopped;
  process.stderr.write('sluice dev: stopping\n');
  removeDevInfo(state);
  await rt.stop();
  return EXIT.ok;
}
