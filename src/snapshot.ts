// `vmpulse snapshot [--json]`: discover every VM once, read each once, print and exit.
import { scanOnce } from './discover/scan.js';
import { VmReader } from './collect/vm-reader.js';
import { NetnsTaps } from './collect/netns-taps.js';
import { toInstanceStats, type InstanceStats } from './agent/instance-stats.js';
import { hostFacts } from './collect/host.js';
import { systemConstants } from './readers/system.js';
import { agentConfig } from './agent/config.js';
import { commandOptions } from './cli-options.js';
import { DeviceCollector } from './collect/disks/device-collector.js';
import { deviceConfig } from './collect/disks/config.js';
import { devicesJson, type DevicesJson } from './collect/disks/present.js';

const HELP = `Usage: vmpulse snapshot [--json]

Discover every running hypervisor process (QEMU, Cloud Hypervisor, Firecracker, crosvm), read each
VM's counters once and print a table, or with --json one object:
  {"host": {...}, "instances": [InstanceStats + hypervisor, pid, tap_devices, disks, balloon, ...], "errors": [...]}

Per-disk I/O and the guest's balloon figures come from the hypervisor: libvirt (one
\`virsh -r domstats\` for every domain; VMPULSE_LIBVIRT_URI), Cloud Hypervisor's vm.counters,
Firecracker's metrics file (a regular file only) and /balloon/statistics.

Reads VMPULSE_PROC_ROOT (default /proc) and VMPULSE_SYS_ROOT (default /sys).
Exit code 0 also when no VM runs (an empty list).`;

interface SnapshotInstance extends InstanceStats, DevicesJson {
  id_source: string;
  starttime: number;
  read_errors: { field: string; kind: string; detail: string }[];
}

export async function main(argv: string[]): Promise<number> {
  const args = commandOptions('snapshot', argv, { json: { type: 'boolean' } }, HELP);
  if (!args.ok) return args.exitCode;
  const json = args.values.json === true;
  const cfg = agentConfig();
  const constants = systemConstants();
  const scan = await scanOnce({ procRoot: cfg.procRoot, sysRoot: cfg.sysRoot, apiTimeoutMs: cfg.apiTimeoutMs });
  const dcfg = deviceConfig();
  const devices = await new DeviceCollector({ procRoot: cfg.procRoot, libvirt: dcfg.libvirt, apiTimeoutMs: dcfg.apiTimeoutMs }).collect(scan.all);
  const instances: SnapshotInstance[] = [];
  const errors: { pid: number; instance_id: string; kind: string; detail: string }[] = [];
  // Every reader joins its namespace first, so that one /proc/<pid>/net/dev read per namespace
  // serves every VM's TAPs.
  const netns = new NetnsTaps(cfg.procRoot);
  const readers = scan.all.map((vm) => new VmReader(vm, { procRoot: cfg.procRoot, sysRoot: cfg.sysRoot, constants, netns }));
  netns.beginTick();
  for (const reader of readers) {
    const vm = reader.vm;
    const r = reader.read();
    if (!r.ok) {
      // Exited between discovery and the read, or unreadable: reported, never shown as zeros.
      errors.push({ pid: vm.pid, instance_id: vm.instanceId, kind: r.kind, detail: r.detail });
      continue;
    }
    instances.push({
      ...toInstanceStats(r.value, vm, constants.clockTicksPerSecond),
      id_source: vm.idSource,
      starttime: vm.starttime,
      read_errors: r.value.errors.filter((e) => e.kind !== 'missing').map((e) => ({ ...e })),
      ...devicesJson(devices.get(vm.key)),
    });
  }
  for (const reader of readers) reader.close();
  netns.close();
  instances.sort((a, b) => a.instance_name.localeCompare(b.instance_name) || a.pid - b.pid);
  const facts = hostFacts({ procRoot: cfg.procRoot });
  if (json) {
    process.stdout.write(JSON.stringify({ host: { ...facts, clock_ticks_per_second: constants.clockTicksPerSecond, page_size: constants.pageSize }, instances, errors }, null, 2) + '\n');
    return 0;
  }
  const rows = [['INSTANCE', 'NAME', 'HYPERVISOR', 'PID', 'VCPUS', 'MEMORY', 'CPU_S', 'RSS', 'GUEST_AVAIL', 'NET_RX', 'NET_TX', 'DISK_RD', 'DISK_WR', 'TAPS']];
  const mib = (b: number) => `${(b / 1048576).toFixed(0)}Mi`;
  for (const i of instances) {
    rows.push([
      i.instance_id,
      i.instance_name,
      i.hypervisor,
      String(i.pid),
      String(i.allocated_vcpus),
      i.allocated_memory_bytes ? mib(i.allocated_memory_bytes) : '-',
      i.cpu_seconds.toFixed(2),
      mib(i.memory_rss_bytes),
      i.balloon?.usable_bytes != null ? mib(i.balloon.usable_bytes) : '-',
      i.network_rx_bytes === null ? '-' : String(i.network_rx_bytes),
      i.network_tx_bytes === null ? '-' : String(i.network_tx_bytes),
      i.disks ? String(i.disks.reduce((a, d) => a + d.read_bytes, 0)) : '-',
      i.disks ? String(i.disks.reduce((a, d) => a + d.write_bytes, 0)) : '-',
      i.tap_devices.join(',') || '-',
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) process.stdout.write(r.map((v, c) => v.padEnd(widths[c]!)).join('  ').trimEnd() + '\n');
  if (instances.length === 0) process.stdout.write(`no VMs found on ${facts.Hostname}\n`);
  for (const e of errors) process.stderr.write(`pid ${e.pid} (${e.instance_id}): ${e.kind}: ${e.detail}\n`);
  return 0;
}
