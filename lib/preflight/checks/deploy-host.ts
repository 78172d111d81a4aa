import { CheckDefinition } from '../types';

/**
 * `cdk deploy` builds the control plane's image (a Docker image asset for linux/arm64, the
 * Fargate tasks' platform) on the deploy host and pushes it to each region's bootstrap
 * repository: the host needs Docker (or what CDK_DOCKER names) with a builder for linux/arm64
 * (native on an arm64 host; QEMU emulation registered with binfmt on x86_64).
 */
export const dockerCheck: CheckDefinition = {
  id: 'docker',
  scope: 'deploy-host',
  summary: 'The deploy host can build linux/arm64 images (Docker, or CDK_DOCKER, with a buildx builder that lists linux/arm64): cdk deploy builds the control plane image.',
  async run(ctx) {
    const docker = ctx.docker;
    const install = 'install Docker with the buildx plugin (https://docs.docker.com/engine/install/)';
    const version = await ctx.runCommand(docker, ['version', '--format', '{{.Server.Version}}']).catch((error: Error) => ({ code: -1, stdout: '', stderr: error.message }));
    if (version.code !== 0) {
      const missing = /ENOENT|not found/.test(version.stderr);
      return {
        status: 'fail',
        detail: missing ? `${docker} is not installed` : `${docker} cannot reach its daemon: ${version.stderr.trim().split('\n')[0]}`,
        fix: missing ? install : 'start the Docker daemon (and let this user use it), then run again',
      };
    }
    const builders = await ctx.runCommand(docker, ['buildx', 'ls']).catch((error: Error) => ({ code: -1, stdout: '', stderr: error.message }));
    if (builders.code !== 0) return { status: 'fail', detail: `${docker} has no buildx: ${builders.stderr.trim().split('\n')[0]}`, fix: install };
    if (!/linux\/arm64/.test(builders.stdout)) {
      return {
        status: 'fail',
        detail: `no buildx builder of ${docker} lists linux/arm64`,
        fix: 'on an x86_64 host register QEMU for arm64 (docker run --privileged --rm tonistiigi/binfmt --install arm64), or deploy from an arm64 host',
      };
    }
    return { status: 'pass', detail: `${docker} ${version.stdout.trim()} builds linux/arm64` };
  },
};
