// Under each answer: its sources as cards, and what the person says about it, saved in one click.
// Every change is an action answered by app/chat.py with {ok, error?}; nothing is posted in the chat.
// Props (set by the server): step_id, saved, sources [{n, title, path, preview, text}], thumb, marks.
import { useEffect, useRef, useState } from "react";
import { Button } from "@/components/ui/button";
import { Textarea } from "@/components/ui/textarea";
import { Markdown } from "@/components/markdown";
import { Check, FileText, MessageSquare, Pencil, ThumbsDown, ThumbsUp, X } from "lucide-react";

async function send(name, payload) {
  try {
    const reply = await callAction({ name, payload: { step_id: props.step_id, ...payload } });
    const result = reply && reply.response;
    if (result && result.ok) return result;
    return { ok: false, error: (result && result.error) || "Nothing was saved. Please try again." };
  } catch (error) {
    return { ok: false, error: "Nothing was saved: the server could not be reached. Please try again." };
  }
}

function Toggle({ pressed, onClick, children, disabled }) {
  return (
    <Button type="button" size="sm" variant={pressed ? "default" : "outline"} aria-pressed={pressed ? "true" : "false"}
      disabled={disabled} onClick={onClick} className="h-7 px-2 gap-1">
      {children}
    </Button>
  );
}

function SourceCard({ source, mark, onMark, busy, saved }) {
  const [open, setOpen] = useState(false);
  const toggleOpen = () => {
    if (!open && saved) send("source_open", { rank: source.n });
    setOpen(!open);
  };
  return (
    <section role="group" aria-label={`Source [${source.n}]`} data-source={source.n}
      className={`groundloop-card rounded-lg border bg-card p-3 flex flex-col gap-1 min-w-0 ${open ? "groundloop-open" : ""}`}>
      <div className="flex items-baseline gap-2 min-w-0">
        <span className="font-mono text-xs text-muted-foreground">[{source.n}]</span>
        <span className="font-medium truncate" title={source.title}>{source.title}</span>
      </div>
      {source.path ? <div className="groundloop-path text-xs text-muted-foreground break-all">{source.path}</div> : null}
      {open ? (
        <div className="groundloop-source-text text-sm border-t pt-2 mt-1">
          <Markdown>{source.text}</Markdown>
        </div>
      ) : (
        <p className="groundloop-preview text-sm text-muted-foreground">{source.preview}</p>
      )}
      <div className="flex flex-wrap items-center gap-1 mt-1">
        <Button type="button" size="sm" variant="ghost" className="h-7 px-2 gap-1" aria-expanded={open ? "true" : "false"}
          onClick={toggleOpen}>
          <FileText className="h-3.5 w-3.5" />{open ? "Close" : "Open"}
        </Button>
        {saved ? (
          <>
            <Toggle pressed={mark === true} disabled={busy} onClick={() => onMark(source.n, mark === true ? null : true)}>
              <Check className="h-3.5 w-3.5" />Relevant
            </Toggle>
            <Toggle pressed={mark === false} disabled={busy} onClick={() => onMark(source.n, mark === false ? null : false)}>
              <X className="h-3.5 w-3.5" />Not relevant
            </Toggle>
          </>
        ) : null}
      </div>
    </section>
  );
}

const NOTES = {
  correction: { label: "Correction", placeholder: "What should the answer have said?", height: "min-h-[90px]",
    thanks: "Thanks — your correction is saved. A reviewer will look at it." },
  comment: { label: "Comment", placeholder: "What was good or missing?", height: "min-h-[70px]",
    thanks: "Thanks — your comment is saved." },
};

