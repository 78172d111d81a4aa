/**
 * What the broker and the fleet (and its control plane) agree on for tenant names (issue 12).
 * The fleet stack writes these, the broker's worker reads them; see docs/broker.md, "Custom
 * domains" and "Not done / limits" (what phase 2 adds).
 */

/**
 * SSM parameter, in region R, holding the ARN of R's edge NLB TLS (443) listener: where the
 * worker attaches the certificates of custom domains by SNI. The fleet stack of R writes it.
 */
export function edgeListenerParameterName(platformName: string, region: string): string {
  return `/${platformName}/fleet/${region}/edge-https-listener-arn`;
}

/**
 * The header CloudFront adds to every origin request of a `cdn` distribution, with the
 * secret value (Secrets Manager; current or previous version during a rotation). The edge
 * refuses a `cdn` hostname that arrives without it, and removes it before the backends.
 * CloudFront will not add headers named `X-Amz-*` or `X-Edge-*` (nor Host, Via, ...):
 * https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/add-origin-custom-headers.html
 */
export const CDN_ORIGIN_HEADER = 'x-cdn-origin-verify';

/**
 * The name of the cdn origin secret: the broker stack creates it in the home region with a
 * replica in every fleet region (a replica has the primary's name and ARN suffix, in its own
 * region), and each region's control plane reads its replica by this name.
 */
export function cdnOriginSecretName(platformName: string): string {
  return `${platformName}/cdn-origin-secret`;
}

/** Tags every certificate and distribution the broker creates carries (the worker's IAM is scoped to them). */
export const PLATFORM_TAG = 'platform';
export const INSTANCE_TAG = 'instance';
export const PURPOSE_TAG = 'purpose';
