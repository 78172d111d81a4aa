/**
 * Reads a synthesized CloudFormation template as the services would see it after deploy:
 * intrinsic functions resolved to strings, with the physical names CloudFormation gives
 * (a resource's own name property when it has one, a name derived from its logical id
 * otherwise), in a known account and region.
 */

export interface CfnResource {
  Type: string;
  Properties: Record<string, unknown>;
}
export type Resources = Record<string, CfnResource>;

export interface Place {
  readonly account: string;
  readonly region: string;
  readonly partition?: string;
}

/** The name CloudFormation gives a resource that has no name property: derived from the stack and logical id. */
const generatedName = (logicalId: string) => `gen-${logicalId}`;

export class TemplateReader {
  readonly partition: string;

  constructor(
    readonly stackName: string,
    readonly resources: Resources,
    readonly place: Place,
  ) {
    this.partition = place.partition ?? 'aws';
  }

  resource(logicalId: string): CfnResource {
    const r = this.resources[logicalId];
    if (!r) throw new Error(`${this.stackName}: no resource ${logicalId}`);
    return r;
  }

  ofType(type: string): Array<[string, CfnResource]> {
    return Object.entries(this.resources).filter(([, r]) => r.Type === type);
  }

  private arn(service: string, resource: string, region = this.place.region, account = this.place.account): string {
    return `arn:${this.partition}:${service}:${region}:${account}:${resource}`;
  }

  /** What `Ref` returns for a resource (per the CloudFormation resource reference). */
  private ref(logicalId: string): string {
    const r = this.resource(logicalId);
    const p = r.Properties ?? {};
    const name = (key: string) => (p[key] !== undefined ? this.resolve(p[key]) : generatedName(logicalId));
    switch (r.Type) {
      case 'AWS::SNS::Topic':
        return this.arn('sns', String(name('TopicName')));
      case 'AWS::CloudWatch::Alarm':
        return String(name('AlarmName'));
      case 'AWS::CloudWatch::CompositeAlarm':
        return String(name('AlarmName'));
      case 'AWS::DynamoDB::GlobalTable':
      case 'AWS::DynamoDB::Table':
        return String(name('TableName'));
      case 'AWS::Lambda::Function':
        return String(name('FunctionName'));
      case 'AWS::AutoScaling::AutoScalingGroup':
        return String(name('AutoScalingGroupName'));
      case 'AWS::ECS::Cluster':
        return String(name('ClusterName'));
      case 'AWS::SQS::Queue':
        return `https://sqs.${this.place.region}.amazonaws.com/${this.place.account}/${name('QueueName')}`;
      case 'AWS::KMS::Key':
        return `key-${logicalId}`;
      case 'AWS::Events::Rule':
        return String(name('Name'));
      case 'AWS::ApiGateway::RestApi':
        return `api-${logicalId}`;
      default:
        return generatedName(logicalId);
    }
  }

  /** What `Fn::GetAtt` returns. */
  private getAtt(logicalId: string, attribute: string): string {
    const r = this.resource(logicalId);
    const p = r.Properties ?? {};
    const name = (key: string) => (p[key] !== undefined ? String(this.resolve(p[key])) : generatedName(logicalId));
    switch (`${r.Type}.${attribute}`) {
      case 'AWS::CloudWatch::Alarm.Arn':
        return this.arn('cloudwatch', `alarm:${name('AlarmName')}`);
      case 'AWS::CloudWatch::CompositeAlarm.Arn':
        return this.arn('cloudwatch', `alarm:${name('AlarmName')}`);
      case 'AWS::KMS::Key.Arn':
        return this.arn('kms', `key/${this.ref(logicalId)}`);
      case 'AWS::Events::Rule.Arn':
        return this.arn('events', `rule/${name('Name')}`);
      case 'AWS::SQS::Queue.QueueName':
        return name('QueueName');
      case 'AWS::SQS::Queue.Arn':
        return this.arn('sqs', name('QueueName'));
      case 'AWS::SNS::Topic.TopicName':
        return name('TopicName');
      case 'AWS::SNS::Topic.TopicArn':
        return this.ref(logicalId);
      case 'AWS::ECS::Service.Name':
        return name('ServiceName');
      case 'AWS::ElasticLoadBalancingV2::LoadBalancer.LoadBalancerFullName':
        return `net/${logicalId}/0123456789abcdef`;
      case 'AWS::ElasticLoadBalancingV2::TargetGroup.TargetGroupFullName':
        return `targetgroup/${logicalId}/0123456789abcdef`;
      case 'AWS::Lambda::Function.Arn':
        return this.arn('lambda', `function:${name('FunctionName')}`);
      default:
        return `${generatedName(logicalId)}.${attribute}`;
    }
  }

  /** Resolves intrinsic functions (Ref, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split, Fn::Sub) in a value. */
  resolve(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    if (!value || typeof value !== 'object') return value;
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1) {
      const [key, arg] = entries[0];
      switch (key) {
        case 'Ref':
          return this.pseudo(arg as string) ?? this.ref(arg as string);
        case 'Fn::GetAtt': {
          const [id, attribute] = Array.isArray(arg) ? (arg as string[]) : String(arg).split('.');
          return this.getAtt(id, attribute);
        }
        case 'Fn::Join': {
          const [separator, parts] = arg as [string, unknown[]];
          return (this.resolve(parts) as unknown[]).map(String).join(separator);
        }
        case 'Fn::Select': {
          const [index, list] = arg as [number, unknown];
          return (this.resolve(list) as unknown[])[Number(this.resolve(index))];
        }
        case 'Fn::Split': {
          const [separator, source] = arg as [string, unknown];
          return String(this.resolve(source)).split(separator);
        }
        case 'Fn::Sub': {
          const [text, vars] = Array.isArray(arg) ? (arg as [string, Record<string, unknown>]) : [arg as string, {}];
          return text.replace(/\$\{([^}]+)\}/g, (_, name: string) => {
            if (name in vars) return String(this.resolve(vars[name]));
            const [id, attribute] = name.split('.');
            return String(attribute ? this.getAtt(id, attribute) : (this.pseudo(id) ?? this.ref(id)));
          });
        }
        default:
          if (key.startsWith('Fn::')) throw new Error(`${this.stackName}: intrinsic ${key} is not modelled`);
      }
    }
    return Object.fromEntries(entries.map(([k, v]) => [k, this.resolve(v)]));
  }

  private pseudo(name: string): string | undefined {
    switch (name) {
      case 'AWS::Partition':
        return this.partition;
      case 'AWS::Region':
        return this.place.region;
      case 'AWS::AccountId':
        return this.place.account;
      case 'AWS::URLSuffix':
        return 'amazonaws.com';
      case 'AWS::StackName':
        return this.stackName;
      default:
        return undefined;
    }
  }
}
