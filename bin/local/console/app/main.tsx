/**
 * The console page (Preact, bundled by esbuild at the stack's start; docs/console.md): tenants,
 * their conversations newest first, one conversation's audit trail as a timeline, the
 * playground, and the controls (pause/resume, resend a dead-lettered part, redrive a DLQ).
 * Everything it shows comes from the JSON API under /api/ and the event stream /api/events.
 */
import { render } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type {
  AuditDelivery,
  AuditTakeover,
  AuditTurn,
  ConversationSummary,
  ConversationTrail,
} from '../../../../lambdas/contracts/audit.js';

interface Tenant {
  readonly tenantId: string;
  readonly channels: readonly string[];
}

interface Detail extends ConversationTrail {
  readonly texts: Record<string, string>;
  readonly sent: Record<string, { text?: string; imageUrl?: string }>;
}

type Address = Pick<ConversationSummary, 'tenantId' | 'channel' | 'conversationId'>;

const ICON: Record<string, string> = {
  messenger: 'M',
  instagram: 'IG',
  whatsapp: 'WA',
  telegram: 'TG',
  zalo: 'Z',
  pancake: 'P',
};

/** The tenant last looked at, kept across reloads. */
const TENANT_KEY = 'chat-relay-console:tenant';

const keyOf = (a: Address): string => `${a.tenantId}/${a.channel}/${a.conversationId}`;
const path = (a: Address): string =>
  `/api/conversations/${encodeURIComponent(a.tenantId)}/${a.channel}/${encodeURIComponent(a.conversationId)}`;

async function api<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, init);
  const body = (await res.json()) as T & { error?: { message: string } };
  if (!res.ok) throw new Error(body.error?.message ?? `HTTP ${res.status}`);
  return body;
}

