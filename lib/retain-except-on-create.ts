import { CfnDeletionPolicy, CfnResource, IAspect } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/**
 * Resource types a rollback may fail to delete, so they keep a plain Retain: CloudFormation
 * cannot delete a bucket that holds objects (the log buckets receive flow and access logs
 * within minutes), and a create rollback that fails to delete a resource ends in
 * ROLLBACK_FAILED. Their names are generated, so a retained one never blocks a retry.
 */
const KEEP_RETAIN = new Set(['AWS::S3::Bucket']);

/**
 * Every resource the stacks retain (DeletionPolicy Retain) becomes RetainExceptOnCreate:
 * still kept on stack deletion, removal and replacement, but deleted by the rollback of the
 * operation that created it. Without it, a failed first deploy leaves its log groups (some
 * with fixed names: /edge/proxy/*, aws-waf-logs-*), keys and the table behind, and the retry
 * fails with "already exists" (CloudFormation DeletionPolicy, RetainExceptOnCreate).
 */
export class RetainExceptOnCreate implements IAspect {
  visit(node: IConstruct): void {
    if (!CfnResource.isCfnResource(node)) return;
    if (node.cfnOptions.deletionPolicy !== CfnDeletionPolicy.RETAIN || KEEP_RETAIN.has(node.cfnResourceType)) return;
    node.cfnOptions.deletionPolicy = CfnDeletionPolicy.RETAIN_EXCEPT_ON_CREATE;
  }
}
