/**
 * Usable availability zones of the regions the platform knows by default.
 * Not every region has an "a", "b" and "c": us-west-1 has two usable zones,
 * ap-northeast-1 has no "b" and ca-central-1 has no "c".
 * A region missing from this table needs its zones spelled out in the config.
 */
export const KNOWN_AVAILABILITY_ZONES: Readonly<Record<string, readonly string[]>> = {
  'us-east-1': ['us-east-1a', 'us-east-1b', 'us-east-1c'],
  'us-east-2': ['us-east-2a', 'us-east-2b', 'us-east-2c'],
  'us-west-1': ['us-west-1a', 'us-west-1c'],
  'us-west-2': ['us-west-2a', 'us-west-2b', 'us-west-2c'],
  'ca-central-1': ['ca-central-1a', 'ca-central-1b', 'ca-central-1d'],
  'sa-east-1': ['sa-east-1a', 'sa-east-1b', 'sa-east-1c'],
  'eu-west-1': ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
  'eu-west-2': ['eu-west-2a', 'eu-west-2b', 'eu-west-2c'],
  'eu-west-3': ['eu-west-3a', 'eu-west-3b', 'eu-west-3c'],
  'eu-central-1': ['eu-central-1a', 'eu-central-1b', 'eu-central-1c'],
  'eu-north-1': ['eu-north-1a', 'eu-north-1b', 'eu-north-1c'],
  'ap-south-1': ['ap-south-1a', 'ap-south-1b', 'ap-south-1c'],
  'ap-southeast-1': ['ap-southeast-1a', 'ap-southeast-1b', 'ap-southeast-1c'],
  'ap-southeast-2': ['ap-southeast-2a', 'ap-southeast-2b', 'ap-southeast-2c'],
  'ap-northeast-1': ['ap-northeast-1a', 'ap-northeast-1c', 'ap-northeast-1d'],
  'ap-northeast-2': ['ap-northeast-2a', 'ap-northeast-2b', 'ap-northeast-2c'],
};

/** The 13 fleet regions of the default configuration, in deployment order. */
export const DEFAULT_FLEET_REGIONS: readonly string[] = [
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
  'ca-central-1',
  'sa-east-1',
  'eu-west-1',
  'eu-west-2',
  'eu-central-1',
  'ap-south-1',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-northeast-1',
];