const post = <T,>(url: string, body: unknown): Promise<T> =>
  api<T>(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

function time(ms: number): string {
  return new Date(ms).toLocaleTimeString('vi-VN', { hour12: false });
}

function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.round(s / 60)} ph`;
  if (s < 86_400) return `${Math.round(s / 3600)} h`;
  return new Date(ms).toLocaleDateString('vi-VN');
}

function ConversationRow(props: {
  c: ConversationSummary;
  selected: boolean;
  now: number;
  onSelect: () => void;
}) {
  const { c } = props;
  return (
    <button
      type="button"
      class={`conv${props.selected ? ' sel' : ''}`}
      data-testid="conversation"
      data-key={keyOf(c)}
      data-paused={String(c.paused)}
      onClick={props.onSelect}
    >
      <span class={`icon ch-${c.channel}`} title={c.channel}>
        {ICON[c.channel] ?? '?'}
      </span>
      <span>
        <span class="who">{c.conversationId}</span>
        <span class="last">{c.lastMessage ?? ''}</span>
      </span>
      <span class="meta">
        <span>{ago(c.lastActivityAt, props.now)}</span>
        {c.paused ? <span class="badge">tạm dừng bot</span> : null}
      </span>
    </button>
  );
}

function stateClass(d: AuditDelivery): string {
  if (d.state === 'sent') return 'badge ok';
  if (d.state === 'failed' || d.state === 'dead-lettered' || d.state === 'ambiguous') return 'badge bad';
  return 'badge';
}

function Turn(props: { turn: AuditTurn; detail: Detail; onResend: (replyId: string) => void }) {
  const { turn, detail } = props;
  const first = turn.messages[0]?.receivedAt ?? turn.flushedAt;
  return (
    <div class="turn" data-testid="turn" data-outcome={turn.outcome}>
      <h3>
        Lượt {turn.turnId.slice(0, 12)} · {turn.flushReason} sau {turn.flushedAt - first} ms · {turn.outcome}
      </h3>
      {turn.messages.map((m) => (
        <div class="msg in" data-testid="customer-message" key={m.messageId}>
          <div>{detail.texts[m.messageId] ?? `[${m.kind}]`}</div>
          <div class="small">
            {time(m.receivedAt)} · {m.kind} · {m.messageId.slice(0, 24)}
          </div>
        </div>
      ))}
      <div class="stages">
        {(turn.media ?? []).map((m) => (
          <span class="stage" key={m.messageId}>
            media {m.result}
            {m.latencyMs !== undefined ? ` ${m.latencyMs} ms` : ''}
          </span>
        ))}
        {turn.responder ? (
          <span class="stage" data-testid="responder">
            {turn.responder.name} {turn.responder.latencyMs} ms
          </span>
        ) : null}
        {turn.gates.map((g, i) => (
          // A gate can run more than once in a turn (a regenerated candidate is checked again).
          <span class="stage" data-testid="gate" key={`${i}-${g.gate}`} title={g.reason ?? ''}>
            {g.gate}: {g.outcome}
          </span>
        ))}
      </div>
      {turn.deliveries.map((d) => {
        const sent = d.platformMessageId ? detail.sent[d.platformMessageId] : undefined;
        return (
          <div class="msg out" data-testid="reply" data-state={d.state} key={`${d.replyId}-${d.part}`}>
            <div>{sent?.text ?? (sent?.imageUrl ? `[ảnh] ${sent.imageUrl}` : `phần ${d.part + 1}`)}</div>
            <div class="small">
              <span class={stateClass(d)} data-testid="delivery-state">
                {d.state}
              </span>{' '}
              {time(d.at)} · {d.attempts} lần gửi
              {d.retryCodes.length > 0 ? ` · thử lại ${d.retryCodes.join(', ')}` : ''}
              {d.permanentCode ? ` · ${d.permanentCode}` : ''}
              {d.state === 'dead-lettered' || d.permanentCode === 'DEAD_LETTERED' ? (
                <>
                  {' '}
                  <button type="button" onClick={() => props.onResend(d.replyId)}>
                    Gửi lại
                  </button>
                </>
              ) : null}
            </div>
          </div>
        );
      })}
    </div>
  );
}

function Takeover(props: { t: AuditTakeover }) {
  const who = { human: 'nhân viên', operator: 'người vận hành', handover: 'chuyển giao', expired: 'hết hạn' }[
    props.t.by
  ];
  return (
    <p class="small" data-testid="takeover">
      {time(props.t.at)} · {props.t.kind === 'start' ? `Bot tạm dừng (${who})` : `Bot chạy lại (${who})`}
    </p>
  );
}

function Playground(props: {
  tenants: readonly Tenant[];
  tenantId: string;
  target: Address | undefined;
  /** The channel and the id typed (a conversation id, a customer id, or empty for the demo customer). */
  onSent: (channel: string, id: string) => void;
}) {
  const tenant = props.tenants.find((t) => t.tenantId === props.tenantId);
  const [channel, setChannel] = useState<string>(props.target?.channel ?? tenant?.channels[0] ?? '');
  const [conversationId, setConversationId] = useState(props.target?.conversationId ?? '');
  const [text, setText] = useState('');
  const [status, setStatus] = useState('');
  const file = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (props.target) {
      setChannel(props.target.channel);
      setConversationId(props.target.conversationId);
    } else if (tenant && !tenant.channels.includes(channel)) setChannel(tenant.channels[0] ?? '');
  }, [props.target, tenant]);

  const send = async (e: Event) => {
    e.preventDefault();
    const chosen = file.current?.files?.[0];
    try {
      let mediaId: string | undefined;
      let kind = 'text';
      if (chosen) {
        const up = await api<{ mediaId: string }>('/api/media', {
          method: 'POST',
          headers: { 'content-type': chosen.type || 'application/octet-stream' },
          body: chosen,
        });
        mediaId = up.mediaId;
        kind = chosen.type.startsWith('audio/') ? 'audio' : 'image';
      }
      const res = await post<{ status: number; answer: string }>('/api/playground', {
        tenantId: props.tenantId,
        channel,
        text,
        kind,
        ...(conversationId ? { conversationId } : {}),
        ...(mediaId ? { mediaId } : {}),
      });
      setStatus(res.status === 200 ? 'đã gửi' : `webhook ${res.status}: ${res.answer}`);
      setText('');
      if (file.current) file.current.value = '';
      props.onSent(channel, conversationId);
    } catch (err) {
      setStatus((err as Error).message);
    }
  };

  return (
    <form class="play" onSubmit={send} data-testid="playground">
      <select
        aria-label="kênh"
        value={channel}
        onChange={(e) => setChannel((e.target as HTMLSelectElement).value)}
        data-testid="play-channel"
      >
        {(tenant?.channels ?? []).map((c) => (
          <option value={c} key={c}>
            {c}
          </option>
        ))}
      </select>
      <input
        type="text"
        aria-label="khách hàng"
        placeholder="mã khách (trống: khách mẫu)"
        value={conversationId}
        onInput={(e) => setConversationId((e.target as HTMLInputElement).value)}
        data-testid="play-conversation"
        style="flex: 0 1 11rem"
      />
      <input
        type="text"
        aria-label="tin nhắn"
        placeholder="Nhắn như một khách hàng…"
        value={text}
        onInput={(e) => setText((e.target as HTMLInputElement).value)}
        data-testid="play-text"
      />
      <input type="file" accept="image/*,audio/*" ref={file} aria-label="tệp đính kèm" />
      <button class="primary" type="submit" data-testid="play-send">
        Gửi
      </button>
      <span class="small" data-testid="play-status">
        {status}
      </span>
    </form>
  );
}

function App() {
  const [tenants, setTenants] = useState<Tenant[]>([]);
  const [tenantId, setTenantId] = useState('');
  const [conversations, setConversations] = useState<ConversationSummary[]>([]);
  const [selected, setSelected] = useState<Address | undefined>();
  const [detail, setDetail] = useState<Detail | undefined>();
  const [dlq, setDlq] = useState<Record<string, number>>({});
  const [notice, setNotice] = useState('');
  const [now, setNow] = useState(Date.now());
  const selectedRef = useRef<Address | undefined>(undefined);
  selectedRef.current = selected;
  const tenantRef = useRef('');
  tenantRef.current = tenantId;
  // A message sent from the playground with nothing selected: select its conversation once listed.
  const pendingRef = useRef<{ channel: string; id: string } | undefined>(undefined);

  useEffect(() => {
    // The tenant looked at last is listed while the tenants load (first paint).
    const kept = localStorage.getItem(TENANT_KEY);
    if (kept) setTenantId(kept);
    void api<{ tenants: Tenant[] }>('/api/tenants').then((r) => {
      setTenants(r.tenants);
      setTenantId(r.tenants.find((t) => t.tenantId === kept)?.tenantId ?? r.tenants[0]?.tenantId ?? '');
    });
    const tick = setInterval(() => setNow(Date.now()), 15_000);
    return () => clearInterval(tick);
  }, []);

  const loadList = useCallback(async (t: string) => {
    if (!t) return;
    try {
      const r = await api<{ conversations: ConversationSummary[] }>(
        `/api/conversations?tenant=${encodeURIComponent(t)}`,
      );
      if (tenantRef.current === t) setConversations(r.conversations);
    } catch {
      // A kept tenant the stack no longer has: the tenants' answer picks another.
    }
  }, []);

  const loadDetail = useCallback(async () => {
    const a = selectedRef.current;
    if (!a) return;
    try {
      const d = await api<Detail>(path(a));
      if (selectedRef.current && keyOf(selectedRef.current) === keyOf(a)) setDetail(d);
    } catch {
      // Not in the trail yet: the first event for it brings it.
    }
  }, []);

  const loadDlq = useCallback(async () => {
    setDlq((await api<{ dlq: Record<string, number> }>('/api/dlq')).dlq);
  }, []);

  useEffect(() => {
    setConversations([]);
    void loadList(tenantId);
  }, [tenantId]);

  useEffect(() => {
    setDetail(undefined);
    void loadDetail();
  }, [selected && keyOf(selected)]);

  useEffect(() => {
    void loadDlq();
    const source = new EventSource('/api/events');
    let pending: ReturnType<typeof setTimeout> | undefined;
    const refreshDetail = () => {
      if (pending) return;
      pending = setTimeout(() => {
        pending = undefined;
        void loadDetail();
        void loadDlq();
      }, 150);
    };
    source.addEventListener('conversation', (e) => {
      const c = JSON.parse((e as MessageEvent<string>).data) as ConversationSummary;
      if (c.tenantId === tenantRef.current) {
        setConversations((list) =>
          [c, ...list.filter((x) => keyOf(x) !== keyOf(c))].sort(
            (a, b) => b.lastActivityAt - a.lastActivityAt,
          ),
        );
      }
      const s = selectedRef.current;
      if (s && keyOf(s) === keyOf(c)) refreshDetail();
    });
    source.addEventListener('activity', refreshDetail);
    return () => source.close();
  }, []);

  useEffect(() => {
    const pending = pendingRef.current;
    if (!pending || selectedRef.current) return;
    const found = conversations.find(
      (c) =>
        c.channel === pending.channel &&
        (pending.id === '' ||
          c.conversationId === pending.id ||
          c.conversationId.endsWith(`:${pending.id}`) ||
          c.conversationId.endsWith(`_${pending.id}`)),
    );
    if (found) {
      pendingRef.current = undefined;
      setSelected({ tenantId: found.tenantId, channel: found.channel, conversationId: found.conversationId });
    }
  }, [conversations]);

  // First paint of a non-empty list, for the browser test's figure.
  const painted = useRef(false);
  useEffect(() => {
    if (!painted.current && conversations.length > 0) {
      painted.current = true;
      requestAnimationFrame(() => performance.mark('conversations-painted'));
    }
  }, [conversations]);

  const control = async (action: 'pause' | 'resume') => {
    if (!selected) return;
    try {
      await post(`${path(selected)}/${action}`, {});
      await Promise.all([loadDetail(), loadList(tenantId)]);
      setNotice(action === 'pause' ? 'Đã tạm dừng bot: bạn trả lời khách.' : 'Bot đã chạy lại.');
    } catch (err) {
      setNotice((err as Error).message);
    }
  };

  const resend = async (replyId: string) => {
    if (!selected) return;
    try {
      await post(`${path(selected)}/resend`, { replyId });
      setNotice(`Đã đưa phần ${replyId} vào hàng đợi gửi lại.`);
    } catch (err) {
      setNotice((err as Error).message);
    }
  };

  const redriveQueue = async (kind: string) => {
    try {
      const r = await post<{ moved: unknown[] }>(`/api/dlq/${kind}/redrive`, {});
      setNotice(`${kind}: đã chuyển lại ${r.moved.length} bản ghi.`);
      await loadDlq();
    } catch (err) {
      setNotice((err as Error).message);
    }
  };

  const timeline = useMemo(() => {
    if (!detail) return [];
    const items: { at: number; node: preact.JSX.Element }[] = detail.turns.map((t) => ({
      at: t.messages[0]?.receivedAt ?? t.flushedAt,
      node: <Turn turn={t} detail={detail} onResend={resend} key={t.turnId} />,
    }));
    for (const t of detail.takeovers)
      items.push({ at: t.at, node: <Takeover t={t} key={`to-${t.at}-${t.kind}`} /> });
    return items.sort((a, b) => a.at - b.at).map((i) => i.node);
  }, [detail]);

  return (
    <>
      <header>
        <h1>chat-relay</h1>
        <select
          aria-label="tenant"
          value={tenantId}
          onChange={(e) => {
            const next = (e.target as HTMLSelectElement).value;
            localStorage.setItem(TENANT_KEY, next);
            setSelected(undefined);
            setTenantId(next);
          }}
          data-testid="tenant"
        >
          {tenants.map((t) => (
            <option value={t.tenantId} key={t.tenantId}>
              {t.tenantId}
            </option>
          ))}
        </select>
        <span class="dlq" data-testid="dlq">
          DLQ:
          {Object.entries(dlq).map(([kind, n]) => (
            <button
              type="button"
              key={kind}
              disabled={n === 0}
              onClick={() => redriveQueue(kind)}
              title="chuyển lại"
            >
              {kind} {n}
            </button>
          ))}
        </span>
      </header>
      <main>
        <aside data-testid="conversations">
          {conversations.length === 0 ? <p class="empty">Chưa có hội thoại.</p> : null}
          {conversations.map((c) => (
            <ConversationRow
              c={c}
              now={now}
              key={keyOf(c)}
              selected={selected !== undefined && keyOf(selected) === keyOf(c)}
              onSelect={() =>
                setSelected({ tenantId: c.tenantId, channel: c.channel, conversationId: c.conversationId })
              }
            />
          ))}
        </aside>
        <section class="detail">
          {notice ? (
            <p class="small" data-testid="notice">
              {notice}
            </p>
          ) : null}
          {selected ? (
            <div class="bar">
              <span class={`icon ch-${selected.channel}`}>{ICON[selected.channel]}</span>
              <h2>{selected.conversationId}</h2>
              {detail?.paused ? (
                <button type="button" class="primary" onClick={() => control('resume')} data-testid="resume">
                  Cho bot chạy lại
                </button>
              ) : (
                <button type="button" onClick={() => control('pause')} data-testid="pause" disabled={!detail}>
                  Tạm dừng bot
                </button>
              )}
            </div>
          ) : (
            <p class="empty">Chọn một hội thoại, hoặc nhắn thử như khách hàng bên dưới.</p>
          )}
          <div data-testid="timeline">{timeline}</div>
          {tenantId ? (
            <Playground
              tenants={tenants}
              tenantId={tenantId}
              target={selected}
              onSent={(channel, id) => {
                if (!selected) pendingRef.current = { channel, id };
              }}
            />
          ) : null}
        </section>
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
