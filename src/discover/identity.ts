// Identity rules: which instance_id / instance_name a discovered VM gets.
//
//   QEMU              instance_id   = -uuid                              (idSource 'qemu-uuid')
//                     instance_name = -name guest=NAME (or -name NAME)
//                     no -uuid: instance_id = the name                     (idSource 'qemu-name')
//                     no -name: instance_name = the uuid
//   Firecracker       --id gives both instance_id and instance_name        (idSource 'firecracker-id');
//                     the name is the folder holding the API socket instead when that folder is
//                     specific (see below) and differs from the id (orchestrators keep a
//                     readable folder per VM and a UUID as --id). Without --id (or with the
//                     default "anonymous-instance"): the API-socket rule below.
//   Cloud Hypervisor  the folder holding the API socket, for both          (idSource 'api-socket'):
//                     /run/ch/web-1/api.sock → web-1. When vm.info carries config.platform.uuid,
//                     that uuid is the instance_id (idSource 'vm-info') and the folder stays the name.
//   crosvm            the folder holding the control socket (--socket), for both ('api-socket').
//
//   The folder is taken from the socket's path on the host (a jailed Firecracker's socket
//   /run/firecracker.socket is /srv/jailer/firecracker/<id>/root/run/firecracker.socket). A folder
//   is not specific when it is a generic place (run, tmp, var, sockets, the hypervisor's own
//   name...); then the socket's file name without its extension is used (/tmp/vm7.sock → vm7),
//   and when that too is generic (api, api.sock, firecracker.socket...) the rule does not apply.
//
//   Fallback for everything: `<hypervisor>-<pid>-<starttime>`       (idSource 'pid-fallback').
//   Names are never empty strings.
import type { Hypervisor, IdSource } from './vm.js';

export interface IdentityInput {
  readonly hypervisor: Hypervisor;
  readonly pid: number;
  readonly starttime: number;
  readonly uuid: string | null;
  readonly name: string | null;
  /** The API/control socket's path on the host, if any. */
  readonly socketHostPath: string | null;
  /** config.platform.uuid from Cloud Hypervisor's vm.info. */
  readonly apiUuid: string | null;
}

export interface Identity {
  readonly instanceId: string;
  readonly instanceName: string;
  readonly idSource: IdSource;
}

const GENERIC = new Set([
  '', '.', '..', 'run', 'tmp', 'var', 'sock', 'socket', 'sockets', 'api', 'api.sock', 'api-socket',
  'control', 'control.sock', 'ch', 'ch.sock', 'cloud-hypervisor', 'cloud-hypervisor.sock', 'firecracker',
  'firecracker.sock', 'firecracker.socket', 'crosvm', 'crosvm.sock', 'root', 'qemu', 'vm', 'vms', 'vm.sock',
  'sandbox', 'jailer', 'lib', 'libvirt', 'user',
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
  const uuid = clean(input.uuid);
  const name = clean(input.name);
  const fromSocket = nameFromSocketPath(input.socketHostPath);
  switch (input.hypervisor) {
    case 'qemu':
      if (uuid) return { instanceId: uuid, instanceName: name ?? uuid, idSource: 'qemu-uuid' };
      if (name) return { instanceId: name, instanceName: name, idSource: 'qemu-name' };
      break;
    case 'firecracker':
      if (name) {
        const display = fromSocket && fromSocket !== name ? fromSocket : name;
        return { instanceId: name, instanceName: display, idSource: 'firecracker-id' };
      }
      if (fromSocket) return { instanceId: fromSocket, instanceName: fromSocket, idSource: 'api-socket' };
      break;
    case 'cloud-hypervisor': {
      const apiUuid = clean(input.apiUuid);
      if (apiUuid) return { instanceId: apiUuid, instanceName: fromSocket ?? apiUuid, idSource: 'vm-info' };
      if (fromSocket) return { instanceId: fromSocket, instanceName: fromSocket, idSource: 'api-socket' };
      break;
    }
    case 'crosvm':
      if (fromSocket) return { instanceId: fromSocket, instanceName: fromSocket, idSource: 'api-socket' };
      break;
  }
  const fallback = `${input.hypervisor}-${input.pid}-${input.starttime}`;
  return { instanceId: fallback, instanceName: fallback, idSource: 'pid-fallback' };
}
