#!/usr/bin/env node
// The `vmpulse` command. Each subcommand lives in its own module and exports
// `main(argv: string[]): Promise<number>` (the exit code); modules load lazily so that
// `vmpulse snapshot` does not pay for the server's dependencies.

interface Command {
  readonly summary: string;
  readonly load: () => Promise<{ main(argv: string[]): Promise<number> }>;
}

const commands: Record<string, Command> = {
  agent: { summary: 'run the host agent (sample VMs, serve the local API, ship windows)', load: () => import('./agent/main.js') },
  server: { summary: 'run the central server (ingest, storage, query APIs, alerting)', load: () => import('./server/main.js') },
  start: { summary: 'run server and agent together on the embedded SQLite store', load: () => import('./start.js') },
  snapshot: { summary: 'discover and sample every VM once, print a table (or --json)', load: () => import('./snapshot.js') },
  top: { summary: 'live view of this host\'s VMs (CPU, memory, network, disk), sortable', load: () => import('./top/main.js') },
  token: { summary: 'manage server credentials: create, list, revoke', load: () => import('./server/token-cli.js') },
};

function usage(): string {
  const lines = ['Usage: vmpulse <command> [options]', '', 'Commands:'];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  lines.push('', 'Run `vmpulse <command> --help` for the options of a command.');
  lines.push('Configuration is read from VMPULSE_* environment variables (see README.md).');
  return lines.join('\n');
}

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-V') {
    const { readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { repoRoot } = await import('./paths.js');
    process.stdout.write(JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version + '\n');
    return 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`vmpulse: unknown command ${JSON.stringify(name)}\n\n${usage()}\n`);
    return 2;
  }
  // Before any command's modules: got's dependencies make Intl objects as they are imported.
  const { deferListFormat } = await import('./defer-list-format.js');
  deferListFormat();
  const mod = await command.load();
  return mod.main(rest);
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`vmpulse: ${err instanceof Error ? err.message : String(err)}\n`);
    // A value the configuration refuses (ConfigError, or env-var's own EnvVarError) is a usage
    // error: exit 2, as for a bad option, so that a supervisor does not restart into it blindly.
    const name = err instanceof Error ? err.name : '';
    process.exitCode = name === 'ConfigError' || name === 'EnvVarError' ? 2 : 1;
  },
);
