/**
 * The AWS metrics our alarms, dashboards and runbooks may name: per namespace, the documented
 * metric names and the dimension sets each is published with. A name or dimension set that is
 * not here is not a metric CloudWatch has (an alarm on it never gets data; a runbook asking for
 * it sends on-call looking for nothing). Sources, as of this writing:
 * - AWS/Lambda: Lambda Developer Guide, "Working with Lambda function metrics" (Invocations,
 *   Errors, DeadLetterErrors, DestinationDeliveryFailures, Throttles, Provisioned...,
 *   Duration, PostRuntimeExtensionsDuration, IteratorAge, OffsetLag, ConcurrentExecutions,
 *   UnreservedConcurrentExecutions). There is no InitDuration metric: "Init Duration" is a field
 *   of the REPORT line in the function's log.
 * - AWS/SQS: SQS Developer Guide, "Available CloudWatch metrics for Amazon SQS" (dimension QueueName).
 * - AWS/ApiGateway: API Gateway Developer Guide, "Amazon API Gateway dimensions and metrics"
 *   (REST APIs: ApiName; ApiName, Stage; ApiName, Method, Resource, Stage).
 * - AWS/DynamoDB: DynamoDB Developer Guide, "DynamoDB Metrics and dimensions" (SystemErrors and
 *   SuccessfulRequestLatency by TableName and Operation; throttle events by TableName, or
 *   TableName and GlobalSecondaryIndexName).
 * - AWS/NetworkELB: ELB Network Load Balancers guide, "CloudWatch metrics for your Network Load
 *   Balancer" (target health by LoadBalancer and TargetGroup; flows and TLS errors by LoadBalancer).
 * - AWS/AutoScaling: EC2 Auto Scaling User Guide, "Auto Scaling group metrics" (by AutoScalingGroupName, when enabled).
 * - ECS/ContainerInsights: CloudWatch User Guide, "Amazon ECS Container Insights metrics" (service level: ClusterName, ServiceName).
 * - AWS/EC2: EC2 User Guide, "CloudWatch metrics for your instances" (aggregated by AutoScalingGroupName).
 * - AWS/Route53: Route 53 Developer Guide, "Monitoring health checks using CloudWatch" (HealthCheckId, us-east-1 only).
 * - AWS/SecretsManager: none published per secret; runbooks point at CloudTrail and the logs instead.
 */

type DimensionSets = ReadonlyArray<readonly string[]>;

const lambdaDims: DimensionSets = [['FunctionName'], ['FunctionName', 'Resource'], ['FunctionName', 'ExecutedVersion'], []];
const sqsDims: DimensionSets = [['QueueName']];
const apiDims: DimensionSets = [['ApiName'], ['ApiName', 'Stage'], ['ApiName', 'Method', 'Resource', 'Stage']];
const tableDims: DimensionSets = [['TableName'], ['TableName', 'GlobalSecondaryIndexName']];
const operationDims: DimensionSets = [['TableName', 'Operation']];
const lbDims: DimensionSets = [['LoadBalancer'], ['AvailabilityZone', 'LoadBalancer']];
const targetDims: DimensionSets = [['LoadBalancer', 'TargetGroup'], ['AvailabilityZone', 'LoadBalancer', 'TargetGroup']];
const groupDims: DimensionSets = [['AutoScalingGroupName']];
const serviceDims: DimensionSets = [['ClusterName', 'ServiceName'], ['ClusterName']];

