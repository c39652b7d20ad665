/**
 * Transcripts of past meetings (on-device captions, kept encrypted on this machine): the list, a
 * search over every line (debounced), one transcript with its lines (a search hit's line brought
 * into view), export to Markdown / WebVTT / SRT, and delete (asked twice). Logic in `../transcripts.ts`.
 */

import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { EXPORT_FORMATS, toAppError, type AppError, type ExportFormat, type Transcript, type TranscriptHit, type TranscriptLine, type TranscriptSummary } from "../bridge";
import { useApp } from "../app";
import { formatDateTime, t } from "../i18n/i18n";
import { EXPORT_LABELS, SEARCH_DEBOUNCE_MS, formatTimestamp, highlightParts, hitLineIndex, isoDuration } from "../transcripts";
import { ErrorNotice } from "../components/ErrorNotice";

export function TranscriptsPanel({ initialId, onClose }: { initialId: string | null; onClose: () => void }) {
  const { bridge } = useApp();
  const [list, setList] = useState<TranscriptSummary[] | null>(null);
  const [query, setQuery] = useState("");
  const [hits, setHits] = useState<{ query: string; hits: TranscriptHit[] } | null>(null);
  const [open, setOpen] = useState<{ id: string; hit: TranscriptLine | null } | null>(initialId ? { id: initialId, hit: null } : null);
  const [error, setError] = useState<AppError | null>(null);
  const [notice, setNotice] = useState("");
  const panel = useRef<HTMLElement>(null);
  const search = useRef<HTMLInputElement>(null);
  const searchSeq = useRef(0);
  /** Where the focus goes back to when a transcript is closed. */
  const returnTo = useRef<string | null>(null);

  async function refresh() {
    try {
      setList(await bridge.call("list_transcripts", undefined));
    } catch (e) {
      setList([]);
      setError(toAppError(e));
    }
  }

  useEffect(() => {
    void refresh();
    if (!initialId) search.current?.focus();
  }, []);

  // The search runs 250 ms after the last key; an answer to an older query is dropped.
  useEffect(() => {
    const q = query.trim();
    const seq = ++searchSeq.current;
    if (q === "") {
      setHits(null);
      return;
    }
    const timer = setTimeout(() => {
      bridge.call("search_transcripts", { query: q }).then(
        (found) => {
          if (seq === searchSeq.current) setHits({ query: q, hits: found });
        },
        (e: unknown) => {
          if (seq === searchSeq.current) setError(toAppError(e));
        },
      );
    }, SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [bridge, query]);

  const openTranscript = (id: string, hit: TranscriptLine | null, from: string) => {
    returnTo.current = from;
    setError(null);
    setNotice("");
    setOpen({ id, hit });
  };

  const closeTranscript = () => {
    setOpen(null);
    const from = returnTo.current;
    requestAnimationFrame(() => {
      const target = from ? panel.current?.querySelector<HTMLElement>(from) : null;
      (target ?? search.current)?.focus();
    });
  };

  return (
    <section
      id="transcripts-panel"
      ref={panel}
      class="settings-panel transcripts-panel"
      role="dialog"
      aria-labelledby="transcripts-title"
      data-testid="transcripts-panel"
      onKeyDown={(e) => {
        if (e.key !== "Escape") return;
        // Escape steps back: from a transcript to the list, then closes.
        e.stopPropagation();
        if (open) closeTranscript();
        else onClose();
      }}
    >
      <h2 id="transcripts-title">{t("transcripts.title")}</h2>
      {notice && (
        <p class="notice" role="status" data-testid="transcripts-notice">
          {notice}
        </p>
      )}
      {error && <ErrorNotice error={error} testid="transcripts-error" />}
      {open ? (
        <TranscriptView
          key={open.id}
          id={open.id}
          hit={open.hit}
          query={hits?.query ?? ""}
          onBack={closeTranscript}
          onError={setError}
          onDeleted={() => {
            setNotice(t("transcripts.deleted"));
            returnTo.current = null;
            closeTranscript();
            void refresh();
            if (hits) setHits({ ...hits, hits: hits.hits.filter((h) => h.id !== open.id) });
          }}
        />
      ) : (
        <>
          <p class="hint">{t("transcripts.hint")}</p>
          <div class="field">
            <label for="transcripts-search">{t("transcripts.search")}</label>
            <p class="hint" id="transcripts-search-hint">{t("transcripts.searchHint")}</p>
            <input
              id="transcripts-search"
              ref={search}
              data-testid="transcripts-search"
              type="search"
              autocomplete="off"
              aria-describedby="transcripts-search-hint"
              aria-controls="transcripts-results"
              value={query}
              onInput={(e) => setQuery(e.currentTarget.value)}
            />
          </div>
          <div id="transcripts-results">
            {hits !== null ? <Hits hits={hits.hits} query={hits.query} onOpen={openTranscript} /> : <List list={list} onOpen={openTranscript} />}
          </div>
        </>
      )}
      <button type="button" class="button primary" onClick={onClose}>
        {t("transcripts.close")}
      </button>
    </section>
  );
}

type Open = (id: string, hit: TranscriptLine | null, from: string) => void;

function List({ list, onOpen }: { list: TranscriptSummary[] | null; onOpen: Open }) {
  if (list === null) return <p class="hint">{t("transcripts.loading")}</p>;
  if (list.length === 0) return <p class="hint">{t("transcripts.empty")}</p>;
  return (
    <ul class="transcripts">
      {list.map((s) => {
        const date = s.startedAt ? formatDateTime(s.startedAt) : "";
        return (
          <li key={s.id}>
            <button type="button" class="transcript-item" data-testid="transcript" data-id={s.id} onClick={() => onOpen(s.id, null, `[data-testid="transcript"][data-id="${CSS.escape(s.id)}"]`)}>
              <span class="title">{s.title}</span>
              <span class="meta">
                {date || t("transcripts.unknownDate")} · {s.lines === 1 ? t("transcripts.lineOne") : t("transcripts.lines", { count: s.lines })}
              </span>
            </button>
          </li>
        );
      })}
    </ul>
  );
}

function Hits({ hits, query, onOpen }: { hits: TranscriptHit[]; query: string; onOpen: Open }) {
  return (
    <>
      <p class="hint" role="status">
        {hits.length === 0 ? t("transcripts.noHits", { query }) : hits.length === 1 ? t("transcripts.hitOne") : t("transcripts.hits", { count: hits.length })}
      </p>
      {hits.length > 0 && (
        <ul class="transcripts hits">
          {hits.map((h, i) => (
            <li key={`${h.id}/${h.line.startMs}/${i}`}>
              <button type="button" class="transcript-item" data-testid="transcript-hit" data-id={h.id} data-index={i} onClick={() => onOpen(h.id, h.line, `[data-testid="transcript-hit"][data-index="${i}"]`)}>
                <span class="meta">
                  {h.title} · <strong class="speaker">{h.line.speaker}</strong> ·{" "}
                  <time dateTime={isoDuration(h.line.startMs)}>{formatTimestamp(h.line.startMs)}</time>
                </span>
                <span class="text">
                  <Highlighted text={h.line.text} query={query} />
                </span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

function Highlighted({ text, query }: { text: string; query: string }) {
  return (
    <>
      {highlightParts(text, query).map((p, i) => (p.match ? <mark key={i}>{p.text}</mark> : <span key={i}>{p.text}</span>))}
    </>
  );
}

function TranscriptView(props: { id: string; hit: TranscriptLine | null; query: string; onBack: () => void; onError: (e: AppError | null) => void; onDeleted: () => void }) {
  const { bridge } = useApp();
  const [transcript, setTranscript] = useState<Transcript | null>(null);
  const [exported, setExported] = useState<{ format: ExportFormat; path: string; text: string } | null>(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [busy, setBusy] = useState(false);
  const root = useRef<HTMLElement>(null);
  const hitAt = transcript && props.hit ? hitLineIndex(transcript.lines, props.hit) : -1;

  // The button that opened it is gone: the focus goes to the title at once (Escape works), while it loads.
  useLayoutEffect(() => root.current?.querySelector<HTMLElement>("h3")?.focus(), []);

  useEffect(() => {
    bridge.call("get_transcript", { id: props.id }).then(setTranscript, (e: unknown) => props.onError(toAppError(e)));
  }, [bridge, props.id]);

  // Once shown, the hit's line in view and focused (screen readers read it).
  useEffect(() => {
    const line = transcript ? root.current?.querySelector(".transcript-line.hit") : null;
    if (line instanceof HTMLElement) {
      line.scrollIntoView({ block: "center" });
      line.focus({ preventScroll: true });
    }
  }, [transcript, hitAt]);

  useEffect(() => {
    if (!confirmDelete) return;
    const timer = setTimeout(() => setConfirmDelete(false), 5000);
    return () => clearTimeout(timer);
  }, [confirmDelete]);

  async function exportAs(format: ExportFormat) {
    if (busy) return;
    setBusy(true);
    props.onError(null);
    try {
      const r = await bridge.call("export_transcript", { id: props.id, format });
      setExported({ format, ...r });
    } catch (e) {
      props.onError(toAppError(e));
    } finally {
      setBusy(false);
    }
  }

  async function remove() {
    if (!confirmDelete) return setConfirmDelete(true);
    setConfirmDelete(false);
    if (busy) return;
    setBusy(true);
    try {
      await bridge.call("delete_transcript", { id: props.id });
      props.onDeleted();
    } catch (e) {
      props.onError(toAppError(e));
      setBusy(false);
    }
  }

  return (
    <section class="transcript-view" data-testid="transcript-view" data-id={props.id} ref={root} aria-labelledby="transcript-view-title">
      <button type="button" class="button small secondary back" onClick={props.onBack}>
        {t("transcripts.back")}
      </button>
      <h3 id="transcript-view-title" tabIndex={-1}>
        {transcript?.title ?? t("transcripts.loading")}
      </h3>
      {transcript && (
        <>
          <div class="row actions" role="group" aria-label={t("transcripts.export")}>
            {EXPORT_FORMATS.map((f) => (
              <button key={f} type="button" class="button small secondary" data-testid={`transcript-export-${f}`} onClick={() => void exportAs(f)}>
                {t(EXPORT_LABELS[f])}
              </button>
            ))}
            <button
              type="button"
              class={`button small ${confirmDelete ? "danger" : "secondary"}`}
              data-testid="transcript-delete"
              aria-label={confirmDelete ? t("transcripts.deleteConfirmLabel", { title: transcript.title }) : t("transcripts.deleteLabel", { title: transcript.title })}
              onClick={() => void remove()}
            >
              {confirmDelete ? t("transcripts.deleteConfirm") : t("transcripts.delete")}
            </button>
          </div>
          <div role="status">
            {exported && (
              <div class="notice exported">
                <p>
                  {t("transcripts.exported")} <code data-testid="transcript-export-path">{exported.path}</code>
                </p>
                <details>
                  <summary>{t("transcripts.preview")}</summary>
                  <pre tabIndex={0} aria-label={t("transcripts.preview")}>
                    {exported.text}
                  </pre>
                </details>
              </div>
            )}
          </div>
          {transcript.lines.length === 0 ? (
            <p class="hint">{t("transcripts.noLines")}</p>
          ) : (
            <ol class="transcript-lines">
              {transcript.lines.map((l, i) => (
                <li
                  key={i}
                  class={`transcript-line${i === hitAt ? " hit" : ""}`}
                  data-testid="transcript-line"
                  data-speaker={l.speaker}
                  aria-current={i === hitAt ? "true" : undefined}
                  tabIndex={i === hitAt ? -1 : undefined}
                >
                  <p class="meta">
                    <strong class="speaker">{l.speaker}</strong> <time dateTime={isoDuration(l.startMs)}>{formatTimestamp(l.startMs)}</time>
                  </p>
                  <p class="text">{i === hitAt ? <Highlighted text={l.text} query={props.query} /> : l.text}</p>
                </li>
              ))}
            </ol>
          )}
        </>
      )}
    </section>
  );
}
