import * as path from 'path';
import { IgnoreMode } from 'aws-cdk-lib';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';

/** The repository root: the Docker build context (the image needs the lockfile and lib/). */
export const IMAGE_BUILD_CONTEXT = path.join(__dirname, '..', '..');
/** The Dockerfile, relative to the build context. */
export const IMAGE_DOCKERFILE = 'lib/control-plane/Dockerfile';

/**
 * What goes into the build context (Docker ignore-file syntax: exclude everything, then
 * re-include). Only these files feed the asset hash, so a change to tests, docs, the AMI
 * or another component's runtime does not rebuild and redeploy the image in 13 regions.
 */
export const IMAGE_CONTEXT_EXCLUDE: readonly string[] = [
  '*',
  '!package.json',
  '!package-lock.json',
  '!tsconfig.json',
  '!lib',
  // The control plane runtime imports lib/model and lib/config; never a stack (the CDK
  // files beside the runtime, lib/app.ts) or another component's runtime.
  'lib/*.ts',
  'lib/control-plane/*.ts',
  'lib/broker',
  'lib/proxy-fleet',
  'lib/local',
  'lib/monitoring',
  'lib/ops',
  'lib/preflight',
  'lib/pipeline',
  '**/*.test.ts',
  '**/node_modules',
];

/**
 * The control plane image, built by the CDK CLI at deploy time (for linux/arm64, the
 * Fargate task's platform) and pushed to the bootstrap ECR repository. Synth only stages
 * the context: it needs no Docker.
 */
export function controlPlaneImage(): ecs.ContainerImage {
  return ecs.ContainerImage.fromAsset(IMAGE_BUILD_CONTEXT, {
    file: IMAGE_DOCKERFILE,
    platform: Platform.LINUX_ARM64,
    ignoreMode: IgnoreMode.DOCKER,
    exclude: [...IMAGE_CONTEXT_EXCLUDE],
  });
}
