/**
 * The FF-A bus — drivers/firmware/arm_ffa/bus.c and the partition set-up of driver.c (torvalds/linux
 * v6.18): struct ffa_device per partition, ffa_setup_partitions() (the nil-UUID ffa_partition_probe(),
 * one device per descriptor, 32-bit mode for partitions without FFA_PARTITION_AARCH64_EXEC above v1.0,
 * then the host's own device), and driver registration: ffa_device_match() (a device with a nil UUID
 * matches every driver — "FF-A v1.0 doesn't provide discovery of UUIDs"), the v1.0 bus notifier
 * (BUS_NOTIFY_BIND_DRIVER → ffa_device_match_uuid(), a partition probe by the driver's UUID), and
 * ffa_device_probe() (a device still without UUID is −ENODEV; otherwise the driver's probe).
 *
 * The driver core's order is kept: devices in registration order (partitions as the SPMC listed them,
 * then the host), each matched and probed in turn when the driver registers.
 */
import { EINVAL, ENODEV } from "../../../abi/uapi/errno.ts";
import type { Sleeps } from "../../../sim/scheduler.ts";
import type { ArmFfaDriver } from "./driver.ts";
import {
  FFA_PARTITION_AARCH64_EXEC,
  ffaPartitionProbe,
  uuidIsNull,
  type FfaPartitionInfo,
} from "./partition_info.ts";

/** struct ffa_device */
export class FfaDevice {
  /** dev->driver_data (ffa_dev_set_drvdata()), once a driver bound. */
  driverData: unknown = null;
  mode32Bit = false;
  uuid: [number, number, number, number];

  constructor(
    /** The bus ID (ida_alloc_min(&ffa_bus_id, 1)): "arm-ffa-<id>". */
    readonly id: number,
    readonly vmId: number,
    readonly properties: number,
    uuid: readonly number[],
    readonly drv: ArmFfaDriver,
  ) {
    this.uuid = [uuid[0], uuid[1], uuid[2], uuid[3]];
  }
}

/** struct ffa_driver: the UUIDs it serves (its ffa_device_id table) and its probe. */
export interface FfaDriver {
  readonly name: string;
  readonly idTable: readonly (readonly [number, number, number, number])[];
  probe(dev: FfaDevice): Sleeps<number>;
}

/** ffa_device_register(part_info, ops) */
function ffaDeviceRegister(drv: ArmFfaDriver, info: FfaPartitionInfo): FfaDevice {
  const dev = new FfaDevice(drv.devices.length + 1, info.id, info.properties, info.uuid, drv);
  drv.devices.push(dev);
  return dev;
}

/**
 * ffa_setup_partitions(): 0, or −EINVAL when no partition is found ("No partitions found, error %d").
 * The host's device (ffa_setup_host_partition()) has a nil UUID and its own VM ID.
 */
export function* ffaSetupPartitions(drv: ArmFfaDriver): Sleeps<number> {
  const parts = yield* ffaPartitionProbe(drv);
  if (typeof parts === "number" || parts.length === 0) {
    if (drv.sim.trace.listening)
      drv.sim.trace.emit("kernel", "pr_info", {
        msg: `ARM FF-A: ffa_setup_partitions: No partitions found, error ${typeof parts === "number" ? parts : 0}`,
      });
    return -EINVAL;
  }
  for (const p of parts) {
    const dev = ffaDeviceRegister(drv, p);
    if (drv.versionNumber > 0x1_0000 && !(p.properties & FFA_PARTITION_AARCH64_EXEC)) drv.mode32BitSet(dev);
  }
  if (!drv.devices.some((d) => d.vmId === drv.vmId))
    ffaDeviceRegister(drv, { id: drv.vmId, execCtxt: 0, properties: 0, uuid: [0, 0, 0, 0] });
  return 0;
}

/** ffa_device_match(): a nil UUID matches any driver; otherwise one of the driver's UUIDs. */
function ffaDeviceMatch(dev: FfaDevice, driver: FfaDriver): boolean {
  for (const id of driver.idTable) {
    if (uuidIsNull(dev.uuid)) return true;
    if (id.every((x, i) => x === dev.uuid[i])) return true;
  }
  return false;
}

/** ffa_device_match_uuid(): the v1.0 bus notifier gives the device the UUID if a probe by it lists the ID. */
function* ffaDeviceMatchUuid(dev: FfaDevice, uuid: readonly number[]): Sleeps {
  const parts = yield* ffaPartitionProbe(dev.drv, uuid);
  if (typeof parts === "number") return;
  for (const p of parts) if (p.id === dev.vmId) dev.uuid = [uuid[0], uuid[1], uuid[2], uuid[3]];
}

/**
 * ffa_driver_register() → driver_register() → driver_attach(): every device the driver matches is
 * bound and probed in turn (a failed probe leaves the device unbound and the core goes on). Returns
 * the devices the driver bound.
 */
export function* ffaDriverRegister(drv: ArmFfaDriver, driver: FfaDriver): Sleeps<FfaDevice[]> {
  const bound: FfaDevice[] = [];
  for (const dev of [...drv.devices]) {
    if (dev.driverData !== null || !ffaDeviceMatch(dev, driver)) continue;
    // The bus notifier exists only at v1.0 (ffa_setup_partitions()); it runs on BUS_NOTIFY_BIND_DRIVER.
    if (drv.versionNumber === 0x1_0000 && uuidIsNull(dev.uuid))
      yield* ffaDeviceMatchUuid(dev, driver.idTable[0]);
    // ffa_device_probe()
    if (uuidIsNull(dev.uuid)) continue; // -ENODEV
    const rc = yield* driver.probe(dev);
    if (rc === 0) bound.push(dev);
    else if (rc !== -ENODEV && drv.sim.trace.listening)
      drv.sim.trace.emit("kernel", "probe_failed", { driver: driver.name, dev: `arm-ffa-${dev.id}`, rc });
  }
  return bound;
}
