import { PlatformConfig } from './types';
import { ConfigError } from './validate';

/** Every region that has alarms: the home region (broker) and each fleet region. */
export function alarmRegions(config: PlatformConfig): string[] {
  return [...new Set([config.homeRegion, ...config.regions.map((r) => r.region)])];
}

/**
 * Regions whose alarms would reach nobody: no `alarms.emails` (subscribed to the topics the
 * platform creates) and no `alarms.topicArns[region]` (an existing topic, whose subscribers are
 * its owner's business). Empty when `alarms.allowNoRecipients` is set (a sandbox).
 */
export function regionsWithoutAlarmRecipients(config: PlatformConfig): string[] {
  if (config.alarms.allowNoRecipients || config.alarms.emails.length > 0) return [];
  return alarmRegions(config).filter((region) => !config.alarms.topicArns[region]);
}

/**
 * Throws a ConfigError naming the fields to set when some region's alarms would reach nobody.
 * Called when the monitoring is synthesized (not when the config loads: the local platform and
 * the operator CLI have no alarms and need no recipients).
 */
export function checkAlarmRecipients(config: PlatformConfig, source = 'platform config'): void {
  const silent = regionsWithoutAlarmRecipients(config);
  if (silent.length === 0) return;
  throw new ConfigError(
    [
      `alarms.emails / alarms.topicArns: nobody would receive the alarms of ${silent.join(', ')}. ` +
        `Set alarms.emails (subscribed to every alarm topic the platform creates), or alarms.topicArns.<region> ` +
        `(an existing topic, e.g. your pager's) for ${silent.length === 1 ? silent[0] : 'each of them'}; ` +
        'a sandbox whose alarms may page nobody sets alarms.allowNoRecipients: true',
    ],
    source,
  );
}