export const AWS_METRICS: Readonly<Record<string, Readonly<Record<string, DimensionSets>>>> = {
  'AWS/Lambda': Object.fromEntries(
    [
      'Invocations',
      'Errors',
      'DeadLetterErrors',
      'DestinationDeliveryFailures',
      'Throttles',
      'ProvisionedConcurrencyInvocations',
      'ProvisionedConcurrencySpilloverInvocations',
      'Duration',
      'PostRuntimeExtensionsDuration',
      'IteratorAge',
      'OffsetLag',
      'ConcurrentExecutions',
      'ProvisionedConcurrentExecutions',
      'ProvisionedConcurrencyUtilization',
      'UnreservedConcurrentExecutions',
    ].map((m) => [m, lambdaDims]),
  ),
  'AWS/SQS': Object.fromEntries(
    [
      'ApproximateAgeOfOldestMessage',
      'ApproximateNumberOfMessagesDelayed',
      'ApproximateNumberOfMessagesNotVisible',
      'ApproximateNumberOfMessagesVisible',
      'NumberOfEmptyReceives',
      'NumberOfMessagesDeleted',
      'NumberOfMessagesReceived',
      'NumberOfMessagesSent',
      'SentMessageSize',
    ].map((m) => [m, sqsDims]),
  ),
  'AWS/ApiGateway': Object.fromEntries(['4XXError', '5XXError', 'CacheHitCount', 'CacheMissCount', 'Count', 'IntegrationLatency', 'Latency'].map((m) => [m, apiDims])),
  'AWS/DynamoDB': {
    ReadThrottleEvents: tableDims,
    WriteThrottleEvents: tableDims,
    ThrottledRequests: operationDims,
    SystemErrors: operationDims,
    SuccessfulRequestLatency: operationDims,
    ReturnedItemCount: operationDims,
    UserErrors: [[]],
    ConsumedReadCapacityUnits: tableDims,
    ConsumedWriteCapacityUnits: tableDims,
    ReplicationLatency: [['TableName', 'ReceivingRegion']],
  },
  'AWS/NetworkELB': {
    ...Object.fromEntries(
      [
        'ActiveFlowCount',
        'ActiveFlowCount_TCP',
        'ActiveFlowCount_TLS',
        'ClientTLSNegotiationErrorCount',
        'ConsumedLCUs',
        'NewFlowCount',
        'NewFlowCount_TCP',
        'NewFlowCount_TLS',
        'ProcessedBytes',
        'ProcessedBytes_TCP',
        'ProcessedBytes_TLS',
        'TargetTLSNegotiationErrorCount',
        'TCP_Client_Reset_Count',
        'TCP_ELB_Reset_Count',
        'TCP_Target_Reset_Count',
      ].map((m) => [m, lbDims]),
    ),
    HealthyHostCount: targetDims,
    UnHealthyHostCount: targetDims,
  },
  'AWS/AutoScaling': Object.fromEntries(
    [
      'GroupMinSize',
      'GroupMaxSize',
      'GroupDesiredCapacity',
      'GroupInServiceInstances',
      'GroupPendingInstances',
      'GroupStandbyInstances',
      'GroupTerminatingInstances',
      'GroupTotalInstances',
    ].map((m) => [m, groupDims]),
  ),
  'ECS/ContainerInsights': Object.fromEntries(
    ['CpuUtilized', 'CpuReserved', 'MemoryUtilized', 'MemoryReserved', 'DesiredTaskCount', 'RunningTaskCount', 'PendingTaskCount', 'DeploymentCount', 'TaskSetCount', 'NetworkRxBytes', 'NetworkTxBytes', 'StorageReadBytes', 'StorageWriteBytes'].map(
      (m) => [m, serviceDims],
    ),
  ),
  'AWS/EC2': Object.fromEntries(['CPUUtilization', 'NetworkIn', 'NetworkOut', 'StatusCheckFailed'].map((m) => [m, [['AutoScalingGroupName'], ['InstanceId']] as DimensionSets])),
  'AWS/Route53': { HealthCheckStatus: [['HealthCheckId']] },
};

/** Problems with an AWS metric reference: an unknown namespace or metric, or dimensions it is not published with. */
export function awsMetricProblems(namespace: string, name: string, dimensionKeys?: readonly string[]): string[] {
  const metrics = AWS_METRICS[namespace];
  if (!metrics) return [`${namespace}: not a namespace in test/monitoring/aws/metric-catalog.ts`];
  const sets = metrics[name];
  if (!sets) return [`${namespace} ${name}: not a documented metric of ${namespace}`];
  if (dimensionKeys === undefined) return [];
  const key = [...dimensionKeys].sort().join(',');
  if (!sets.some((set) => [...set].sort().join(',') === key)) {
    return [`${namespace} ${name}: published with dimensions ${sets.map((s) => `{${s.join(', ')}}`).join(' or ')}, not {${dimensionKeys.join(', ')}}`];
  }
  return [];
}
