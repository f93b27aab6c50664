/**
 * Mounts the sandbox platform (bin/local/sandbox.ts) under `/sandbox/*` of the local stack's
 * HTTP server, so the default API base URLs (`{url}/sandbox/{pancake|graph|telegram|zalo}`)
 * reach it; `GET /sandbox/messages` lists the messages sent, `GET /sandbox/requests` every request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createSandboxHandler, type SandboxHandler } from './sandbox.js';

/** The sandbox as the local stack's server uses it. */
export interface SandboxMount {
  /** Serves one request whose path starts with `/sandbox`. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** The sandbox itself (records, fault injection) for in-process callers. */
  readonly sandbox: SandboxHandler;
  stop(): Promise<void>;
}

/** Creates the sandbox and its mount. */
export function mountSandbox(journalPath?: string): SandboxMount {
  const sandbox = createSandboxHandler(journalPath !== undefined ? { journalPath } : {});
  return {
    sandbox,
    handle: async (req, res) => {
      const handled = await sandbox.handle(req, res);
      if (!handled && !res.headersSent) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'No such sandbox path.' } }));
      }
    },
    stop: async () => {
      sandbox.close();
    },
  };
}
