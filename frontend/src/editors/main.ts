// The editors' pages: everything works without this script (plain forms); it only enhances.
// - The live preview: the body is rendered by the server's own renderer (POST /kb/render) as the help center
//   and Telegram show it; the HTML it returns is already cleaned there.
// - A body longer than the limit is refused before sending, with the text left in the form.
// - "What would the bot say" on the editor compares the published knowledge base with the form's unsaved text.
import "./editors.css";
import { api } from "../shared/http";

interface Rendered {
  html: string;
  telegram: string;
}

interface AskHit {
  article_id: number;
  title: string;
  language: string;
  band: string;
  score: number;
  confidence: number;
}

interface AskResult {
  band: string;
  served_title: string | null;
  answer_html: string;
  hits: AskHit[];
}

interface AskOut {
  published: AskResult;
  draft: AskResult | null;
}

function texts(): DOMStringMap {
  return document.querySelector<HTMLElement>("#texts")?.dataset ?? {};
}

function showProblem(message: string | null): void {
  const box = document.querySelector<HTMLElement>("#client-problem");
  if (!box) return;
  box.textContent = message ?? "";
  box.hidden = !message;
}

function field(form: HTMLFormElement, name: string): string {
  const el = form.elements.namedItem(name);
  return el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement
    ? el.value
    : "";
}

function enhanceEditor(form: HTMLFormElement): void {
  const body = form.querySelector<HTMLTextAreaElement>("#body");
  const web = document.querySelector<HTMLElement>("#preview-web");
  const telegram = document.querySelector<HTMLElement>("#preview-telegram");
  if (!body || !web || !telegram) return;
  const max = Number(form.dataset.maxBody ?? "100000");
  let timer: number | undefined;
  let sent = 0;

  const refresh = async (): Promise<void> => {
    if (body.value.length > max) {
      showProblem(texts().tooLong ?? "");
      return;
    }
    showProblem(null);
    const mine = ++sent;
    try {
      const out = await api<Rendered>("POST", "/kb/render", { body: body.value });
      if (mine !== sent) return; // a newer keystroke's preview is on its way
      web.innerHTML = out.html;
      telegram.innerHTML = out.telegram;
      body.dataset.previewed = String(mine);
    } catch {
      showProblem(texts().previewError ?? "");
    }
  };

  body.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => void refresh(), 250);
  });
  form.addEventListener("submit", (event) => {
    if (body.value.length > max) {
      event.preventDefault();
      showProblem(texts().tooLong ?? "");
      body.focus();
    }
  });
}

function cell(row: HTMLTableRowElement, text: string, numeric = false): void {
  const td = row.insertCell();
  td.textContent = text;
  if (numeric) td.className = "num";
}

function renderResult(labels: DOMStringMap, heading: string, result: AskResult): HTMLElement {
  const box = document.createElement("div");
  box.className = `ask-result band-${result.band}`;
  box.dataset.band = result.band;
  const h = document.createElement("h3");
  h.textContent = heading;
  const band = document.createElement("p");
  band.className = "band";
  const badge = document.createElement("span");
  badge.className = `band-badge band-${result.band}`;
  badge.textContent = labels[`band${result.band[0].toUpperCase()}${result.band.slice(1)}`] ?? result.band;
  band.append(badge, " ", result.served_title ? `${labels.labelServed}: ${result.served_title}` : labels.labelNone ?? "");
  box.append(h, band);
  if (result.hits.length) {
    const table = document.createElement("table");
    table.className = "kb-table hits";
    result.hits.forEach((hit, i) => {
      const row = table.insertRow();
      cell(row, String(i + 1));
      cell(row, `${hit.title} (${hit.language})`);
      cell(row, labels[`band${hit.band[0].toUpperCase()}${hit.band.slice(1)}`] ?? hit.band);
      cell(row, hit.score.toFixed(3), true);
      cell(row, hit.confidence.toFixed(3), true);
    });
    box.append(table);
  }
  if (result.answer_html) {
    const answer = document.createElement("div");
    answer.className = "rendered";
    answer.innerHTML = result.answer_html; // cleaned by the server's renderer
    box.append(answer);
  }
  return box;
}

function enhanceDraftCheck(check: HTMLFormElement, editor: HTMLFormElement): void {
  const out = document.querySelector<HTMLElement>("#check-result");
  if (!out) return;
  check.addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = field(check, "q").trim();
    if (!question) return;
    const labels = out.dataset;
    const articleId = Number(editor.dataset.articleId || "0") || null;
    out.replaceChildren();
    out.setAttribute("aria-busy", "true");
    try {
      const result = await api<AskOut>("POST", "/kb/ask", {
        question,
        language: field(editor, "language"),
        article_id: articleId,
        draft: {
          slug: field(editor, "slug"),
          language: field(editor, "language"),
          title: field(editor, "title"),
          questions: field(editor, "questions")
            .split("\n")
            .map((q) => q.trim())
            .filter((q) => q),
          body: field(editor, "body"),
        },
      });
      const columns = document.createElement("div");
      columns.className = "ask-columns";
      columns.append(renderResult(labels, labels.labelPublished ?? "", result.published));
      if (result.draft) columns.append(renderResult(labels, labels.labelDraft ?? "", result.draft));
      out.replaceChildren(columns);
    } catch {
      out.textContent = labels.labelError ?? "";
    } finally {
      out.removeAttribute("aria-busy");
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const editor = document.querySelector<HTMLFormElement>("form.kb-form");
  if (editor) {
    enhanceEditor(editor);
    const check = document.querySelector<HTMLFormElement>("#draft-check");
    if (check) enhanceDraftCheck(check, editor);
  }
});
