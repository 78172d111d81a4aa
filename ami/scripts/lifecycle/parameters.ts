import { GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { isNamed, withRetry } from './aws';
import { CommandContext } from './context';

/**
 * Writes an `aws:ec2:image` String parameter and reads it back until it holds `imageId`. SSM
 * checks an aws:ec2:image value asynchronously: PutParameter answers 200 before the check, and a
 * value that fails it is neither created nor updated (SSM API reference, PutParameter DataType).
 * So a region counts as changed only once a read returns the new value.
 */
export async function putImageParameter(ctx: CommandContext, region: string, name: string, imageId: string, options: { overwrite: boolean; description: string }): Promise<void> {
  const { ssm } = ctx.clients(region);
  await withRetry(
    () => ssm.send(new PutParameterCommand({ Name: name, Value: imageId, Type: 'String', DataType: 'aws:ec2:image', Overwrite: options.overwrite, Description: options.description })),
    ctx.retry,
  );
  await confirmParameter(ctx, region, name, imageId);
}

export async function confirmParameter(ctx: CommandContext, region: string, name: string, imageId: string, reads = 10, intervalMs = 3000): Promise<void> {
  const { ssm } = ctx.clients(region);
  let seen: string | undefined;
  for (let i = 0; i < reads; i++) {
    try {
      seen = (await withRetry(() => ssm.send(new GetParameterCommand({ Name: name })), ctx.retry)).Parameter?.Value;
      if (seen === imageId) return;
    } catch (error) {
      if (!isNamed(error, 'ParameterNotFound')) throw error;
    }
    await ctx.sleep(intervalMs);
  }
  throw new Error(`${name} still reads ${seen ?? '(nothing)'} after writing ${imageId}: SSM's aws:ec2:image check refused the image or is late (aws ssm get-parameter --name ${name} --region ${region}; EventBridge "Parameter Store Change" events say why)`);
}

/** The parameter's value, or undefined when it does not exist. */
export async function readParameter(ctx: CommandContext, region: string, name: string): Promise<string | undefined> {
  try {
    return (await withRetry(() => ctx.clients(region).ssm.send(new GetParameterCommand({ Name: name })), ctx.retry)).Parameter?.Value;
  } catch (error) {
    if (isNamed(error, 'ParameterNotFound')) return undefined;
    throw error;
  }
}
