import { runOps } from './cli';

/** `npm run ops -- <command> ...`: the operator CLI (lib/ops/cli.ts, docs/operations.md). */
// The SDK's notice about future Node versions is noise in an operator's terminal (read when a client is created).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
runOps(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`ops: unexpected failure: ${err.stack ?? err.message}\n`);
    process.exitCode = 1;
  },
);
