/** `sluice completion [bash|zsh]`: a shell completion script for sluice's commands, options and choices. */
import { Argument, Command } from 'commander';
import { EXIT, act } from '../shared.ts';

/**
 * The script is generated from the command definitions (commander has no completion of its own; the
 * completion libraries for it, omelette and tabtab, are unmaintained), so it never disagrees with --help.
 */
export function completionScript(program: Command): string {
  const commands = program.commands.map((c) => c.name());
  const cases = program.commands.map((c) => {
    const words = [...c.options.flatMap((o) => [o.long, o.short].filter(Boolean) as string[]), '--help'];
    const choices = c.registeredArguments.flatMap((a) => a.argChoices ?? []);
    return `    ${c.name()}) opts="${[...choices, ...words].join(' ')}" ;;`;
  });
  return `# sluice completion (bash; zsh: autoload -U +X bashcompinit && bashcompinit first)
# eval "$(npx sluice completion)"  — or save it under /etc/bash_completion.d/
_sluice() {
  local cur=\${COMP_WORDS[COMP_CWORD]} opts
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${commands.join(' ')} --help --version" -- "$cur"))
    return
  fi
  case "\${COMP_WORDS[1]}" in
${cases.join('\n')}
    *) opts="--help" ;;
  esac
  COMPREPLY=($(compgen -W "$opts" -- "$cur") $(compgen -f -- "$cur"))
}
complete -o filenames -F _sluice sluice
`;
}

export function completionCommand(program: Command): Command {
  return new Command('completion')
    .description('print a shell completion script: eval "$(npx sluice completion)"')
    .addArgument(new Argument('[shell]', 'the shell').choices(['bash', 'zsh']).default('bash'))
    .action(
      act(async () => {
        process.stdout.write(completionScript(program));
        return EXIT.ok;
      }),
    );
}
