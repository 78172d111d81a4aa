#!/usr/bin/env node
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildEdgeApp } from '../lib/app';
import { ConfigError, loadConfig, pipelinePlaceholderProblems, warnAboutPlaceholders } from '../lib/config';

// aws-cdk-lib's built-in CloudFormation validation stays on (the App default).
const app = new App();
try {
  const config = loadConfig((key) => app.node.tryGetContext(key));
  // Placeholders synthesize (a fresh clone must), but cannot deploy: say so on every synth.
  warnAboutPlaceholders(config);
  for (const problem of pipelinePlaceholderProblems(config.pipeline)) console.warn(`[edge] warning: the pipeline cannot pull its source yet: ${problem}`);
  buildEdgeApp(app, config);
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(1);
  }
  throw err;
}
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
