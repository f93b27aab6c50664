/**
 * The console as the local stack mounts it: built from the emulators, the tenants and the
 * sandbox, then given the stack's URL and SQS client once they exist (`attach`).
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { TenantDocument } from '../../../lambdas/shared/tenant.js';
import type { DlqKind } from '../../ops/redrive.js';
import { openTrail } from '../../ops/trail.js';
import type { EmulatorThread } from '../emulator-thread.js';
import { LOCAL_CREDENTIALS } from '../emulators.js';
import type { SandboxHandler } from '../sandbox.js';
import { consoleScript } from './assets.js';
import { type ConsoleMount, createConsole } from './server.js';

/** The console mounted in the local stack. */
export interface LocalConsole extends ConsoleMount {
  /** The stack's URL (loopback when it listens on a wildcard address) and its SQS client. */
  attach(url: string, sqs: SQSClient): void;
}

/** Opens the trail on the stack's memory table and creates the console. */
export async function mountConsole(options: {
  readonly emulators: Pick<EmulatorThread, 'tables' | 'queues' | 'dynamoEndpoint' | 'region'>;
  readonly tenants: readonly TenantDocument[];
  readonly sandbox: SandboxHandler;
  readonly log: { warn(message: string): void };
}): Promise<LocalConsole> {
  const { emulators } = options;
  // Bundle the page's script now, off the first visitor's clock.
  void consoleScript().catch((err: unknown) =>
    options.log.warn(`console: bundling the page failed: ${String(err)}`),
  );
  const trail = await openTrail({
    table: emulators.tables.memory,
    endpoint: emulators.dynamoEndpoint,
    region: emulators.region,
    credentials: LOCAL_CREDENTIALS,
  });
  let url = '';
  let sqs: SQSClient | undefined;
  const q = emulators.queues;
  const queues: Record<DlqKind, { queueUrl: string; dlqUrl: string }> = {
    inbound: { queueUrl: q.inbound.url, dlqUrl: q.inbound.dlqUrl },
    outbound: { queueUrl: q.outbound.url, dlqUrl: q.outbound.dlqUrl },
    timer: { queueUrl: q.timer.url, dlqUrl: q.timer.dlqUrl },
    media: { queueUrl: q.mediaJobs.url, dlqUrl: q.mediaJobs.dlqUrl },
  };
  const mount = createConsole({
    url: () => url,
    tenants: options.tenants,
    trail: () => trail,
    sandbox: options.sandbox,
    sqs: () => sqs,
    queues: () => queues,
    log: options.log,
  });
  return {
    ...mount,
    attach: (stackUrl, client) => {
      url = stackUrl;
      sqs = client;
    },
    stop: () => {
      mount.stop();
      trail.close();
    },
  };
}
