import { describe, expect, it } from 'vitest';

import {
  boundedPayload,
  boundedPayloadBytes,
  capItems,
  choicesOf,
  cutTitle,
  hasExtras,
  numberedText,
} from '../../../lambdas/channels/send/rich.js';

describe('rich reply helpers', () => {
  it('lists postbacks and quick replies as numbered lines and URL buttons as "Title: url"', () => {
    const text = numberedText('Chọn một:', {
      buttons: [
        { type: 'postback', title: 'Đặt hàng', payload: 'ORDER' },
        { type: 'url', title: 'Xem web', url: 'https://shop.example/p' },
      ],
      quickReplies: [{ title: 'Hỏi giá' }],
    });
    expect(text).toBe('Chọn một:\n\n1. Đặt hàng\nXem web: https://shop.example/p\n2. Hỏi giá');
  });

  it('returns the text unchanged when there are no choices', () => {
    expect(numberedText('hello', undefined)).toBe('hello');
    expect(numberedText('hello', { quickReplies: [], buttons: [] })).toBe('hello');
    expect(hasExtras({ quickReplies: [] })).toBe(false);
    expect(hasExtras({ buttons: [{ type: 'postback', title: 'a', payload: 'b' }] })).toBe(true);
  });

  it('shortens the text, never the choices, to fit the channel limit', () => {
    const out = numberedText(
      'x'.repeat(500),
      { quickReplies: [{ title: 'Yes' }, { title: 'No' }] },
      { maxLength: 100 },
    );
    expect(out.length).toBeLessThanOrEqual(100);
    expect(out.endsWith('\n\n1. Yes\n2. No')).toBe(true);
    expect(out).toContain('[truncated');
  });

  it('drops the last choices when the choices alone exceed the limit', () => {
    const out = numberedText(
      'hi',
      { quickReplies: [{ title: 'aaaaaaaaaa' }, { title: 'bbbbbbbbbb' }] },
      { maxLength: 14 },
    );
    expect(out).toBe('1. aaaaaaaaaa');
  });

  it('cuts titles with an ellipsis without splitting a surrogate pair', () => {
    expect(cutTitle('Giao hàng tận nơi miễn phí', 20)).toBe('Giao hàng tận nơi m…');
    expect(cutTitle('Giao hàng tận nơi miễn phí', 20)).toHaveLength(20);
    const emoji = `${'a'.repeat(18)}😀😀`;
    const cut = cutTitle(emoji, 20);
    expect(cut).toBe(`${'a'.repeat(18)}…`);
    expect(cutTitle('  short  ', 20)).toBe('short');
  });

  it('caps counts in order', () => {
    expect(capItems([1, 2, 3, 4], 3)).toEqual([1, 2, 3]);
    expect(capItems(undefined, 3)).toEqual([]);
  });

  it('bounds payloads to a stable, distinct form', () => {
    const a = `${'p'.repeat(300)}A`;
    const b = `${'p'.repeat(300)}B`;
    expect(boundedPayload('short', 200)).toBe('short');
    expect(boundedPayload(a, 200)).toHaveLength(200);
    expect(boundedPayload(a, 200)).toBe(boundedPayload(a, 200));
    expect(boundedPayload(a, 200)).not.toBe(boundedPayload(b, 200));
  });

  it('bounds Telegram callback data in UTF-8 bytes', () => {
    const vi = 'Tôi muốn đặt hàng ngay bây giờ với giá ưu đãi nhất';
    const out = boundedPayloadBytes(vi, 64);
    expect(Buffer.byteLength(out, 'utf8')).toBeLessThanOrEqual(64);
    expect(out).toMatch(/#[0-9a-f]{8}$/);
    expect(boundedPayloadBytes('ORDER', 64)).toBe('ORDER');
  });

  it('defaults a quick reply payload to its title', () => {
    expect(choicesOf({ quickReplies: [{ title: 'Yes' }, { title: 'No', payload: 'N' }] })).toEqual([
      { title: 'Yes', payload: 'Yes' },
      { title: 'No', payload: 'N' },
    ]);
  });
});
