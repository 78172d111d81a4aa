import * as logs from 'aws-cdk-lib/aws-logs';

/** Every retention CloudWatch Logs accepts, ascending (RetentionDays is a numeric enum of days). */
const ALLOWED_DAYS: readonly number[] = Object.values(logs.RetentionDays)
  .filter((value): value is number => typeof value === 'number' && value !== logs.RetentionDays.INFINITE)
  .sort((a, b) => a - b);

/**
 * The smallest CloudWatch Logs retention that keeps logs at least `days` days
 * (the config allows any whole number of days; CloudWatch only a fixed set).
 */
export function logRetention(days: number): logs.RetentionDays {
  const match = ALLOWED_DAYS.find((allowed) => allowed >= days);
  if (match === undefined) throw new Error(`logRetentionDays: ${days} is above the longest CloudWatch Logs retention (${ALLOWED_DAYS[ALLOWED_DAYS.length - 1]})`);
  return match as logs.RetentionDays;
}
