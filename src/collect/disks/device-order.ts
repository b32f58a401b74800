// Disks are listed in the order of their device names' code units. The names are ASCII ids from
// the kernel and the hypervisors (vda, sdb, virtio-disk0); String#localeCompare would order them
// the same and load ICU's collation data into the agent for it (about 3 MB of RSS, measured).

export function compareDeviceNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
