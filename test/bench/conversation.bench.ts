/**
 * Conversation actor benchmark against the emulators (dynalite + fauxqs + Secrets Manager):
 * the median cost of handling one customer message (the hot path: idempotency, state, timer
 * tick) and one flush (memory load, echo responder, gates, history, outbound), and the number
 * of DynamoDB round trips each makes, counted by a middleware on the shared DynamoDB client.
 * Target on the message hot path: ≤ 3 writes + 1 read.
 */
process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';

const { startEmulators } = await import('../../bin/local/emulators.js');
const { createRecordProcessor } = await import('../../lambdas/conversation/runtime.js');
const { dynamoClient, resetClients } = await import('../../lambdas/shared/clients.js');
const { tenantSecretName } = await import('../../lambdas/shared/tenant.js');
const { conversationPk, STATE_SK } = await import('../../lambdas/shared/keys.js');
const { lambdaContext } = await import('../helpers/sqs-driver.js');
const { DynamoDBDocumentClient, GetCommand } = await import('@aws-sdk/lib-dynamodb');
type SQSRecord = import('aws-lambda').SQSRecord;

const CONVERSATIONS = 20;
const MESSAGES_PER_CONVERSATION = 5;

const emu = await startEmulators();
Object.assign(process.env, emu.env, { DEBOUNCE_MS: '2500', RESPONDER: 'echo' });
resetClients();
emu.secrets.putSecret(
  tenantSecretName(emu.secretPrefix, 'bench'),
  JSON.stringify({
    tenantId: 'bench',
    channels: { whatsapp: { appSecret: 'a', verifyToken: 'v', accessToken: 't', phoneNumberIds: ['1'] } },
    settings: {},
  }),
);

const reads = new Set([
  'GetCommand',
  'GetItemCommand',
  'QueryCommand',
  'BatchGetCommand',
  'BatchGetItemCommand',
]);
let counts = { reads: 0, writes: 0 };
dynamoClient().middlewareStack.add(
  (next, context) => async (args) => {
    const name = String((context as { commandName?: string }).commandName ?? '');
    if (reads.has(name)) counts.reads += 1;
    else counts.writes += 1;
    return next(args);
  },
  { step: 'initialize', name: 'benchCounter' },
);

const processRecord = createRecordProcessor({ typing: null });
processRecord.registerContext(lambdaContext('bench', 60_000));

let seq = 0;
function record(body: unknown): SQSRecord {
  seq += 1;
  return {
    messageId: `r${seq}`,
    receiptHandle: `h${seq}`,
    body: JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(Date.now()),
      SenderId: 'bench',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:bench',
    awsRegion: 'us-east-1',
  };
}

function message(conv: number, i: number) {
  const conversationId = `1:${conv}`;
  const conversationKey = `bench#whatsapp#${conversationId}`;
  const at = Date.now();
  return {
    v: 1,
    type: 'message',
    tenantId: 'bench',
    channel: 'whatsapp',
    conversationId,
    conversationKey,
    message: {
      tenantId: 'bench',
      channel: 'whatsapp',
      conversationId,
      conversationKey,
      messageId: `wamid.${conv}.${i}`,
      pageId: '1',
      customer: { id: String(conv) },
      timestamp: at,
      receivedAt: at,
      kind: 'text',
      text: `message ${i} of conversation ${conv}`,
      attachments: [],
      surface: 'inbox',
    },
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};

// Warm-up: tenant cache, connections, JIT.
await processRecord(record(message(999, 0)));

const messageMs: number[] = [];
const messageReads: number[] = [];
const messageWrites: number[] = [];
for (let i = 0; i < MESSAGES_PER_CONVERSATION; i += 1) {
  for (let c = 0; c < CONVERSATIONS; c += 1) {
    counts = { reads: 0, writes: 0 };
    const started = performance.now();
    const outcome = await processRecord(record(message(c, i)));
    messageMs.push(performance.now() - started);
    if (outcome !== 'appended') throw new Error(`unexpected outcome ${outcome}`);
    messageReads.push(counts.reads);
    messageWrites.push(counts.writes);
  }
}

const doc = DynamoDBDocumentClient.from(emu.dynamo);
const flushMs: number[] = [];
const flushReads: number[] = [];
const flushWrites: number[] = [];
for (let c = 0; c < CONVERSATIONS; c += 1) {
  const conversationKey = `bench#whatsapp#1:${c}`;
  const state = await doc.send(
    new GetCommand({
      TableName: emu.tables.memory,
      Key: { pk: conversationPk(conversationKey), sk: STATE_SK },
    }),
  );
  const turn = state.Item?.turn as { turnId: string; version: number };
  counts = { reads: 0, writes: 0 };
  const started = performance.now();
  const outcome = await processRecord(
    record({
      v: 1,
      type: 'flush',
      tenantId: 'bench',
      channel: 'whatsapp',
      conversationId: `1:${c}`,
      conversationKey,
      turnId: turn.turnId,
      version: turn.version,
      reason: 'debounce',
      armedAt: Date.now() - 2500,
    }),
  );
  flushMs.push(performance.now() - started);
  if (outcome !== 'answered') throw new Error(`unexpected flush outcome ${outcome}`);
  flushReads.push(counts.reads);
  flushWrites.push(counts.writes);
}

await emu.stop();

const maxReads = Math.max(...messageReads);
const maxWrites = Math.max(...messageWrites);
const ok = maxReads <= 1 && maxWrites <= 3;
console.log(
  `${CONVERSATIONS} conversations × ${MESSAGES_PER_CONVERSATION} messages, echo responder, emulators on loopback\n`,
);
console.log('| measure | median | target | result |');
console.log('|---|---|---|---|');
console.log(`| actor time per message | ${median(messageMs).toFixed(1)} ms | — | — |`);
console.log(`| actor time per flush (5-message turn) | ${median(flushMs).toFixed(1)} ms | — | — |`);
console.log(
  `| DynamoDB round trips per message (max) | ${maxWrites} writes + ${maxReads} reads | ≤ 3 writes + 1 read | ${ok ? 'met' : 'MISSED'} |`,
);
console.log(
  `| DynamoDB round trips per flush (median) | ${median(flushWrites)} writes + ${median(flushReads)} reads | — | — |`,
);

export {};
