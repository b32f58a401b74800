// Every subcommand's options through node:util parseArgs, with the same behaviour everywhere:
// `--help`/`-h` prints the command's help on stdout (exit 0); an unknown option, a missing value
// or a stray argument prints the error and the help on stderr (exit 2, a usage error).
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

export type Parsed =
  | { readonly ok: true; readonly values: Readonly<Record<string, string | boolean | undefined>>; readonly positionals: string[] }
  | { readonly ok: false; readonly exitCode: number };

export function commandOptions(command: string, argv: readonly string[], options: Options, help: string, opts: { positionals?: boolean } = {}): Parsed {
  const text = help.endsWith('\n') ? help : help + '\n';
  let parsed: { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true });
  } catch (e) {
    process.stderr.write(`vmpulse ${command}: ${(e as Error).message}\n\n${text}`);
    return { ok: false, exitCode: 2 };
  }
  if (parsed.values.help) {
    process.stdout.write(text);
    return { ok: false, exitCode: 0 };
  }
  if (!opts.positionals && parsed.positionals.length > 0) {
    process.stderr.write(`vmpulse ${command}: unexpected argument ${JSON.stringify(parsed.positionals[0])}\n\n${text}`);
    return { ok: false, exitCode: 2 };
  }
  return { ok: true, values: parsed.values as Record<string, string | boolean | undefined>, positionals: parsed.positionals };
}
