import { describe, expect, it } from 'vitest';
import {
  canonicalUrl,
  checkGrounded,
  numberReadings,
  phoneDigits,
  ungroundedFacts,
} from '../../../lambdas/gates/grounding.js';
import { turnContext, turnMessage } from '../responders/context.js';

const facts = (text: string, evidence: string[]) =>
  ungroundedFacts(text, evidence).map((f) => `${f.kind}: ${f.text}`);

describe('numberReadings', () => {
  it('reads Vietnamese thousands groups, decimals and ambiguous single groups', () => {
    expect(numberReadings('199.000')).toEqual([199000, 199]);
    expect(numberReadings('199.000', true)).toEqual([199000]);
    expect(numberReadings('1.200.000')).toEqual([1200000]);
    expect(numberReadings('1,2')).toEqual([1.2]);
    expect(numberReadings('19.99')).toEqual([19.99]);
    expect(numberReadings('1,299.99')).toEqual([1299.99]);
    expect(numberReadings('250')).toEqual([250]);
  });
});

describe('prices', () => {
  const catalogue = ['Áo thun basic; giá: 199000; tồn kho: 12', 'Quần jean: 1.200.000đ', 'Mũ: $19.99'];

  it.each([
    ['Áo thun giá 199.000đ ạ'],
    ['Áo thun 199k nha chị'],
    ['Áo thun 199 nghìn'],
    ['Áo thun 199.000 VNĐ'],
    ['Áo thun 199,000 vnd'],
    ['Quần jean 1,2 triệu ạ'],
    ['Quần jean 1tr2 ạ'],
    ['Quần jean 1.200.000 đồng'],
    ['The hat is $19.99'],
    ['Mũ 19.99 USD'],
  ])('grounds "%s" against the catalogue', (reply) => {
    expect(facts(reply, catalogue)).toEqual([]);
  });

  it.each([
    ['Áo thun giá 250.000đ ạ', 'price: 250.000d'],
    ['Áo thun chỉ 249k', 'price: 249k'],
    ['Quần jean 1,5 triệu', 'price: 1,5 trieu'],
    ['The hat is $18.99', 'price: $18.99'],
    ['Giá là 450.000 chị nhé', 'price: gia la 450.000'],
  ])('catches the made-up price in "%s"', (reply, expected) => {
    expect(facts(reply, catalogue)).toEqual([expected]);
  });

  it('does not take sizes, quantities or plain numbers for prices', () => {
    expect(facts('Size 38 còn 2 đôi, giao trong 2-3 ngày ạ', [])).toEqual([]);
  });
});

describe('phones', () => {
  it('compares phone numbers by digits whatever the spacing or +84 prefix', () => {
    expect(phoneDigits('+84 912 345 678')).toBe('0912345678');
    expect(phoneDigits('0912.345.678')).toBe('0912345678');
    expect(phoneDigits('1900 1234')).toBe('19001234');
    expect(phoneDigits('20260312')).toBeUndefined();
    expect(facts('Gọi 0912.345.678 nhé', ['Hotline: +84 912 345 678'])).toEqual([]);
    expect(facts('Gọi 0987 654 321 nhé', ['Hotline: 0912345678'])).toEqual(['phone: 0987 654 321']);
  });

  it('does not take an order code or a date for a phone number', () => {
    expect(facts('Đơn YD-20260312-001 đặt ngày 12.03.2026', [])).toEqual([]);
  });
});

describe('urls', () => {
  it('compares links without scheme, www, host case or trailing slash', () => {
    expect(canonicalUrl('https://WWW.Shop.vn/Ao-Thun/')).toBe('shop.vn/Ao-Thun');
    expect(facts('Xem tại https://shop.vn/ao-thun.', ['Link: www.shop.vn/ao-thun/'])).toEqual([]);
    expect(facts('Xem tại https://shop.vn/ao-khoac', ['Link: https://shop.vn/ao-thun'])).toEqual([
      'url: https://shop.vn/ao-khoac',
    ]);
  });
});

describe('order statuses', () => {
  it('needs a status of the same kind in the evidence, in any language', () => {
    expect(
      facts('Đơn hàng YD-1 của chị đã được giao rồi ạ.', ['{"order":"YD-1","status":"delivered"}']),
    ).toEqual([]);
    expect(facts('Đơn hàng YD-1 đang được giao ạ.', ['{"status":"delivered"}'])).toEqual([
      'order status: dang duoc giao',
    ]);
  });

  it('ignores status-like words outside a sentence about an order', () => {
    expect(facts('Shop đang xử lý tin nhắn của chị ạ.', [])).toEqual([]);
  });

  it("is not backed by the customer's own question", () => {
    const context = turnContext({ messages: [turnMessage({ text: 'Đơn YD-1 đã giao chưa shop?' })] });
    const result = checkGrounded({ messages: [{ text: 'Dạ đơn YD-1 đã giao rồi ạ.' }] }, context);
    expect(result.pass).toBe(false);
    const backed = checkGrounded(
      { messages: [{ text: 'Dạ đơn YD-1 đã giao rồi ạ.' }], evidence: ['status: delivered'] },
      context,
    );
    expect(backed).toEqual({ pass: true });
  });
});

describe('checkGrounded', () => {
  it('takes the conversation and the persona as evidence', () => {
    const context = turnContext({
      settings: {
        persona: 'Shop Hoa, hotline 0912 345 678, web https://hoa.vn',
        bannedPhrases: [],
        fallbackReply: 'x',
      },
      messages: [turnMessage({ text: 'Mình thấy trên web giá 150k đúng không?' })],
    });
    const reply = { messages: [{ text: 'Dạ đúng 150.000đ ạ, gọi 0912345678 hoặc xem https://hoa.vn' }] };
    expect(checkGrounded(reply, context)).toEqual({ pass: true });
  });

  it('names every ungrounded fact in the reason for the regeneration', () => {
    const result = checkGrounded(
      { messages: [{ text: 'Giá 300k, gọi 0987654321' }], evidence: ['giá 199k'] },
      turnContext(),
    );
    expect(result.pass).toBe(false);
    if (!result.pass) {
      expect(result.reason).toContain('the price "300k"');
      expect(result.reason).toContain('the phone "0987654321"');
      expect(result.reason).toContain('say you will check');
    }
  });
});
