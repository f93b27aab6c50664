/**
 * Facebook Messenger: `hub.*` handshake, `X-Hub-Signature-256`, and `object: "page"` bodies of
 * up to 1000 entries, each with `messaging[]` items (inbox) and `changes[]` items (the Page's
 * `feed`: comments on its posts, answered per `settings.comments`). Conversation id
 * `{pageId}:{psid}` for the inbox, `{pageId}:{commenter id}` for comments.
 */
import type { Attachment, ParsedEvent } from '../shared/model.js';
import { type BuildContext, epochMs, idOf, ignored, messageEvent, type Obj, obj, str } from './common.js';
import { metaAuthenticate, metaHandshake, parseMetaWebhook } from './meta.js';
import type { ChannelAdapter } from './types.js';

/**
 * One `entry[].changes[]` item of a Page: a new comment (`field: "feed"`, `item: "comment"`,
 * `verb: "add"`; developers.facebook.com/docs/graph-api/webhooks/reference/page/#feed) is a
 * `comment` message answered by its `comment_id`; the Page's own comments are echoes; edits,
 * removals, reactions, posts and everything else are not messages.
 */
export function parseMessengerChange(
  ctx: BuildContext,
  pageId: string,
  change: Obj,
  entryTime: number | undefined,
): ParsedEvent {
  const field = str(change.field);
  const value = obj(change.value);
  if (field !== 'feed' || !value) return ignored('non-message', field);
  const item = str(value.item);
  const verb = str(value.verb);
  if (item !== 'comment') return ignored('non-message', `feed ${item ?? 'item'}`);
  if (verb !== 'add') return ignored('non-message', `comment ${verb ?? 'change'}`);
  const from = obj(value.from);
  const fromId = idOf(from?.id);
  const commentId = idOf(value.comment_id);
  if (!fromId || !commentId) return ignored('unsupported', 'comment without ids');
  if (fromId === pageId) return ignored('echo', 'comment by the page');
  const text = str(value.message);
  const attachments: Attachment[] = [];
  const photo = str(value.photo);
  if (photo) attachments.push({ kind: 'image', url: photo });
  const video = str(value.video);
  if (video) attachments.push({ kind: 'video', url: video });
  return messageEvent(ctx, {
    conversationId: `${pageId}:${fromId}`,
    messageId: commentId,
    pageId,
    customer: { id: fromId, name: str(from?.name) },
    timestamp: epochMs(value.created_time) ?? entryTime,
    kind: text ? 'text' : (attachments[0]?.kind ?? 'other'),
    text,
    attachments,
    surface: 'comment',
    commentId,
    postId: idOf(value.post_id),
  });
}

/** The Messenger adapter. */
export const messengerAdapter: ChannelAdapter<'messenger'> = {
  channel: 'messenger',
  handshake: (request, ctx) => metaHandshake(request, ctx.config.verifyToken),
  authenticate: (request, ctx) => metaAuthenticate(request, ctx.config.appSecret),
  parse: (rawBody, ctx): ParsedEvent[] =>
    parseMetaWebhook(rawBody, ctx, {
      channel: 'messenger',
      objects: ['page'],
      accounts: ctx.config.pages,
      parseChange: parseMessengerChange,
    }),
};
