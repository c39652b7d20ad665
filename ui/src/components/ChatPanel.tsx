/** The chat: messages in an `aria-live` log, and a box to send one on `lk.chat`. */

import { useEffect, useRef, useState } from "preact/hooks";
import { toAppError, type AppError, type ChatMessage } from "../bridge";
import { useApp } from "../app";
import { language, t } from "../i18n/i18n";
import { ErrorNotice } from "./ErrorNotice";
import { Icon } from "./Icon";

export function ChatPanel({ messages, onClose }: { messages: ChatMessage[]; onClose: () => void }) {
  const { bridge } = useApp();
  const [text, setText] = useState("");
  const [error, setError] = useState<AppError | null>(null);
  const [sending, setSending] = useState(false);
  const list = useRef<HTMLDivElement>(null);
  const input = useRef<HTMLTextAreaElement>(null);
  const [local, setLocal] = useState<ChatMessage[]>([]);

  useEffect(() => input.current?.focus(), []);
  // Our own copies, until (or unless) the engine echoes them.
  const all = [...messages, ...local.filter((l) => !messages.some((m) => m.id === l.id))].sort((a, b) => a.timestamp - b.timestamp);
  useEffect(() => {
    const el = list.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [all.length]);

  async function send() {
    const body = text.trim();
    if (body === "" || sending) return;
    setSending(true);
    try {
      const msg = await bridge.call("send_chat", { text: body });
      setLocal((l) => [...l, msg]);
      setText("");
      setError(null);
    } catch (e) {
      setError(toAppError(e));
    } finally {
      setSending(false);
      input.current?.focus();
    }
  }

  const time = (ts: number) => new Date(ts).toLocaleTimeString(language() === "fr" ? "fr-FR" : "en-GB", { hour: "2-digit", minute: "2-digit" });

  return (
    <aside id="chat-panel" class="side-panel" data-testid="chat-panel" aria-labelledby="chat-title">
      <header>
        <h2 id="chat-title">{t("chat.title")}</h2>
        <button type="button" class="close" aria-label={t("chat.close")} title={t("chat.close")} onClick={onClose}>
          <Icon name="close" size={18} />
        </button>
      </header>
      <div class="messages" ref={list} role="log" aria-live="polite" aria-relevant="additions" aria-label={t("chat.messages")}>
      <ol>
        {all.length === 0 && <li class="hint">{t("chat.empty")}</li>}
        {all.map((m) => (
          <li key={m.id} class={`message${m.isLocal ? " own" : ""}`} data-testid="chat-message" data-from={m.fromIdentity}>
            <p class="from">
              <strong>{m.isLocal ? t("chat.me") : m.fromName || m.fromIdentity}</strong> <time>{time(m.timestamp)}</time>
            </p>
            <p class="text">{m.text}</p>
          </li>
        ))}
      </ol>
      </div>
      {error && <ErrorNotice error={error} />}
      <form
        class="chat-form"
        onSubmit={(e) => {
          e.preventDefault();
          void send();
        }}
      >
        <label for="chat-input" class="sr-only">
          {t("chat.inputLabel")}
        </label>
        <textarea
          id="chat-input"
          ref={input}
          data-testid="chat-input"
          rows={2}
          maxLength={2000}
          placeholder={t("chat.placeholder")}
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && !e.shiftKey) {
              e.preventDefault();
              void send();
            }
            if (e.key === "Escape") onClose();
          }}
        />
        <button type="submit" class="button primary" data-testid="chat-send" disabled={sending || text.trim() === ""}>
          {t("chat.send")}
        </button>
      </form>
    </aside>
  );
}
