// Identity: which instance_id / instance_name a discovered VM gets. Each hypervisor module states
// its own rule (HypervisorModule.identity, summed up in the README); what they share is here.
//
//   The API socket's name is taken from its path on the host (a jailed Firecracker's socket
//   /run/firecracker.socket is /srv/jailer/firecracker/<id>/root/run/firecracker.socket): the
//   folder holding it, unless that is a generic place (run, tmp, var, sockets, a hypervisor's own
//   name...); then the socket's file name without its extension (/tmp/vm7.sock → vm7); when that
//   too is generic (api, api.sock, firecracker.socket...), none.
//
//   Fallback for everything: `<hypervisor>-<pid>-<starttime>`       (idSource 'pid-fallback').
//   Names are never empty strings.
import type { Identity } from './hypervisors/contract.js';
import { HYPERVISORS, hypervisorModule } from './hypervisors/registry.js';
import type { Hypervisor } from './vm.js';

export type { Identity };

export interface IdentityInput {
  readonly hypervisor: Hypervisor;
  readonly pid: number;
  readonly starttime: number;
  readonly uuid: string | null;
  readonly name: string | null;
  /** The API/control socket's path on the host, if any. */
  readonly socketHostPath: string | null;
  /** A uuid from the hypervisor's API answer (Cloud Hypervisor's config.platform.uuid). */
  readonly apiUuid: string | null;
}

const GENERIC = new Set([
  '', '.', '..', 'run', 'tmp', 'var', 'sock', 'socket', 'sockets', 'api', 'api.sock', 'api-socket',
  'control', 'control.sock', 'root', 'vm', 'vms', 'vm.sock', 'sandbox', 'lib', 'user',
  ...HYPERVISORS.flatMap((h) => h.genericSocketNames),
]);

/** The specific name the socket's location gives, or null. Pure. */
export function nameFromSocketPath(path: string | null): string | null {
  if (!path) return null;
  const parts = path.split('/').filter((p) => p !== '');
  const file = parts[parts.length - 1] ?? '';
  const folder = parts[parts.length - 2] ?? '';
  if (!GENERIC.has(folder)) return folder;
  const stem = file.replace(/\.(sock|socket)$/, '');
  if (!GENERIC.has(file) && !GENERIC.has(stem)) return stem;
  return null;
}

function clean(s: string | null): string | null {
  const t = s?.trim();
  return t ? t : null;
}

export function resolveIdentity(input: IdentityInput): Identity {
  const found = hypervisorModule(input.hypervisor).identity({
    uuid: clean(input.uuid),
    name: clean(input.name),
    socketName: nameFromSocketPath(input.socketHostPath),
    apiUuid: clean(input.apiUuid),
  });
  if (found) return found;
  const fallback = `${input.hypervisor}-${input.pid}-${input.starttime}`;
  return { instanceId: fallback, instanceName: fallback, idSource: 'pid-fallback' };
}
