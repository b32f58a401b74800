// `{id}` in a URL → one VM, in Hypeman's order: exact instance id, then exact name, then a unique
// id prefix. The agent keeps an exited VM until its window closes and a restarted VM may come
// back under the same id, so a running VM wins over exited ones matching the same step.
import type { InstanceView } from './view.js';

export type Resolution =
  | { readonly ok: true; readonly instance: InstanceView }
  | { readonly ok: false; readonly code: 'not_found' | 'ambiguous'; readonly message: string };

function pick(matches: readonly InstanceView[], id: string, how: string): Resolution | null {
  if (matches.length === 0) return null;
  if (matches.length === 1) return { ok: true, instance: matches[0]! };
  const running = matches.filter((m) => m.state === 'running');
  if (running.length === 1) return { ok: true, instance: running[0]! };
  if (running.length === 0) {
    // Every match has exited: the newest process is the one the caller last knew.
    const newest = [...matches].sort((a, b) => b.vm.discoveredAt - a.vm.discoveredAt)[0]!;
    const distinct = new Set(matches.map((m) => m.vm.instanceId));
    if (distinct.size === 1) return { ok: true, instance: newest };
  }
  const ids = [...new Set(matches.map((m) => m.vm.instanceId))].sort();
  return {
    ok: false,
    code: 'ambiguous',
    message: `${JSON.stringify(id)} matches ${matches.length} instances by ${how}: ${ids.join(', ')}`,
  };
}

export function resolveInstance(instances: readonly InstanceView[], id: string): Resolution {
  if (id === '') return { ok: false, code: 'not_found', message: 'instance id is empty' };
  return (
    pick(instances.filter((i) => i.vm.instanceId === id), id, 'id') ??
    pick(instances.filter((i) => i.vm.instanceName === id), id, 'name') ??
    pick(instances.filter((i) => i.vm.instanceId.startsWith(id)), id, 'id prefix') ?? {
      ok: false,
      code: 'not_found',
      message: `instance ${JSON.stringify(id)} not found`,
    }
  );
}
