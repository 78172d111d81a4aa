export * from './types';
export { loadConfig, resolveConfig, readConfigFile } from './load';
export { ConfigError } from './validate';
export { alarmRegions, checkAlarmRecipients, regionsWithoutAlarmRecipients } from './alarm-recipients';
export { DEFAULT_FLEET_REGIONS, KNOWN_AVAILABILITY_ZONE_IDS, azIdPrefix } from './regions';
export { placeholderProblems, warnAboutPlaceholders } from './placeholders';
export { defaultWaves, pipelinePlaceholderProblems, PIPELINE_DEFAULTS, PLACEHOLDER_CONNECTION_ARN } from './pipeline';
