/**
 * The contracts between chat-relay's infrastructure (lib/) and its runtime (lambdas/): queue and
 * table definitions, the metric catalogue, environment variable names, defaults, channel names,
 * tenant naming and the public responder types. This folder imports nothing outside itself, so
 * lib/ can depend on it without pulling in runtime code, and the runtime never imports lib/.
 */
export * from './audit.js';
export * from './channels.js';
export * from './defaults.js';
export * from './definitions.js';
export * from './env.js';
export * from './metrics.js';
export * from './responder.js';
export * from './tenant.js';
