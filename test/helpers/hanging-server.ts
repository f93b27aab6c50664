/**
 * A dependency that hangs: an HTTP server that accepts every request, reads it, and never
 * answers. Point an SDK client's endpoint at it to see what a stalled SQS or Secrets Manager
 * does to a caller. It records arrivals and the moments the caller gives up (closes the
 * connection), so tests wait on those events instead of on the clock.
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HangingServer {
  /** `http://127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** Requests received so far, in order, with their `x-amz-target` header. */
  readonly requests: readonly { readonly target: string | undefined; readonly body: string }[];
  /** How many of them the client closed (aborted or timed out). */
  readonly closed: () => number;
  /** Resolves once `n` requests have arrived. */
  readonly arrived: (n: number) => Promise<void>;
  /** Resolves once the client has closed `n` of them. */
  readonly closedCount: (n: number) => Promise<void>;
  readonly stop: () => Promise<void>;
}

function waiter(): { bump: () => void; until: (n: number) => Promise<void>; count: () => number } {
  let count = 0;
  const waiting: { n: number; resolve: () => void }[] = [];
  return {
    bump: () => {
      count += 1;
      for (const w of waiting.filter((x) => x.n <= count)) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve();
      }
    },
    until: (n) =>
      count >= n ? Promise.resolve() : new Promise<void>((resolve) => waiting.push({ n, resolve })),
    count: () => count,
  };
}

/** Starts a server on a free loopback port. */
export async function startHangingServer(): Promise<HangingServer> {
  const requests: { target: string | undefined; body: string }[] = [];
  const arrivals = waiter();
  const closes = waiter();
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      const target = req.headers['x-amz-target'];
      requests.push({ target: Array.isArray(target) ? target[0] : target, body });
      arrivals.bump();
    });
    // Never answered: the only way this closes is the client giving up.
    res.on('close', () => closes.bump());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    closed: closes.count,
    arrived: arrivals.until,
    closedCount: closes.until,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
