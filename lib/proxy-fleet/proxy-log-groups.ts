import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { logRetention } from '../control-plane/log-retention';

/**
 * The log groups the proxies' CloudWatch agent ships to (see ami/salt/pillar/observability.sls).
 * Created here so they carry the platform's retention: a group the agent creates itself keeps
 * logs forever.
 */
export const PROXY_LOG_GROUP_PREFIX = '/edge/proxy';
export const PROXY_LOG_GROUPS = ['envoy-access', 'system', 'secure', 'audit', 'cloud-init', 'envoy-stats'] as const;
/**
 * Where Envoy writes its JSON access log on a proxy: the file the AMI's CloudWatch agent ships
 * to `<prefix>/envoy-access` (ami/salt/pillar/observability.sls), whose metric filters feed the
 * 5xx alarm. The control plane renders it into the edge listeners (EDGE_ACCESS_LOG_PATH).
 */
export const PROXY_ACCESS_LOG_PATH = '/var/log/envoy/access.log';

export interface ProxyLogGroupsProps {
  readonly retentionDays: number;
}

export class ProxyLogGroups extends Construct {
  readonly groups: readonly logs.LogGroup[];

  constructor(scope: Construct, id: string, props: ProxyLogGroupsProps) {
    super(scope, id);
    this.groups = PROXY_LOG_GROUPS.map(
      (name) =>
        new logs.LogGroup(this, name, {
          logGroupName: `${PROXY_LOG_GROUP_PREFIX}/${name}`,
          retention: logRetention(props.retentionDays),
        }),
    );
  }
}
