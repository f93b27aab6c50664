/** Tenant naming rules shared by the constructs and the runtime. */

/** Tenant ids: safe in URLs, secret names, DynamoDB keys and FIFO group ids. */
export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