// One form for the two things a person writes: a correction (with the sources that support it) or a comment.
function NoteForm({ kind, sources, onDone }) {
  const note = NOTES[kind];
  const [text, setText] = useState("");
  const [ranks, setRanks] = useState([]);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const box = useRef(null);
  useEffect(() => { box.current && box.current.focus(); }, []);
  const id = `${kind}-${props.step_id}`;
  const save = async (event) => {
    event.preventDefault();
    setBusy(true);
    const result = await send(kind, kind === "correction" ? { text, ranks } : { text });
    setBusy(false);
    if (result.ok) onDone(note.thanks);
    else setError(result.error);
  };
  const tick = (n) => setRanks(ranks.includes(n) ? ranks.filter((r) => r !== n) : [...ranks, n].sort((a, b) => a - b));
  return (
    <form className="groundloop-form rounded-lg border p-3 flex flex-col gap-2"
      onSubmit={save} onKeyDown={(event) => { if (event.key === "Escape") { event.stopPropagation(); onDone(""); } }}>
      <label htmlFor={id} className="text-sm font-medium">{note.label}</label>
      <Textarea id={id} ref={box} value={text} onChange={(event) => setText(event.target.value)}
        placeholder={note.placeholder} className={note.height} />
      {sources && sources.length ? (
        <fieldset className="flex flex-col gap-1">
          <legend className="text-sm font-medium">Sources that support it (optional)</legend>
          {sources.map((source) => (
            <label key={source.n} className="text-sm flex items-center gap-2">
              <input type="checkbox" checked={ranks.includes(source.n)} onChange={() => tick(source.n)} />
              [{source.n}] {source.title}
            </label>
          ))}
        </fieldset>
      ) : null}
      {error ? <p role="alert" className="text-sm text-red-600">{error}</p> : null}
      <div className="flex gap-2">
        <Button type="submit" size="sm" disabled={busy || !text.trim()}>Save</Button>
        <Button type="button" size="sm" variant="outline" onClick={() => onDone("")}>Cancel</Button>
      </div>
    </form>
  );
}

export default function AnswerFeedback() {
  const sources = props.sources || [];
  const [thumb, setThumb] = useState(props.thumb || 0);
  const [marks, setMarks] = useState(props.marks || {});
  const [form, setForm] = useState("");
  const [status, setStatus] = useState("");
  const [busy, setBusy] = useState(false);
  useEffect(() => { setThumb(props.thumb || 0); setMarks(props.marks || {}); },
    [JSON.stringify(props.marks || {}), props.thumb]);

  const rate = async (value) => {
    const next = thumb === value ? 0 : value;
    setBusy(true);
    const result = await send("thumb", { value: next });
    setBusy(false);
    if (result.ok) {
      setThumb(next);
      setStatus(next ? "Thanks — saved. You can add a comment if you like." : "Your rating is taken back.");
    } else setStatus(result.error);
  };
  const mark = async (n, relevant) => {
    setBusy(true);
    const result = await send("source_mark", { rank: n, relevant });
    setBusy(false);
    if (result.ok) {
      const next = { ...marks };
      if (relevant === null) delete next[String(n)]; else next[String(n)] = relevant;
      setMarks(next);
      setStatus("");
    } else setStatus(result.error);
  };
  const done = (message) => { setForm(""); setStatus(message); };

  return (
    <div className="groundloop-feedback flex flex-col gap-2 mt-1" data-step-id={props.step_id}>
      {sources.length ? (
        <div className="flex flex-col gap-1">
          <div className="text-xs font-semibold uppercase tracking-wide text-muted-foreground">Sources</div>
          <div className="groundloop-sources">
            {sources.map((source) => (
              <SourceCard key={source.n} source={source} mark={marks[String(source.n)]} onMark={mark} busy={busy}
                saved={props.saved} />
            ))}
          </div>
        </div>
      ) : null}
      {props.saved ? (
        <div className="flex flex-wrap items-center gap-1">
          <Toggle pressed={thumb === 1} disabled={busy} onClick={() => rate(1)}>
            <ThumbsUp className="h-3.5 w-3.5" />Helpful
          </Toggle>
          <Toggle pressed={thumb === -1} disabled={busy} onClick={() => rate(-1)}>
            <ThumbsDown className="h-3.5 w-3.5" />Not helpful
          </Toggle>
          <Button type="button" size="sm" variant="ghost" className="h-7 px-2 gap-1" aria-expanded={form === "comment" ? "true" : "false"}
            onClick={() => { setStatus(""); setForm(form === "comment" ? "" : "comment"); }}>
            <MessageSquare className="h-3.5 w-3.5" />Add a comment
          </Button>
          <Button type="button" size="sm" variant="ghost" className="h-7 px-2 gap-1" aria-expanded={form === "correction" ? "true" : "false"}
            onClick={() => { setStatus(""); setForm(form === "correction" ? "" : "correction"); }}>
            <Pencil className="h-3.5 w-3.5" />Suggest a correction
          </Button>
        </div>
      ) : null}
      {form ? <NoteForm key={form} kind={form} sources={form === "correction" ? sources : []} onDone={done} /> : null}
      <p role="status" aria-live="polite" className="groundloop-status text-sm text-muted-foreground">{status}</p>
    </div>
  );
}
