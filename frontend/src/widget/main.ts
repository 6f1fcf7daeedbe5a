// The web-chat widget: <script src=".../widget.js" data-site="demo" data-lang="ru" async></script>.
// Shadow DOM rather than an iframe: one request instead of two, the host's CSS cannot reach in (and ours
// cannot leak out), the launcher and the panel are in the page's own accessibility tree and tab order, and
// window.FrontlineChat.open() needs no postMessage bridge. The socket protocol is in bot/channels/web/frames.py.
import { CSS } from "./style";
import { TEXTS, type Texts } from "./texts";

interface Frame {
  type: string;
  [key: string]: unknown;
}
interface Outgoing {
  cid: string;
  text?: string;
  payload?: string;
  label?: string;
}
interface ChatButton {
  label: string;
  payload: string;
}
interface Api {
  open(options?: { text?: string }): void;
  close(): void;
}
// Not a `declare global`: the help center's script declares the same property with its own (narrower) type.
const host = window as unknown as { FrontlineChat?: Api };

const FALLBACK_AFTER = 3;
// Typing, both ways: "typing" at most every TYPING_EVERY ms while the visitor types, "stopped" after
// TYPING_PAUSE ms without a key or on send; an operator's "typing" is shown for TYPING_SHOWN ms unless renewed.
const TYPING_EVERY = 3000;
const TYPING_PAUSE = 4000;
const TYPING_SHOWN = 6000;
const script = (document.currentScript ??
  document.querySelector('script[src*="widget.js"][data-site]')) as HTMLScriptElement | null;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls = "", text = ""): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text) node.textContent = text;
  return node;
}

