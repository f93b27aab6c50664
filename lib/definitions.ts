/** Moved to lambdas/contracts/definitions.ts (shared by lib/ and lambdas/); kept as a re-export for old imports. */
export * from '../lambdas/contracts/definitions.js';
