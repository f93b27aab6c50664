/**
 * A Messenger webhook delivery as Meta sends it: one text message from `U1` to the page, signed
 * with the app secret the way the webhook checks it (`x-hub-signature-256`).
 */
import { createHmac } from 'node:crypto';

/** The body of a signed Messenger delivery and its signature header. */
export interface SignedMessengerPost {
  readonly body: string;
  readonly headers: { readonly 'x-hub-signature-256': string };
}

/** One text message (`mid`) to `pageId`, signed with `appSecret`. */
export function signedMessengerPost(appSecret: string, pageId: string, mid: string): SignedMessengerPost {
  const body = JSON.stringify({
    object: 'page',
    entry: [
      {
        id: pageId,
        time: 1_700_000_000_000,
        messaging: [
          {
            sender: { id: 'U1' },
            recipient: { id: pageId },
            timestamp: 1_700_000_000_000,
            message: { mid, text: 'xin chào' },
          },
        ],
      },
    ],
  });
  const signature = createHmac('sha256', appSecret).update(body).digest('hex');
  return { body, headers: { 'x-hub-signature-256': `sha256=${signature}` } };
}
