import { IgnoreMode, IgnoreStrategy } from 'aws-cdk-lib';
import { join } from 'node:path';
import { IMAGE_BUILD_CONTEXT, IMAGE_CONTEXT_EXCLUDE } from '../../lib/control-plane/control-plane-image';

describe('the control plane image context', () => {
  const strategy = IgnoreStrategy.fromCopyOptions({ exclude: [...IMAGE_CONTEXT_EXCLUDE], ignoreMode: IgnoreMode.DOCKER }, IMAGE_BUILD_CONTEXT);
  const ignored = (relative: string) => strategy.ignores(join(IMAGE_BUILD_CONTEXT, relative));

  test('leaves the pipeline out (a pipeline change does not rebuild the image in 13 regions)', () => {
    expect(ignored('lib/pipeline/pipeline-stack.ts')).toBe(true);
    expect(ignored('lib/pipeline/runtime/alarm-gate.ts')).toBe(true);
    expect(ignored('lib/platform-stacks.ts')).toBe(true);
    expect(ignored('.github/workflows/pr.yml')).toBe(true);
    expect(ignored('ami/scripts/ami.ts')).toBe(true);
  });

  test('keeps what the control plane runs', () => {
    expect(ignored('lib/control-plane/runtime/main.ts')).toBe(false);
    expect(ignored('lib/config/pipeline.ts')).toBe(false);
  });
});
