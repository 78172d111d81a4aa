import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

export interface LogsBucketProps {
  /** Days after which log objects expire. */
  readonly retentionDays: number;
}

/**
 * The region's log bucket: NLB access logs (`nlb/`) and VPC flow logs (`vpc-flow-logs/`).
 * SSE-S3, not SSE-KMS: NLB access log delivery only supports S3-managed keys.
 */
export class LogsBucket extends Construct {
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: LogsBucketProps) {
    super(scope, id);
    this.bucket = new s3.Bucket(this, 'Bucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned: false,
      lifecycleRules: [
        {
          id: 'expire-logs',
          expiration: Duration.days(props.retentionDays),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      // Logs are evidence: keep them when the stack goes away; the lifecycle rule still expires them.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This bucket is the log sink itself (NLB access logs, VPC flow logs); logging its own access would need another log bucket per region, and AWS log delivery is the only writer (bucket policy).',
    });
  }
}
