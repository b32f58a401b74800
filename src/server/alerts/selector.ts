// Which instances an alarm watches. Matching runs on every pass over the current instance list,
// so a VM that appears later joins at the next evaluation without anyone touching the alarm.
import type { AlarmDefinition, Selector, TargetInstance } from './types.js';

const globCache = new Map<string, RegExp>();

/** `*` any run of characters, `?` exactly one; everything else literal; whole-name match. */
export function globToRegExp(glob: string): RegExp {
  let re = globCache.get(glob);
  if (!re) {
    const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
    re = new RegExp(`^${body}$`, 's');
    if (globCache.size > 1000) globCache.clear();
    globCache.set(glob, re);
  }
  return re;
}

export function matchesSelector(s: Selector, i: TargetInstance): boolean {
  if (s.host !== undefined && s.host !== i.agentId && s.host !== i.hostname) return false;
  if (s.hypervisor !== undefined && s.hypervisor !== i.hypervisor) return false;
  if (s.instanceName !== undefined && !globToRegExp(s.instanceName).test(i.name)) return false;
  return true;
}

/**
 * The instances an alarm covers. monitoredResourceName resolves by id first, then by name (as
 * GetInstanceMetricData does); a name shared by several VMs covers all of them, each with its own
 * state, rather than silently picking one.
 */
export function selectTargets(def: AlarmDefinition, instances: readonly TargetInstance[]): TargetInstance[] {
  if (def.monitoredResourceName !== null) {
    const r = def.monitoredResourceName;
    const byId = instances.filter((i) => i.instanceId === r);
    return byId.length ? byId : instances.filter((i) => i.name === r);
  }
  const s = def.selector;
  if (!s) return [];
  return instances.filter((i) => matchesSelector(s, i));
}
