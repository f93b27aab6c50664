/**
 * The responder reads back the choices the bot offered: a stored reply part's quick replies and
 * buttons are in its history text, as the numbered-text fallback lists them.
 */
import { describe, expect, it } from 'vitest';

import { historyEntries } from '../../../lambdas/memory/turn-item.js';

describe('history of a reply with choices', () => {
  it('lists the buttons and quick replies under the bot’s text, and leaves plain parts as they were', () => {
    const entries = historyEntries({
      turnId: 't1',
      messages: [{ messageId: 'm1', kind: 'text', text: 'menu', receivedAt: 1000, timestamp: 1000 }],
      reply: {
        at: 2000,
        parts: [
          { text: 'Chào bạn.' },
          {
            text: 'Bạn muốn làm gì?',
            buttons: [
              { type: 'postback', title: 'Đặt hàng', payload: 'ORDER' },
              { type: 'url', title: 'Website', url: 'https://shop.example' },
            ],
            quickReplies: [{ title: 'Hỏi giá' }],
          },
          { imageUrl: 'https://cdn.example/a.png' },
        ],
      },
    });
    expect(entries.filter((e) => e.role === 'bot').map((e) => e.text)).toEqual([
      'Chào bạn.',
      'Bạn muốn làm gì?\n\n1. Đặt hàng\nWebsite: https://shop.example\n2. Hỏi giá',
      'https://cdn.example/a.png',
    ]);
  });
});
