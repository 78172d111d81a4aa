import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'cdk.out/**', 'cdk.out.*/**', '**/*.js', '**/*.cjs', '**/*.mjs', 'bench-results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
      'no-restricted-imports': 'off',
    },
  },
  {
    // Runtime code runs in Lambda, ECS and the local platform: never aws-cdk-lib.
    files: ['lib/**/runtime/**/*.ts', 'lib/model/**/*.ts', 'lib/config/**/*.ts', 'lib/local/**/*.ts', 'lib/shared/**/*.ts', 'lib/ops/**/*.ts', 'lib/preflight/**/*.ts', 'lib/proxy-fleet/endpoint-services.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['aws-cdk-lib', 'aws-cdk-lib/*', 'constructs', 'cdk-nag'], message: 'runtime code must not import CDK' }] }],
    },
  },
);
