import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import {
  decodeBody,
  decodedBodyLength,
  fromApiGatewayEvent,
  normaliseHeaders,
  parseQuery,
} from '../../../lambdas/ingest/request.js';

function event(overrides: Partial<APIGatewayProxyEventV2> = {}): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: 'POST /webhooks/{channel}/{tenantId}',
    rawPath: '/webhooks/messenger/acme',
    rawQueryString: '',
    headers: {},
    requestContext: { http: { method: 'POST' } } as APIGatewayProxyEventV2['requestContext'],
    isBase64Encoded: false,
    ...overrides,
  };
}

describe('request parsing', () => {
  it('takes channel and tenant from the path parameters', () => {
    const req = fromApiGatewayEvent(
      event({ pathParameters: { channel: 'telegram', tenantId: 'shop-1' }, rawPath: '/x' }),
      42,
    );
    expect(req).toMatchObject({ channel: 'telegram', tenantId: 'shop-1', method: 'POST', receivedAt: 42 });
  });

  it('falls back to the raw path, stage prefix included, when there are no path parameters', () => {
    const req = fromApiGatewayEvent(event({ rawPath: '/prod/webhooks/zalo/acme%2Dx' }));
    expect(req.channel).toBe('zalo');
    expect(req.tenantId).toBe('acme-x');
  });

  it('lower-cases header names and drops undefined values', () => {
    expect(
      normaliseHeaders({
        'X-Hub-Signature-256': 'sha256=ab',
        'Content-Type': 'application/json',
        gone: undefined,
      }),
    ).toEqual({ 'x-hub-signature-256': 'sha256=ab', 'content-type': 'application/json' });
  });

  it('decodes the raw query string and keeps the first of repeated names intact', () => {
    expect(
      parseQuery('hub.mode=subscribe&hub.challenge=a%2Cb%20c&token=x,y&token=z', { token: 'x,y,z' }),
    ).toEqual({
      'hub.mode': 'subscribe',
      'hub.challenge': 'a,b c',
      token: 'x,y',
    });
  });

  it('uses the parsed query map when the raw query string is empty', () => {
    expect(parseQuery('', { token: 'abc', skip: undefined })).toEqual({ token: 'abc' });
  });

  it('measures and decodes base64 bodies as the bytes the platform sent', () => {
    const bytes = Buffer.from('{"text":"äöå 🎉"}', 'utf8');
    const b64 = bytes.toString('base64');
    expect(decodedBodyLength(b64, true)).toBe(bytes.length);
    expect(decodeBody(b64, true).equals(bytes)).toBe(true);
  });

  it('measures plain bodies in UTF-8 bytes, not characters', () => {
    expect(decodedBodyLength('ää', false)).toBe(4);
    expect(decodeBody('ää', false).length).toBe(4);
  });

  it('treats a missing body as zero bytes', () => {
    expect(decodedBodyLength(undefined, true)).toBe(0);
    expect(decodeBody(undefined, false).length).toBe(0);
  });

  it('reads the method from the request context, upper-cased', () => {
    const req = fromApiGatewayEvent(
      event({ requestContext: { http: { method: 'get' } } as APIGatewayProxyEventV2['requestContext'] }),
    );
    expect(req.method).toBe('GET');
  });
});
