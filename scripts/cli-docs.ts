/** `npm run docs:cli`: writes the README's CLI synopsis from the command definitions (src/cli/synopsis.ts). */
import { readFileSync, writeFileSync } from 'node:fs';
import { buildProgram } from '../src/cli/program.ts';
import { synopsis, withSynopsis } from '../src/cli/synopsis.ts';

const readme = readFileSync('README.md', 'utf8');
const updated = withSynopsis(readme, synopsis(buildProgram()));
writeFileSync('README.md', updated);
process.stdout.write(updated === readme ? 'README.md: CLI synopsis unchanged\n' : 'README.md: CLI synopsis rewritten\n');