function newCid(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

class Widget {
  readonly site: string;
  readonly lang: "ru" | "en";
  readonly t: Texts;
  readonly base: string;
  readonly key: string;
  ws: WebSocket | null = null;
  ready = false;
  // Long-poll fallback: after FALLBACK_AFTER sockets that never opened (a network that blocks WebSocket).
  failures = 0;
  polling = false;
  outgoing: Frame[] = [];
  waiting: AbortController | null = null;
  retry = 0;
  timer = 0;
  conversation = 0;
  seq = 0;
  shown = new Set<string>();
  pending = new Map<string, HTMLElement>();
  acks = new Map<number, number[]>();
  ackTimer = 0;
  suggestTimer = 0;
  typingOn = false;
  typingSentAt = 0;
  typingTimer = 0;
  typingShownTimer = 0;
  root: HTMLDivElement;
  panel: HTMLDivElement;
  launcher: HTMLButtonElement;
  log: HTMLDivElement;
  field: HTMLTextAreaElement;
  status: HTMLDivElement;
  typing: HTMLDivElement;
  sugg: HTMLDivElement;

  constructor(tag: HTMLScriptElement) {
    this.site = tag.dataset.site ?? "";
    this.lang = tag.dataset.lang === "en" ? "en" : tag.dataset.lang === "ru" ? "ru" : document.documentElement.lang.startsWith("en") ? "en" : "ru";
    this.t = TEXTS[this.lang];
    this.base = new URL(tag.src, location.href).origin;
    this.key = `frontline-chat:${this.site}`;
    const host = el("div");
    host.id = "frontline-chat";
    const shadow = host.attachShadow({ mode: "open" });
    const style = el("style");
    style.textContent = CSS;
    shadow.append(style);
    const t = this.t;
    this.root = el("div", "root");
    this.launcher = el("button", "launcher", t.launcher);
    this.launcher.type = "button";
    this.launcher.setAttribute("aria-expanded", "false");
    this.panel = el("div", "panel");
    this.panel.hidden = true;
    this.panel.setAttribute("role", "dialog");
    this.panel.setAttribute("aria-label", t.title);
    this.launcher.setAttribute("aria-controls", "fl-panel");
    this.panel.id = "fl-panel";
    const header = el("header");
    const close = el("button", "x", "×");
    close.type = "button";
    close.setAttribute("aria-label", t.close);
    header.append(el("h2", "", t.title), close);
    this.status = el("div", "status");
    this.status.setAttribute("role", "status");
    this.log = el("div", "log");
    this.log.setAttribute("role", "log");
    this.log.setAttribute("aria-label", t.log);
    this.typing = el("div", "typing");
    this.typing.setAttribute("aria-live", "polite");
    this.sugg = el("div", "sugg");
    this.sugg.hidden = true;
    const form = el("form");
    const label = el("label", "vh", t.field);
    label.htmlFor = "fl-field";
    this.field = el("textarea");
    this.field.id = "fl-field";
    this.field.rows = 1;
    this.field.maxLength = 4000;
    this.field.placeholder = t.placeholder;
    const send = el("button", "send", t.send);
    send.type = "submit";
    form.append(label, this.field, send);
    // The bot's commands as quick actions, as Telegram's command menu offers them: each sends the command.
    const quick = el("div", "chips quick");
    quick.setAttribute("role", "group");
    quick.setAttribute("aria-label", t.quick);
    const actions: [string, string][] = [
      ["/tickets", t.quickTickets],
      ["/operator", t.quickOperator],
      ["/help", t.quickHelp],
    ];
    for (const [command, name] of actions) {
      const action = el("button", "", name);
      action.type = "button";
      action.addEventListener("click", () => this.enqueue({ cid: newCid(), text: command }));
      quick.append(action);
    }
    this.panel.append(header, this.status, this.log, this.typing, this.sugg, quick, form);
    this.root.append(this.launcher, this.panel);
    shadow.append(this.root);
    document.body.append(host);

    this.launcher.addEventListener("click", () => this.open());
    close.addEventListener("click", () => this.close());
    this.panel.addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.close();
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.say();
    });
    this.field.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.say();
      }
    });
    this.field.addEventListener("input", () => {
      this.suggestSoon();
      this.typed();
    });
    addEventListener("online", () => this.connect(true));
    addEventListener("offline", () => this.drop());
    // Phones suspend sockets in the background without closing them: check again when the page is back.
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.connect(true);
    });
    addEventListener("focus", () => this.connect(true));
    addEventListener("storage", (e) => {
      if (e.key === this.key + ":queue") this.renderQueue();
    });
    this.renderQueue();
    this.connect(true);
  }

  // --- the panel ---------------------------------------------------------------------------------

  open(text?: string): void {
    this.panel.hidden = false;
    this.launcher.hidden = true;
    this.root.classList.add("open");
    this.launcher.setAttribute("aria-expanded", "true");
    if (text) this.field.value = text;
    this.field.focus();
    this.log.scrollTop = this.log.scrollHeight;
  }

  close(): void {
    this.panel.hidden = true;
    this.launcher.hidden = false;
    this.root.classList.remove("open");
    this.launcher.setAttribute("aria-expanded", "false");
    this.launcher.focus();
  }

  // --- storage: the token and the messages not yet stored by the server ---------------------------

  get token(): string | null {
    return localStorage.getItem(this.key + ":token");
  }

  set token(value: string | null) {
    if (value) localStorage.setItem(this.key + ":token", value);
  }

  get queue(): Outgoing[] {
    try {
      const items = JSON.parse(localStorage.getItem(this.key + ":queue") ?? "[]") as unknown;
      return Array.isArray(items) ? (items as Outgoing[]) : [];
    } catch {
      return [];
    }
  }

  set queue(items: Outgoing[]) {
    localStorage.setItem(this.key + ":queue", JSON.stringify(items));
  }

  // --- the socket ----------------------------------------------------------------------------------

  connect(now = false): void {
    if (this.polling) {
      this.poll();
      return;
    }
    if (this.ws || !navigator.onLine) {
      if (!navigator.onLine) this.setStatus(this.t.offline);
      return;
    }
    clearTimeout(this.timer);
    if (!now) {
      const delay = Math.min(15000, 500 * 2 ** this.retry) * (0.5 + Math.random());
      this.retry++;
      this.timer = window.setTimeout(() => this.connect(true), delay);
      return;
    }
    this.setStatus(this.t.connecting);
    let ws: WebSocket;
    try {
      ws = new WebSocket(`${this.base.replace(/^http/, "ws")}/ws/chat?site=${encodeURIComponent(this.site)}`);
    } catch {
      this.polling = true; // no WebSocket at all here
      this.poll();
      return;
    }
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.failures = 0;
      ws.send(JSON.stringify(this.hello()));
    };
    ws.onmessage = (e) => {
      try {
        this.receive(JSON.parse(String(e.data)) as Frame);
      } catch {
        /* a frame we cannot read is ignored; the catch-up on reconnect repairs anything missed */
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      if (!opened && navigator.onLine && ++this.failures >= FALLBACK_AFTER) {
        this.polling = true;
        this.poll();
        return;
      }
      this.setStatus(navigator.onLine ? this.t.connecting : this.t.offline);
      this.connect();
    };
  }

  hello(): Frame {
    const hello: Frame = { type: "hello", lang: this.lang, seq: this.seq };
    if (this.token) hello.token = this.token;
    if (this.conversation) hello.conversation = this.conversation;
    const d = script?.dataset;
    if (d?.userId && d.userTs && d.userSig) {
      hello.user = { id: d.userId, ts: Number(d.userTs), sig: d.userSig, name: d.userName ?? "" };
    }
    return hello;
  }

  async poll(): Promise<void> {
    if (this.waiting) return;
    while (this.polling && navigator.onLine) {
      // Every poll says hello (the server keeps no poll state) and carries the queue and what is pending.
      const frames: Frame[] = [this.hello()];
      for (const item of this.queue) frames.push(this.frameOf(item));
      frames.push(...this.outgoing.splice(0, 40));
      const waiting = new AbortController();
      this.waiting = waiting;
      try {
        const response = await fetch(`${this.base}/ws/chat/poll?site=${encodeURIComponent(this.site)}`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ frames: frames.slice(0, 50), wait: frames.length === 1 }),
          signal: waiting.signal,
        });
        const body = (await response.json()) as { frames?: Frame[] };
        this.retry = 0;
        for (const frame of body.frames ?? []) this.receive(frame);
        // Still unconfirmed (rate-limited): do not spin; the next poll resends it.
        if (frames.length > 1 && this.queue.length) await new Promise((r) => setTimeout(r, 1000));
      } catch {
        if (!waiting.signal.aborted) await new Promise((r) => setTimeout(r, Math.min(15000, 500 * 2 ** this.retry++)));
      } finally {
        this.waiting = null;
      }
    }
    if (!navigator.onLine) this.setStatus(this.t.offline);
  }

  frameOf(item: Outgoing): Frame {
    return item.payload
      ? { type: "button", cid: item.cid, payload: item.payload, label: item.label ?? "" }
      : { type: "message", cid: item.cid, text: item.text ?? "" };
  }

  drop(): void {
    const ws = this.ws;
    this.ws = null;
    this.ready = false;
    ws?.close();
    this.setStatus(this.t.offline);
  }

  send(frame: Frame): boolean {
    if (this.polling) {
      // Messages ride in every poll from the queue; other frames once. Cut the wait short to send now.
      if (frame.type !== "message" && frame.type !== "button") this.outgoing.push(frame);
      this.waiting?.abort();
      return true;
    }
    if (!this.ws || !this.ready) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  setStatus(text: string): void {
    this.status.textContent = text;
  }

  receive(frame: Frame): void {
    switch (frame.type) {
      case "welcome":
        this.token = String(frame.token);
        this.ready = true;
        this.retry = 0;
        this.setStatus("");
        this.flush();
        break;
      case "message":
        if (frame.author === "operator") this.showTyping(false, "");
        this.show(frame);
        break;
      case "typing":
        this.showTyping(frame.on === true, typeof frame.operator === "string" ? frame.operator : "");
        break;
      case "suggestions":
        this.showSuggestions(frame.articles as { title: string; url: string }[]);
        break;
      case "error":
        this.refused(frame);
        break;
    }
  }

  flush(): void {
    for (const item of this.queue) {
      if (!this.send(this.frameOf(item))) return;
      this.mark(item.cid, this.t.sent);
    }
  }

  refused(frame: Frame): void {
    const cid = typeof frame.cid === "string" ? frame.cid : "";
    if (frame.code === "rate_limited") {
      window.setTimeout(() => this.flush(), Math.max(200, Number(frame.retry_after) * 1000));
      return;
    }
    if (cid && this.queue.some((q) => q.cid === cid)) {
      // The server will never take this one (too long, reused id): say so instead of retrying forever.
      this.queue = this.queue.filter((q) => q.cid !== cid);
      this.mark(cid, `${this.t.refused} ${String(frame.detail ?? frame.code)}`);
      this.pending.delete(cid);
    }
  }

  // --- what the customer does ----------------------------------------------------------------------

  // The visitor is typing: the operator holding the conversation sees it (over the socket only; a long
  // poll would be cut short for every key).
  typed(): void {
    if (this.polling || !this.field.value.trim()) {
      this.stopTyping();
      return;
    }
    const now = Date.now();
    if ((!this.typingOn || now - this.typingSentAt >= TYPING_EVERY) && this.send({ type: "typing", on: true })) {
      this.typingOn = true;
      this.typingSentAt = now;
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = window.setTimeout(() => this.stopTyping(), TYPING_PAUSE);
  }

  stopTyping(): void {
    clearTimeout(this.typingTimer);
    if (!this.typingOn) return;
    this.typingOn = false;
    this.send({ type: "typing", on: false });
  }

  // The bot working on a reply ("Support is typing…") or an operator typing ("Anna is typing…").
  showTyping(on: boolean, operator: string): void {
    clearTimeout(this.typingShownTimer);
    this.typing.textContent = on ? (operator ? this.t.operatorTyping.replace("{name}", operator) : this.t.typing) : "";
    if (on && operator) this.typingShownTimer = window.setTimeout(() => this.showTyping(false, ""), TYPING_SHOWN);
  }

  say(): void {
    const text = this.field.value.trim();
    if (!text) return;
    this.stopTyping();
    this.field.value = "";
    this.sugg.hidden = true;
    this.enqueue({ cid: newCid(), text });
  }

  press(button: ChatButton): void {
    this.enqueue({ cid: newCid(), payload: button.payload, label: button.label });
  }

  enqueue(item: Outgoing): void {
    this.queue = [...this.queue, item];
    this.bubble(item);
    this.flush();
  }

  renderQueue(): void {
    for (const item of this.queue) if (!this.pending.has(item.cid)) this.bubble(item);
  }

  bubble(item: Outgoing): void {
    const node = this.mine(item.text ?? item.label ?? "");
    node.dataset.cid = item.cid;
    const mark = el("span", "mark", this.ready ? this.t.sent : this.t.queued);
    node.append(mark);
    this.pending.set(item.cid, node);
    this.log.append(node);
    this.log.scrollTop = this.log.scrollHeight;
  }

  mine(text: string): HTMLDivElement {
    const node = el("div", "msg me");
    node.append(document.createTextNode(text)); // the customer's own words: always text, never markup
    return node;
  }

  mark(cid: string, text: string): void {
    const mark = this.pending.get(cid)?.querySelector(".mark");
    if (mark) mark.textContent = text;
  }

  suggestSoon(): void {
    clearTimeout(this.suggestTimer);
    const q = this.field.value.trim();
    if (q.length < 4) {
      this.sugg.hidden = true;
      return;
    }
    this.suggestTimer = window.setTimeout(() => this.send({ type: "suggest", q: q.slice(0, 300) }), 400);
  }

  showSuggestions(articles: { title: string; url: string }[]): void {
    this.sugg.replaceChildren();
    if (!articles.length || !this.field.value.trim()) {
      this.sugg.hidden = true;
      return;
    }
    const list = el("ul");
    for (const a of articles) {
      const link = el("a", "", a.title);
      link.href = new URL(a.url, this.base).href;
      link.target = "_blank";
      link.rel = "noopener";
      const item = el("li");
      item.append(link);
      list.append(item);
    }
    this.sugg.append(el("span", "", this.t.articles), list);
    this.sugg.hidden = false;
  }

  // --- what the server sends -----------------------------------------------------------------------

  show(frame: Frame): void {
    const conversation = Number(frame.conversation);
    const seq = Number(frame.seq);
    const id = `${conversation}:${seq}`;
    if (frame.author !== "customer") this.ack(conversation, seq);
    if (conversation > this.conversation) {
      this.conversation = conversation;
      this.seq = 0;
    }
    if (conversation === this.conversation) this.seq = Math.max(this.seq, seq);
    if (this.shown.has(id)) return;
    this.shown.add(id);
    let node: HTMLElement;
    if (frame.author === "customer") {
      const cid = String(frame.cid ?? "");
      const mine = this.pending.get(cid);
      if (mine) {
        this.pending.delete(cid);
        this.queue = this.queue.filter((q) => q.cid !== cid);
        node = mine;
        mine.remove();
        const mark = node.querySelector(".mark");
        if (mark) mark.textContent = this.t.delivered;
      } else {
        node = this.mine(String(frame.text ?? ""));
        node.append(el("span", "mark", this.t.delivered));
      }
    } else {
      node = el("div", "msg");
      const who = typeof frame.operator === "string" ? frame.operator : this.t.bot;
      node.append(el("span", "who", who));
      const body = el("div");
      // The server renders Markdown to sanitised HTML (kb.markdown.render_html); plain text stays text.
      if (typeof frame.html === "string") body.innerHTML = frame.html;
      else body.textContent = String(frame.text ?? "");
      node.append(body);
      const buttons = Array.isArray(frame.buttons) ? (frame.buttons as ChatButton[]) : [];
      if (buttons.length) {
        const chips = el("div", "chips");
        for (const b of buttons) {
          const chip = el("button", "", b.label);
          chip.type = "button";
          chip.addEventListener("click", () => {
            chips.querySelectorAll("button").forEach((c) => (c.disabled = true));
            this.press(b);
          });
          chips.append(chip);
        }
        node.append(chips);
      }
    }
    node.dataset.key = id;
    node.dataset.seq = String(seq);
    this.insert(node, conversation, seq);
  }

  insert(node: HTMLElement, conversation: number, seq: number): void {
    // Numbered messages in order; pending ones (not numbered yet) stay at the end.
    const later = Array.from(this.log.children).find((c) => {
      const key = (c as HTMLElement).dataset.key;
      if (!key) return true;
      const parts = key.split(":").map(Number);
      return parts[0] > conversation || (parts[0] === conversation && parts[1] > seq);
    });
    this.log.insertBefore(node, later ?? null);
    this.log.scrollTop = this.log.scrollHeight;
  }

  ack(conversation: number, seq: number): void {
    const seqs = this.acks.get(conversation) ?? [];
    seqs.push(seq);
    this.acks.set(conversation, seqs);
    clearTimeout(this.ackTimer);
    this.ackTimer = window.setTimeout(() => {
      for (const conv of Array.from(this.acks.keys())) {
        const list = this.acks.get(conv) ?? [];
        for (let i = 0; i < list.length; i += 500) {
          if (!this.send({ type: "ack", conversation: conv, seqs: list.slice(i, i + 500) })) return;
        }
      }
      this.acks.clear();
    }, 50);
  }
}

function start(): void {
  if (!script || host.FrontlineChat) return;
  const widget = new Widget(script);
  host.FrontlineChat = {
    open: (options) => widget.open(options?.text),
    close: () => widget.close(),
  };
}

if (document.body) start();
else document.addEventListener("DOMContentLoaded", start);
