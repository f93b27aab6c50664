/**
 * A delaying HTTP proxy in front of an emulator (dynalite, fauxqs, Secrets Manager): every
 * request waits a fixed latency, and a seeded share of them stalls much longer, before it is
 * forwarded unchanged. The handlers reach the emulator through it (its URL in their
 * `AWS_ENDPOINT_URL_*`), so every SDK client they build is slowed, whoever built it.
 *
 * The stall schedule is a function of the seed and the request's arrival index: the same
 * seed gives the same sequence of delays. Which request gets which index depends on the
 * interleaving, which is why the tests that use it assert counts and order, never times.
 */
import { Agent, createServer, type IncomingMessage, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a proxy does to each request. */
export interface FaultProfile {
  /** Seed of the stall schedule. */
  readonly seed: number;
  /** Delay added to every request, ms. */
  readonly latencyMs: number;
  /** Extra delay of a stalled request, ms. @default 0 */
  readonly stallMs?: number;
  /** Probability that a request stalls (0–1). @default 0 */
  readonly stallProbability?: number;
}

/** A running proxy. */
export interface FaultProxy {
  /** `http://127.0.0.1:PORT`: use it as the endpoint. */
  readonly url: string;
  /** Requests forwarded so far. */
  readonly requests: () => number;
  /** Requests that stalled so far. */
  readonly stalls: () => number;
  readonly stop: () => Promise<void>;
}

/** Mulberry32: a small seeded PRNG with a full 2^32 period, returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The delay of the next request under `profile`, drawing from the seeded `random`. */
export function delayOf(profile: FaultProfile, random: () => number): number {
  const stalled = (profile.stallProbability ?? 0) > 0 && random() < (profile.stallProbability ?? 0);
  return profile.latencyMs + (stalled ? (profile.stallMs ?? 0) : 0);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Starts a proxy that forwards to `target` (`http://host:port`) with the faults of `profile`. */
export async function startFaultProxy(target: string, profile: FaultProfile): Promise<FaultProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const random = seededRandom(profile.seed);
  let forwarded = 0;
  let stalled = 0;
  const server: Server = createServer((req, res) => {
    // Draw the delay at arrival, so the schedule follows the arrival order.
    const delay = delayOf(profile, random);
    if (delay > profile.latencyMs) stalled += 1;
    void (async () => {
      const body = await readAll(req);
      await sleep(delay);
      forwarded += 1;
      const out = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: upstream.host },
          agent,
        },
        (upstreamRes) => {
          res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
          upstreamRes.pipe(res);
        },
      );
      out.on('error', (err) => {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(String(err));
      });
      out.end(body);
    })().catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(String(err));
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => forwarded,
    stalls: () => stalled,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
