/**
 * Knowledge benchmark (`npm run bench -- knowledge`), two parts:
 *
 * 1. Local retrieval latency and its share of a turn: a tenant folder with a 500-product CSV
 *    catalogue and a 40-section FAQ is indexed by the local retriever; the cold index build and
 *    the warm query latency (p50/p95 over 60 queries) are timed, then 30 bedrock turns against
 *    the fake Bedrock (in process, h2c) measure the responder call and the retrieval inside it.
 *    The fake answers at once, so the share is of our own work per turn; add the model's
 *    latency to judge it against a real Converse call.
 * 2. Tokens per turn, with and without the prompt cache points (after the stable system text,
 *    and after the history), on a fixed 20-turn conversation against the fake with usage
 *    emulation (tokens ≈ UTF-8 bytes of the request JSON / 4; a prefix up to a cache point is
 *    written once and read while unchanged, when it reaches the model's minimum: 1024 tokens for
 *    Claude Sonnet 4.x, 4096 for Claude Haiku 4.5). "Billed" counts input-token equivalents at
 *    Bedrock's Claude ratios: cache write 1.25×, read 0.1×.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HistoryEntry, TurnContext } from '../../lambdas/contracts/responder.js';
import { startFakeBedrock, toolReply } from '../helpers/fake-bedrock.js';

process.env.AWS_ACCESS_KEY_ID ??= 'bench';
process.env.AWS_SECRET_ACCESS_KEY ??= 'bench';
process.env.AWS_REGION ??= 'us-east-1';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const KINDS = [
  'Áo thun',
  'Áo sơ mi',
  'Quần jean',
  'Quần short',
  'Váy',
  'Đầm',
  'Áo khoác',
  'Mũ',
  'Túi',
  'Giày',
];
const STYLES = [
  'basic',
  'oversize',
  'slim',
  'cổ tròn',
  'cổ bẻ',
  'kẻ sọc',
  'trơn',
  'in hình',
  'dáng rộng',
  'thể thao',
];
const COLOURS = ['trắng', 'đen', 'xanh navy', 'be', 'hồng'];

function catalogue(): string {
  const rows = ['sku,name,price,sizes,colour,stock'];
  for (let i = 0; i < 500; i += 1) {
    const name = `${KINDS[i % 10]} ${STYLES[Math.floor(i / 10) % 10]} ${COLOURS[Math.floor(i / 100) % 5]}`;
    rows.push(`SP${1000 + i},${name},${149000 + (i % 37) * 10000},S M L XL,${COLOURS[i % 5]},${i % 23}`);
  }
  return `${rows.join('\n')}\n`;
}

function faq(): string {
  const topics = [
    'Giao hàng',
    'Đổi trả',
    'Thanh toán',
    'Bảo hành',
    'Size',
    'Khuyến mãi',
    'Cửa hàng',
    'Đặt hàng',
  ];
  const out: string[] = [];
  for (let i = 0; i < 40; i += 1) {
    const topic = topics[i % topics.length]!;
    out.push(
      `# ${topic} ${i + 1}\n${topic} áp dụng cho mọi đơn hàng trong nước. Thời gian xử lý từ 1 đến ${2 + (i % 4)} ngày làm việc. Liên hệ fanpage để được hỗ trợ thêm về ${topic.toLowerCase()}, phí và các điều kiện đi kèm.`,
    );
  }
  return out.join('\n\n');
}

const QUERIES = [
  'áo thun basic trắng giá bao nhiêu',
  'quan jean slim con size 30 khong',
  'shop đổi trả thế nào',
  'giao hàng mất mấy ngày',
  'váy in hình màu hồng còn không',
  'thanh toan khi nhan hang duoc khong',
];

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};
const ms = (n: number): string => `${n.toFixed(2)} ms`;

const SHORT_PERSONA =
  'Bạn là Lan, tư vấn viên của shop thời trang Hoa. Xưng "shop", gọi khách là "chị" hoặc "anh".';
const LONG_PERSONA = `${SHORT_PERSONA}\n${[
  'Chính sách giao hàng: giao toàn quốc qua GHN và GHTK, nội thành 1-2 ngày, tỉnh 3-5 ngày; miễn phí giao cho đơn từ 500.000đ.',
  'Chính sách đổi trả: đổi size hoặc mẫu trong 7 ngày, sản phẩm còn tem mác, chưa giặt; không đổi hàng sale.',
  'Thanh toán: COD, chuyển khoản, ví điện tử. Đơn trên 2.000.000đ cần đặt cọc 30%.',
  'Giờ làm việc: 8h-22h mỗi ngày, kể cả cuối tuần. Ngoài giờ, hẹn khách nhân viên gọi lại.',
  'Cách tư vấn size: hỏi chiều cao, cân nặng; dưới 50kg size S, 50-60kg size M, 60-70kg size L, trên 70kg size XL.',
  'Không hứa thời gian giao cụ thể khi chưa có mã vận đơn. Không tự ý giảm giá. Khi khách phàn nàn, xin lỗi và chuyển nhân viên.',
].join(
  '\n',
)}\n${'Lưu ý tư vấn: luôn hỏi lại màu và size trước khi chốt đơn, nhắc khách kiểm tra địa chỉ, số điện thoại nhận hàng. '.repeat(25)}`;

const SCRIPT = [
  'Chào shop',
  'Áo thun basic trắng còn không?',
  'Giá bao nhiêu vậy?',
  'Mình cao 1m60 nặng 52kg mặc size gì?',
  'Có màu đen không?',
  'Quần jean slim giá sao?',
  'Size 29 còn không?',
  'Giao về Đà Nẵng mất mấy ngày?',
  'Phí ship bao nhiêu?',
  'Mua 2 áo 1 quần có được freeship không?',
  'Thanh toán khi nhận hàng được không?',
  'Nếu không vừa thì đổi được không?',
  'Đổi trong bao lâu?',
  'Ok mình lấy 1 áo thun trắng size M',
  'Thêm 1 quần jean slim size 29',
  'Địa chỉ: 12 Lê Lợi, Hải Châu, Đà Nẵng',
  'Số điện thoại 0905123456',
  'Khi nào giao tới?',
  'Có mã giảm giá không shop?',
  'Cảm ơn shop nhé',
];

async function main(): Promise<void> {
  const { LocalRetriever } = await import('../../lambdas/knowledge/local-retriever.js');
  const { BedrockResponder } = await import('../../lambdas/responders/bedrock.js');
  const { parseTenantDocument } = await import('../../lambdas/shared/tenant.js');
  const dir = mkdtempSync(join(tmpdir(), 'knowledge-bench-'));
  mkdirSync(join(dir, 'shop'), { recursive: true });
  writeFileSync(join(dir, 'shop', 'products.csv'), catalogue());
  writeFileSync(join(dir, 'shop', 'faq.md'), faq());
  const fake = await startFakeBedrock(
    () => toolReply({ messages: ['Dạ shop xin phép kiểm tra và báo chị ngay ạ.'] }),
    {
      tokens: true,
    },
  );
  try {
    // ---- 1. retrieval latency ----
    const cold = new LocalRetriever({ dir });
    const coldStart = performance.now();
    const passages = await cold.size('shop');
    const coldMs = performance.now() - coldStart;
    const warm: number[] = [];
    for (let i = 0; i < 60; i += 1) {
      const started = performance.now();
      await cold.retrieve({ tenantId: 'shop', query: QUERIES[i % QUERIES.length]!, topK: 5 });
      warm.push(performance.now() - started);
    }

    const tenantDoc = parseTenantDocument({
      tenantId: 'shop',
      channels: {},
      settings: { persona: SHORT_PERSONA },
    });
    const responder = new BedrockResponder({
      endpoint: fake.url,
      retriever: cold,
      loadTenant: async () => tenantDoc,
      promptCache: true,
    });
    const context = (i: number, history: HistoryEntry[] = [], persona = SHORT_PERSONA): TurnContext => ({
      tenantId: 'shop',
      channel: 'messenger',
      conversationId: 'p:c',
      conversationKey: 'shop#messenger#p:c',
      turnId: `turn-${i}`,
      settings: { persona, language: 'vi', bannedPhrases: [], fallbackReply: 'x' },
      customer: { id: 'c' },
      facts: {},
      history,
      summaries: [],
      messages: [
        {
          messageId: `m${i}`,
          kind: 'text',
          text: QUERIES[i % QUERIES.length]!,
          timestamp: i,
          attachments: [],
        },
      ],
      maxReplyLength: 2000,
    });
    for (let i = 0; i < 5; i += 1) await responder.respond(context(1000 + i)); // warm-up
    const turns: number[] = [];
    const retrievals: number[] = [];
    for (let i = 0; i < 30; i += 1) {
      const started = performance.now();
      const reply = await responder.respond(context(i));
      turns.push(performance.now() - started);
      retrievals.push(reply.diagnostics?.retrieval?.latencyMs ?? 0);
    }
    const share = retrievals.reduce((a, b) => a + b, 0) / turns.reduce((a, b) => a + b, 0);

    console.log('### Local retrieval (500-product CSV + 40-section FAQ)\n');
    console.log('| measure | value |\n|---|---|');
    console.log(`| passages indexed | ${passages} |`);
    console.log(`| cold index build (first query of a tenant) | ${ms(coldMs)} |`);
    console.log(
      `| warm query p50 / p95 (60 queries, top 5) | ${ms(percentile(warm, 50))} / ${ms(percentile(warm, 95))} |`,
    );
    console.log(
      `| bedrock turn against the in-process fake, p50 / p95 (30 turns) | ${ms(percentile(turns, 50))} / ${ms(percentile(turns, 95))} |`,
    );
    console.log(`| retrieval inside that turn, p50 (whole ms) | ${percentile(retrievals, 50)} ms |`);
    console.log(`| retrieval's share of the turn (sum over 30 turns) | ${(share * 100).toFixed(1)} % |`);

    // ---- 2. tokens with and without caching ----
    console.log('\n### Tokens per turn, fixed 20-turn script (mean per turn)\n');
    console.log(
      '| persona | stable prefix (tokens) | cache minimum | caching | input | cache write | cache read | output | billed input-equivalent |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const [label, persona] of [
      ['short (95 chars)', SHORT_PERSONA],
      [`long (${LONG_PERSONA.length} chars)`, LONG_PERSONA],
    ] as const) {
      for (const minTokens of [1024, 4096]) {
        for (const cache of [false, true]) {
          const bench = await startFakeBedrock(
            () => toolReply({ messages: ['Dạ shop xin phép kiểm tra và báo chị ngay ạ.'] }),
            { tokens: true, cacheMinTokens: minTokens },
          );
          const r = new BedrockResponder({
            endpoint: bench.url,
            retriever: new LocalRetriever({ dir }),
            loadTenant: async () => tenantDoc,
            promptCache: cache,
          });
          const history: HistoryEntry[] = [];
          const sum = { input: 0, cacheWrite: 0, cacheRead: 0, output: 0 };
          let prefix = 0;
          for (let i = 0; i < SCRIPT.length; i += 1) {
            const ctx = {
              ...context(i, [...history], persona),
              messages: [
                { messageId: `s${i}`, kind: 'text', text: SCRIPT[i]!, timestamp: i, attachments: [] },
              ],
            };
            const reply = await r.respond(ctx);
            const t = reply.diagnostics?.tokens;
            sum.input += t?.input ?? 0;
            sum.output += t?.output ?? 0;
            sum.cacheWrite += t?.cacheWrite ?? 0;
            sum.cacheRead += t?.cacheRead ?? 0;
            history.push(
              { role: 'customer', text: SCRIPT[i]!, at: i * 2 },
              { role: 'bot', text: reply.messages[0]?.text ?? '', at: i * 2 + 1 },
            );
            if (i === 0) {
              const body = bench.requests[0]!.body;
              prefix =
                Math.ceil(Buffer.byteLength(JSON.stringify(body.toolConfig.tools)) / 4) +
                Math.ceil(Buffer.byteLength(JSON.stringify(body.system.slice(0, 1))) / 4);
            }
          }
          await bench.close();
          const n = SCRIPT.length;
          const billed = (sum.input + 1.25 * sum.cacheWrite + 0.1 * sum.cacheRead) / n;
          console.log(
            `| ${label} | ${prefix} | ${minTokens} | ${cache ? 'on' : 'off'} | ${Math.round(sum.input / n)} | ${Math.round(sum.cacheWrite / n)} | ${Math.round(sum.cacheRead / n)} | ${Math.round(sum.output / n)} | ${Math.round(billed)} |`,
          );
        }
      }
    }
  } finally {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
