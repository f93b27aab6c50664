/**
 * Facebook Messenger: `hub.*` handshake, `X-Hub-Signature-256`, and `object: "page"` bodies of
 * up to 1000 entries, each with `messaging[]` items. Conversation id `{pageId}:{psid}`.
 */
import type { ParsedEvent } from '../shared/model.js';
import { parseJsonObject } from './common.js';
import { metaAuthenticate, metaHandshake, parseMetaEntries, requireMetaBody } from './meta.js';
import type { ChannelAdapter } from './types.js';

/** The Messenger adapter. */
export const messengerAdapter: ChannelAdapter<'messenger'> = {
  channel: 'messenger',
  handshake: (request, ctx) => metaHandshake(request, ctx.config.verifyToken),
  authenticate: (request, ctx) => metaAuthenticate(request, ctx.config.appSecret),
  parse: (rawBody, ctx): ParsedEvent[] => {
    const body = parseJsonObject(rawBody);
    requireMetaBody(body, ['page']);
    const pages = ctx.config.pages;
    return parseMetaEntries(
      { tenantId: ctx.tenant.tenantId, channel: 'messenger', receivedAt: ctx.receivedAt },
      body,
      { isOurs: (id) => Object.hasOwn(pages, id), ourAppId: ctx.config.appId },
    );
  },
};
