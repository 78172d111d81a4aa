import { dockerCheck } from '../../lib/preflight/checks/deploy-host';
import { CommandRunner } from '../../lib/preflight/types';
import { context } from './support';

/** A command runner answering per subcommand, recording what ran. */
function host(answers: Record<string, { code: number; stdout?: string; stderr?: string } | Error>) {
  const ran: string[] = [];
  const runCommand: CommandRunner = async (command, args) => {
    ran.push([command, ...args].join(' '));
    const answer = answers[args[0] === 'buildx' ? 'buildx' : args[0]];
    if (answer instanceof Error) throw answer;
    return { code: answer.code, stdout: answer.stdout ?? '', stderr: answer.stderr ?? '' };
  };
  return { runCommand, ran };
}

const BUILDX_ARM64 = 'NAME/NODE     DRIVER/ENDPOINT  STATUS   BUILDKIT PLATFORMS\ndefault*      docker\n \\_ default    \\_ default       running  v0.23.0  linux/amd64, linux/arm64, linux/386\n';

describe('docker (the deploy host builds the control plane image for linux/arm64)', () => {
  test('pass: a daemon and a builder for linux/arm64', async () => {
    const { runCommand, ran } = host({ version: { code: 0, stdout: '28.1.1\n' }, buildx: { code: 0, stdout: BUILDX_ARM64 } });
    expect(await dockerCheck.run(context({}, { runCommand }), 'us-east-1')).toMatchObject({ status: 'pass', detail: 'docker 28.1.1 builds linux/arm64' });
    expect(ran).toEqual(['docker version --format {{.Server.Version}}', 'docker buildx ls']);
  });

  test('uses CDK_DOCKER (what the CDK CLI builds with)', async () => {
    const { runCommand, ran } = host({ version: { code: 0, stdout: '5.0\n' }, buildx: { code: 0, stdout: 'linux/arm64' } });
    await dockerCheck.run(context({}, { runCommand, docker: 'finch' }), 'us-east-1');
    expect(ran[0].startsWith('finch ')).toBe(true);
  });

  test.each([
    ['not installed', { version: Object.assign(new Error('spawn docker ENOENT'), { code: 'ENOENT' }), buildx: { code: 0 } }, 'docker is not installed'],
    ['no daemon', { version: { code: 1, stderr: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n' }, buildx: { code: 0 } }, 'docker cannot reach its daemon: Cannot connect'],
    ['no buildx', { version: { code: 0, stdout: '28\n' }, buildx: { code: 1, stderr: "docker: 'buildx' is not a docker command.\n" } }, 'docker has no buildx'],
    ['an x86_64 host without arm64 emulation', { version: { code: 0, stdout: '28\n' }, buildx: { code: 0, stdout: 'default* docker\n  default default running v0.23.0 linux/amd64, linux/386\n' } }, 'no buildx builder of docker lists linux/arm64'],
  ])('fail: %s, with the fix', async (_name, answers, message) => {
    const { runCommand } = host(answers as never);
    const result = await dockerCheck.run(context({}, { runCommand }), 'us-east-1');
    expect(result).toMatchObject({ status: 'fail', detail: expect.stringContaining(message) });
    expect(result.fix).toBeDefined();
  });
});
