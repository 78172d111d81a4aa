import { Arn, ArnFormat, Stack } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { PlatformConfig } from '../config';

/**
 * The names (after `<platform>-`) of every paging alarm a fleet stack creates. The global
 * dashboard shows each region's alarms by ARN, built from these names, so it needs no
 * cross-region reference; test/monitoring checks this list against the synthesized stacks.
 */
export const FLEET_REGION_ALARMS = [
  'fleet-health-check-failing',
  'fleet-unhealthy-hosts',
  'fleet-5xx-rate',
  'fleet-access-log-silent',
  'fleet-capacity-shortfall',
  'fleet-tls-negotiation-errors',
  'control-plane-nodes-dropping',
  'control-plane-nacks',
  'control-plane-render-failures',
  'control-plane-render-fault-held-back',
  'control-plane-instances-excluded',
  'control-plane-source-stale',
  'control-plane-tasks-below-desired',
  'control-plane-unhealthy-targets-xds',
  'control-plane-unhealthy-targets-rest',
] as const;

/** ARN of a fleet region's alarm, in the stack's account and partition. */
export function fleetAlarmArn(scope: Construct, config: PlatformConfig, region: string, name: (typeof FLEET_REGION_ALARMS)[number]): string {
  const stack = Stack.of(scope);
  return Arn.format({ service: 'cloudwatch', region, account: stack.account, resource: 'alarm', resourceName: `${config.platformName}-${name}`, arnFormat: ArnFormat.COLON_RESOURCE_NAME }, stack);
}
