// Placeholder entry so the CDK app can bundle while the real handler is being written.
export const handler = async (): Promise<never> => {
  throw new Error('conversation handler not implemented yet');
};
