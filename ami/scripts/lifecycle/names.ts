/**
 * Where the image's versions live: `/<platform>/ami/envoy/<version>` per region (one parameter per
 * baked version, written once by `build`), beside the parameter the fleet reads
 * (config.amiParameterName, `/<platform>/ami/envoy/latest` by default), which only `promote` writes.
 */
import { PlatformConfig } from '../../../lib/config';

/** A version: letters, digits, `.`, `_`, `-` (an SSM parameter name segment), never the fleet's own name. */
const VERSION = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

export function versionPrefix(config: Pick<PlatformConfig, 'platformName'>): string {
  return `/${config.platformName}/ami/envoy/`;
}

export function versionParameter(config: Pick<PlatformConfig, 'platformName'>, version: string): string {
  return `${versionPrefix(config)}${version}`;
}

/** Throws, naming the rule, unless `version` can name a version parameter. */
export function checkVersion(config: Pick<PlatformConfig, 'platformName' | 'amiParameterName'>, version: string): void {
  if (!VERSION.test(version)) throw new Error(`version "${version}": must be 1-100 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  if (versionParameter(config, version) === config.amiParameterName) {
    throw new Error(`version "${version}": that is the name of the parameter the fleet reads (${config.amiParameterName}), not a version`);
  }
}

/**
 * The version of a bake: its build time and commit, `20261205-064427-b84ec15`, from the packer
 * manifest's custom_data (ami/packer/envoy.pkr.hcl); the packer run id when those are missing.
 */
export function versionOfBake(customData: Readonly<Record<string, string>>, runUuid: string): string {
  const time = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})/.exec(customData.build_time ?? '');
  if (!time) return `run-${runUuid.slice(0, 8)}`;
  const stamp = `${time[1]}${time[2]}${time[3]}-${time[4]}${time[5]}${time[6]}`;
  const commit = /^[0-9a-f]{7,40}$/.test(customData.git_commit ?? '') ? `-${customData.git_commit.slice(0, 7)}` : '';
  return `${stamp}${commit}`;
}
