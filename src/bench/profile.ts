// CPU profiles of chosen stretches of a bench (`--profile DIR`): each stretch is written as
// DIR/<name>.cpuprofile, for Chrome DevTools or any .cpuprofile reader, so that where a pass
// spends its time is seen for that pass alone and not mixed with the data loading around it.
import { Session } from 'node:inspector/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Profiler {
  /** Runs f under the profiler (when a directory was given) and writes its profile as `name`. */
  around<T>(name: string, f: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export async function profiler(dir: string | null): Promise<Profiler> {
  if (!dir) return { around: (_name, f) => f(), close: async () => {} };
  mkdirSync(dir, { recursive: true });
  const s = new Session();
  s.connect();
  await s.post('Profiler.enable');
  await s.post('Profiler.setSamplingInterval', { interval: 100 });
  return {
    async around(name, f) {
      await s.post('Profiler.start');
      try {
        return await f();
      } finally {
        const { profile } = await s.post('Profiler.stop');
        writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
      }
    },
    async close() {
      await s.post('Profiler.disable');
      s.disconnect();
    },
  };
}
