/** The metric catalogue lives in lambdas/contracts/metrics.ts (shared by lib/ and lambdas/); re-exported here. */
export * from '../contracts/metrics.js';
