/**
 * The README's CLI synopsis, generated from the command definitions (`npm run docs:cli` writes it between the
 * README's `cli:start` and `cli:end` markers; a test fails when the README and the definitions disagree).
 */
import type { Command, Option } from 'commander';

function optionText(o: Option): string {
  const flag = o.long ?? o.short!;
  const value = o.flags.match(/[<[].*[>\]]/)?.[0];
  const choices = o.argChoices ? `<${o.argChoices.join('|')}>` : value;
  const text = choices ? `${flag} ${choices}` : flag;
  return o.mandatory ? text : `[${text}]`;
}

/** One line per command: `npx sluice NAME ARGS OPTIONS   # description` (global --state/--verbose/--offline left out). */
export function synopsis(program: Command): string {
  const common = new Set(['--state', '--verbose', '--offline', '--help']);
  const lines = program.commands.map((c) => {
    const args = c.registeredArguments.map((a) => {
      const name = a.argChoices ? a.argChoices.join('|') : a.name().toUpperCase();
      return a.required ? name : `[${name}]`;
    });
    const options = c.options.filter((o) => !common.has(o.long ?? '')).map(optionText);
    return { head: ['npx sluice', c.name(), ...args, ...options].join(' '), description: c.description() };
  });
  return `${lines.map((l) => `${l.head}\n    # ${l.description}`).join('\n')}\n`;
}

/** The README with its synopsis block replaced. */
export function withSynopsis(readme: string, text: string): string {
  const start = '<!-- cli:start -->\n```\n';
  const end = '```\n<!-- cli:end -->';
  const a = readme.indexOf(start);
  const b = readme.indexOf(end);
  if (a < 0 || b < a) throw new Error('README.md has no <!-- cli:start --> … <!-- cli:end --> block');
  return `${readme.slice(0, a + start.length)}${text}${readme.slice(b)}`;
}
