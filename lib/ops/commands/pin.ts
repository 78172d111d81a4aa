import { RegionPin } from '../../model';
import { OpsError } from '../errors';
import { Target } from '../target';

/** Every region pin in the table. */
export function readPins(target: Target): Promise<RegionPin[]> {
  return target.store.regionPins();
}

export interface PinResult {
  readonly pin: RegionPin;
  /** False when the region was already pinned (the existing pin is kept, reason and all). */
  readonly created: boolean;
}

/**
 * Pins a region: its control planes keep serving their last good snapshot and take no new
 * route generation until `unpin`. The item is written once (a second pin keeps the first
 * one's reason and time, and says so).
 */
export async function pinRegion(target: Target, region: string, reason: string, by: string | undefined): Promise<PinResult> {
  const pin: RegionPin = { region, reason, since: new Date().toISOString(), by };
  if (await target.store.putRegionPin(pin)) return { pin, created: true };
  const existing = (await readPins(target)).find((p) => p.region === region);
  if (!existing) throw new OpsError('conflict', `region ${region}: the pin changed while it was being written; run the command again`);
  return { pin: existing, created: false };
}

/** Removes a region's pin: its control planes resume with a full re-read of the routes. */
export function unpinRegion(target: Target, region: string): Promise<RegionPin | undefined> {
  return target.store.deleteRegionPin(region);
}
