import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Emulator-backed suites start their own servers on ephemeral ports, so files may run in
    // parallel. Three workers on two cores: most integration and e2e time is spent waiting on
    // queues and pollers, not computing (with two CPU hogs beside it: 7.9 min at 2 workers and
    // the larger loads of then, 3.8 min at 3).
    maxWorkers: 3,
    env: {
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      POWERTOOLS_DEV: 'false',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      POWERTOOLS_METRICS_DISABLED: 'true',
      // aws-cdk-lib's built-in CloudFormation template validation (WebAssembly) costs seconds per
      // synth, four times the infra suite's own work; CI's `cdk synth` still runs it on the stack.
      CDK_VALIDATION: 'false',
    },
  },
});
