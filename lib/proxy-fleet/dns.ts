import { Duration, Tags } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as targets from 'aws-cdk-lib/aws-route53-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { PlatformConfig } from '../config';

/** `<region>.<domain>`: the name of one region's edge. */
export function regionalName(config: PlatformConfig, region: string): string {
  return `${region}.${config.domain}`;
}

/** `*.<domain>`: every tenant name directly under the platform domain. */
export function wildcardName(config: PlatformConfig): string {
  return `*.${config.domain}`;
}

/** The platform's public hosted zone, imported from the config (synth never looks it up). */
export function importHostedZone(scope: Construct, config: PlatformConfig): route53.IHostedZone {
  return route53.HostedZone.fromHostedZoneAttributes(scope, 'HostedZone', {
    hostedZoneId: config.hostedZoneId,
    zoneName: config.domain,
  });
}

export interface EdgeCertificateProps {
  readonly config: PlatformConfig;
  readonly region: string;
  readonly zone: route53.IHostedZone;
}

/**
 * ACM certificate of the region's NLB TLS listener (its default certificate): `<region>.<domain>`,
 * `<domain>` and `*.<domain>`, DNS-validated in the zone. Tenants' names under the platform domain
 * are CNAMEs to `<domain>` and one label deep (the broker refuses deeper ones, which `*.` would not
 * cover: a wildcard protects one subdomain level only, ELB "Server certificates" for NLB), so
 * this one certificate serves them all over HTTPS. Names outside the domain get their own
 * certificates in the listener's certificate list (the broker's worker, by SNI).
 */
export class EdgeCertificate extends Construct {
  readonly certificate: acm.Certificate;

  constructor(scope: Construct, id: string, props: EdgeCertificateProps) {
    super(scope, id);
    this.certificate = new acm.Certificate(this, 'Certificate', {
      domainName: regionalName(props.config, props.region),
      subjectAlternativeNames: [props.config.domain, wildcardName(props.config)],
      validation: acm.CertificateValidation.fromDns(props.zone),
    });
    Tags.of(this).add('component', 'proxy-fleet');
  }
}

export interface EdgeDnsRecordsProps {
  readonly config: PlatformConfig;
  readonly region: string;
  readonly zone: route53.IHostedZone;
  readonly loadBalancer: elbv2.INetworkLoadBalancer;
  /** The target group behind the TLS listener: its healthy proxies decide the region's health. */
  readonly httpsTargetGroup: elbv2.NetworkTargetGroup;
  /** Where the health alarm notifies (ALARM and OK). */
  readonly notifications: sns.ITopic;
}

/**
 * The region's DNS:
 * - `<region>.<domain>`: alias A record to the NLB;
 * - `<domain>`: latency-based alias A record (set identifier = region) with evaluate target
 *   health and a Route 53 health check, so a failing region drops out of the global name.
 *
 * The health check is CloudWatch-alarm based: healthy while the TLS target group has at least one
 * ready proxy (Envoy's `/ready`, which turns 200 only once xDS initialised it). An HTTPS check of
 * `<region>.<domain>` could not test readiness: the readiness port is not exposed through the NLB,
 * and what the traffic port answers depends on the routes teams declared.
 */
export class EdgeDnsRecords extends Construct {
  readonly healthAlarm: cloudwatch.Alarm;
  readonly healthCheck: route53.HealthCheck;
  readonly regionalRecord: route53.ARecord;
  readonly latencyRecord: route53.ARecord;

  constructor(scope: Construct, id: string, props: EdgeDnsRecordsProps) {
    super(scope, id);
    const target = route53.RecordTarget.fromAlias(
      new targets.LoadBalancerTarget(props.loadBalancer, { evaluateTargetHealth: true }),
    );

    this.healthAlarm = new cloudwatch.Alarm(this, 'NoHealthyProxies', {
      alarmDescription: `No ready Envoy proxy behind the ${props.region} edge NLB: the region leaves ${props.config.domain} DNS`,
      metric: props.httpsTargetGroup.metrics.healthyHostCount({ period: Duration.minutes(1), statistic: 'Minimum' }),
      threshold: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.MISSING,
    });
    this.healthAlarm.addAlarmAction(new cwActions.SnsAction(props.notifications));
    this.healthAlarm.addOkAction(new cwActions.SnsAction(props.notifications));

    this.healthCheck = new route53.HealthCheck(this, 'HealthCheck', {
      type: route53.HealthCheckType.CLOUDWATCH_METRIC,
      alarmIdentifier: { region: props.region, name: this.healthAlarm.alarmName },
      insufficientDataHealthStatus: route53.InsufficientDataHealthStatusEnum.LAST_KNOWN_STATUS,
    });

    this.regionalRecord = new route53.ARecord(this, 'RegionalRecord', {
      zone: props.zone,
      recordName: regionalName(props.config, props.region),
      target,
      comment: `Edge platform ${props.config.platformName}: the ${props.region} edge`,
    });
    this.latencyRecord = new route53.ARecord(this, 'LatencyRecord', {
      zone: props.zone,
      recordName: props.config.domain,
      target,
      region: props.region,
      setIdentifier: props.region,
      healthCheck: this.healthCheck,
      comment: `Edge platform ${props.config.platformName}: latency-routed to ${props.region}`,
    });
    Tags.of(this).add('component', 'proxy-fleet');
  }
}
