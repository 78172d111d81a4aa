/**
 * Availability zones are configured by AZ ID (`use1-az1`): an AZ ID names the same physical
 * zone in every AWS account, while a zone name (`us-east-1a`) is mapped per account in the
 * older regions (AWS, "AZ IDs", https://docs.aws.amazon.com/global-infrastructure/latest/regions/az-ids.html).
 * The subnets carry the IDs (`AWS::EC2::Subnet` `AvailabilityZoneId`), so a template means the
 * same zones in every account; `npm run preflight` shows each ID's name in the account and
 * checks it exists there and offers the fleet's instance type and every VPC endpoint service.
 *
 * Defaults per region: three zones where the region has them, leaving out the IDs that new
 * accounts cannot use or that lack current instance types (usw1-az2, apne1-az3, use1-az3,
 * cac1-az3 does not exist). A region missing from this table needs its IDs spelled out.
 */
export const KNOWN_AVAILABILITY_ZONE_IDS: Readonly<Record<string, readonly string[]>> = {
  'us-east-1': ['use1-az1', 'use1-az2', 'use1-az4'],
  'us-east-2': ['use2-az1', 'use2-az2', 'use2-az3'],
  'us-west-1': ['usw1-az1', 'usw1-az3'],
  'us-west-2': ['usw2-az1', 'usw2-az2', 'usw2-az3'],
  'ca-central-1': ['cac1-az1', 'cac1-az2', 'cac1-az4'],
  'sa-east-1': ['sae1-az1', 'sae1-az2', 'sae1-az3'],
  'eu-west-1': ['euw1-az1', 'euw1-az2', 'euw1-az3'],
  'eu-west-2': ['euw2-az1', 'euw2-az2', 'euw2-az3'],
  'eu-west-3': ['euw3-az1', 'euw3-az2', 'euw3-az3'],
  'eu-central-1': ['euc1-az1', 'euc1-az2', 'euc1-az3'],
  'eu-north-1': ['eun1-az1', 'eun1-az2', 'eun1-az3'],
  'ap-south-1': ['aps1-az1', 'aps1-az2', 'aps1-az3'],
  'ap-southeast-1': ['apse1-az1', 'apse1-az2', 'apse1-az3'],
  'ap-southeast-2': ['apse2-az1', 'apse2-az2', 'apse2-az3'],
  'ap-northeast-1': ['apne1-az1', 'apne1-az2', 'apne1-az4'],
  'ap-northeast-2': ['apne2-az1', 'apne2-az2', 'apne2-az3'],
};

const DIRECTIONS: Readonly<Record<string, string>> = {
  east: 'e',
  west: 'w',
  north: 'n',
  south: 's',
  central: 'c',
  northeast: 'ne',
  northwest: 'nw',
  southeast: 'se',
  southwest: 'sw',
};

/**
 * The prefix every AZ ID of a region starts with (`us-east-1` → `use1`, `ap-southeast-2` →
 * `apse2`, `us-gov-west-1` → `usgw1`), or undefined for a region name of another shape.
 */
export function azIdPrefix(region: string): string | undefined {
  const match = /^([a-z]{2})-(gov-)?([a-z]+)-(\d+)$/.exec(region);
  if (!match) return undefined;
  const direction = DIRECTIONS[match[3]];
  if (!direction) return undefined;
  return `${match[1]}${match[2] ? 'g' : ''}${direction}${match[4]}`;
}

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
