/**
 * `sluice`: run the pipeline locally on a file, look at jobs, results and logs, invoke one handler with one
 * event, or keep the local stack up for other clients (`aws s3 cp`, an SDK). The commands are in
 * `commands/`, assembled in `program.ts`.
 * Exit codes: 0 done, 1 the job (or run) failed, 2 bad usage or an input that cannot be read.
 */
import { CommanderError } from 'commander';
import { buildProgram } from './program.ts';
import { EXIT, InputError, UsageError, takeExitCode } from './shared.ts';

export async function main(argv: string[]): Promise<number> {
  // Output piped into `head` and the like: a closed pipe ends the command quietly, as other CLIs do.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.ok);
    throw err;
  });
  const program = buildProgram();
  if (!argv.length) {
    program.outputHelp();
    return EXIT.ok;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return takeExitCode();
  } catch (err) {
    // Commander has printed its own message (and a suggestion) already; --help and --version end with 0.
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof UsageError) {
      const command = program.commands.find((c) => c.name() === argv[0]);
      process.stderr.write(`sluice: ${err.message}\n(see \`sluice ${command ? `${command.name()} ` : ''}--help\`)\n`);
      return EXIT.usage;
    }
    if (err instanceof InputError) {
      process.stderr.write(`sluice: ${err.message}\n`);
      return EXIT.usage;
    }
    process.stderr.write(`sluice: ${(err as Error).message}\n`);
    return EXIT.failed;
  }
}
