/**
 * Instagram Messaging: same handshake, signature and `entry[].messaging[]` shape as Messenger
 * (`object: "instagram"`, sender is an IGSID), plus public comments in `entry[].changes[]`
 * (field `comments`) which surface as `comment` messages. Conversation id `{accountId}:{igsid}`
 * for both DMs and comments (DESIGN §2); each message carries its own surface.
 */
import type { ParsedEvent } from '../shared/model.js';
import { type BuildContext, epochMs, idOf, ignored, messageEvent, type Obj, obj, str } from './common.js';
import { metaAuthenticate, metaHandshake, parseMetaWebhook } from './meta.js';
import type { ChannelAdapter } from './types.js';

/** `changes[].field` values that carry comments on the account's media. */
const COMMENT_FIELDS = ['comments', 'live_comments'];

/** One `entry[].changes[]` item: a comment → `comment` message; anything else is not a message. */
export function parseInstagramChange(
  ctx: BuildContext,
  accountId: string,
  change: Obj,
  entryTime: number | undefined,
): ParsedEvent {
  const field = str(change.field);
  if (!field || !COMMENT_FIELDS.includes(field)) return ignored('non-message', field);
  const value = obj(change.value);
  if (!value) return ignored('unsupported', 'comment without value');
  const from = obj(value.from);
  const fromId = idOf(from?.id);
  const commentId = idOf(value.id);
  if (!fromId || !commentId) return ignored('unsupported', 'comment without ids');
  // The account's own comments (our replies or a person replying from the app) are not customers.
  if (fromId === accountId) return ignored('echo', 'comment by the account');
  const text = str(value.text);
  return messageEvent(ctx, {
    conversationId: `${accountId}:${fromId}`,
    messageId: commentId,
    pageId: accountId,
    customer: { id: fromId, name: str(from?.username) },
    timestamp: epochMs(value.timestamp) ?? entryTime,
    kind: text ? 'text' : 'other',
    text,
    surface: 'comment',
    commentId,
    postId: idOf(obj(value.media)?.id),
  });
}

/** The Instagram adapter. */
export const instagramAdapter: ChannelAdapter<'instagram'> = {
  channel: 'instagram',
  handshake: (request, ctx) => metaHandshake(request, ctx.config.verifyToken),
  authenticate: (request, ctx) => metaAuthenticate(request, ctx.config.appSecret),
  parse: (rawBody, ctx): ParsedEvent[] =>
    parseMetaWebhook(rawBody, ctx, {
      channel: 'instagram',
      objects: ['instagram', 'page'],
      accounts: ctx.config.accounts,
      parseChange: parseInstagramChange,
    }),
};
