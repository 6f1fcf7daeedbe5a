// The operator inbox: live updates over server-sent events, actions, the reply draft and the keyboard.
// The pages are complete without this script (lists, conversation, links); it adds what needs a live tab.
// - Live: /inbox/events nudges the tab; the tab re-reads its server-rendered fragment. Each (re)connection
//   starts with "hello", so a tab that was offline re-reads everything it shows (it never keeps a stale list).
// - The draft of a reply lives in localStorage per operator and conversation: it survives a reload, a
//   failed send and an expired session, and is removed only once the server has stored the reply.
import "./inbox.css";
import { ApiError, api } from "../shared/http";
import { CustomerTyping, HolderTyping } from "./typing";

type Data = Record<string, unknown>;

function fill(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (_m, key: string) => String(values[key] ?? ""));
}

// --- the live connection -------------------------------------------------------------------------------

class Live {
  private source: EventSource | null = null;
  private retry = 1000;
  private everConnected = false;
  private wasOffline = false;
  private ended = false;
  private readonly stateEl: HTMLElement | null;

  constructor(
    private readonly onSync: (reconnected: boolean) => void,
    private readonly onEvent: (name: string, data: Data) => void,
  ) {
    this.stateEl = document.querySelector<HTMLElement>("[data-live-state]");
    this.connect();
    window.addEventListener("online", () => this.reconnectSoon(0));
  }

  private show(online: boolean, caughtUp = false): void {
    const el = this.stateEl;
    if (!el) return;
    el.dataset.state = online ? "online" : "offline";
    el.textContent = (online ? (caughtUp ? el.dataset.caughtUp : el.dataset.online) : el.dataset.offline) ?? "";
    document.body.classList.toggle("is-offline", !online);
  }

  private connect(): void {
    this.source?.close();
    const source = new EventSource("/inbox/events");
    this.source = source;
    source.addEventListener("hello", () => {
      const reconnected = this.everConnected && this.wasOffline;
      this.everConnected = true;
      this.wasOffline = false;
      this.retry = 1000;
      this.show(true, reconnected);
      this.onSync(reconnected);
    });
    for (const name of [
      "message.stored",
      "conversation.status_changed",
      "ticket.changed",
      "ticket.breach",
      "incident.forming",
      "incident.changed",
      "conversation.typing",
      "resync",
    ]) {
      source.addEventListener(name, (event) => {
        let data: Data = {};
        try {
          data = JSON.parse((event as MessageEvent<string>).data) as Data;
        } catch {
          /* a malformed frame is only a nudge: re-read anyway */
        }
        this.onEvent(name, data);
      });
    }
    // The session that opened the stream expired or was signed out: stop, and say so (drafts stay kept).
    source.addEventListener("signed_out", () => this.signedOut());
    source.onerror = () => {
      if (this.ended) return;
      this.wasOffline = true;
      this.show(false);
      // The browser retries by itself after a dropped stream, but gives up for good on an HTTP error
      // (a restarting proxy, an expired session): then this tab asks whether it is still signed in, and
      // retries with a growing pause if it is.
      if (source.readyState !== EventSource.CLOSED) return;
      fetch("/api/me", { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then((response) => (response.status === 401 ? this.signedOut() : this.reconnectSoon(this.retry)))
        .catch(() => this.reconnectSoon(this.retry));
    };
  }

  private signedOut(): void {
    this.ended = true;
    this.source?.close();
    this.source = null;
    const el = this.stateEl;
    if (el) {
      el.dataset.state = "signed-out";
      el.textContent = el.dataset.signedOut ?? "";
    }
    const link = document.querySelector<HTMLAnchorElement>("[data-sign-in-again]");
    if (link) {
      link.href = `/login?next=${encodeURIComponent(window.location.pathname + window.location.search)}`;
      link.hidden = false;
    }
    document.body.classList.add("is-signed-out");
  }

  private reconnectSoon(delay: number): void {
    if (this.ended) return;
    this.retry = Math.min(this.retry * 2, 15000);
    window.setTimeout(() => this.connect(), delay);
  }
}

function debounce(fn: () => void, ms: number): () => void {
  let timer = 0;
  return () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(fn, ms);
  };
}

// A re-read because of a live event says so: an open tab refreshing itself is not the operator being active.
async function fragment(url: string, live: boolean): Promise<string | null> {
  const headers: Record<string, string> = { Accept: "text/html" };
  if (live) headers["X-Frontline-Refresh"] = "live";
  const response = await fetch(url, { credentials: "same-origin", headers });
  if (!response.ok || new URL(response.url).pathname === "/login") return null;
  return response.text();
}

// --- notices, notifications, sound -------------------------------------------------------------------

function notice(text: string, url?: string): void {
  const box = document.querySelector<HTMLElement>("[data-notices]");
  if (!box) return;
  const item = document.createElement("div");
  item.className = "notice warn";
  item.setAttribute("role", "alert");
  const span = document.createElement(url ? "a" : "span");
  if (url && span instanceof HTMLAnchorElement) span.href = url;
  span.textContent = text;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "secondary small";
  close.textContent = box.dataset.dismiss ?? "×";
  close.addEventListener("click", () => item.remove());
  item.append(span, close);
  box.prepend(item);
}

function handleNotice(name: string, data: Data): void {
  const box = document.querySelector<HTMLElement>("[data-notices]");
  if (!box) return;
  // A conversation moved from one holder to this operator: a transfer to them.
  const me = document.querySelector<HTMLElement>("[data-operator]")?.dataset.operator;
  if (
    name === "conversation.status_changed" &&
    data.from === "assigned" &&
    data.to === "assigned" &&
    me !== undefined &&
    String(data.assignee_id) === me
  ) {
    const id = String(data.conversation_id ?? "");
    const text = fill(box.dataset.transferred ?? "", { id });
    notice(text, `/inbox/conversations/${id}`);
    notify(text, "", `/inbox/conversations/${id}`);
    return;
  }
  if (name === "ticket.breach") {
    const kind = String(data.kind ?? "");
    const key = kind === "at_risk" ? "atRisk" : kind;
    const template = box.dataset[key];
    if (template) notice(fill(template, { number: String(data.number ?? "") }));
  } else if (name === "incident.forming") {
    const numbers = Array.isArray(data.numbers) ? data.numbers.length : 0;
    notice(fill(box.dataset.forming ?? "", { count: numbers, subject: String(data.subject ?? "") }));
  }
}

function beep(): void {
  try {
    const ctx = new AudioContext();
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = 880;
    gain.gain.value = 0.05;
    osc.connect(gain).connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.15);
  } catch {
    /* no audio: the notification and the title still say it */
  }
}

function notify(title: string, body: string, url: string): void {
  beep();
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  const n = new Notification(title, { body, tag: url });
  n.onclick = () => {
    window.focus();
    window.location.href = url;
  };
}

function setupPresence(): void {
  const select = document.querySelector<HTMLSelectElement>("[data-presence]");
  select?.addEventListener("change", () => {
    void api("POST", "/api/inbox/presence", { status: select.value }).catch(() => undefined);
  });
}

function setupNotificationButton(): void {
  const button = document.querySelector<HTMLButtonElement>("[data-enable-notifications]");
  if (!button || !("Notification" in window) || Notification.permission !== "default") return;
  button.hidden = false;
  button.addEventListener("click", () => {
    void Notification.requestPermission().then(() => {
      button.hidden = true;
    });
  });
}

// --- the help overlay and keys -----------------------------------------------------------------------

function typing(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  return !!el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
}

function setupHelp(): HTMLDialogElement | null {
  const dialog = document.querySelector<HTMLDialogElement>("[data-help]");
  document.querySelector("[data-help-open]")?.addEventListener("click", () => dialog?.showModal());
  return dialog;
}

// --- the queue page ------------------------------------------------------------------------------------

function queuePage(root: HTMLElement): void {
  const list = document.getElementById("queue");
  if (!list) return;
  const baseTitle = root.dataset.title ?? document.title;
  let selected = -1;
  let lastWaiting = -1;

  const rows = (): HTMLElement[] => Array.from(list.querySelectorAll<HTMLElement>("li.conversation"));
  const applyCounts = (): void => {
    const nav = list.querySelector<HTMLElement>("nav.views");
    const unread = Number(nav?.dataset.unreadTotal ?? 0);
    document.title = unread > 0 ? `(${unread}) ${baseTitle}` : baseTitle;
    const waiting = Number(nav?.dataset.waiting ?? 0);
    if (lastWaiting >= 0 && waiting > lastWaiting) notify(root.dataset.notifyWaiting ?? "", "", "/inbox");
    lastWaiting = waiting;
  };
  const select = (index: number): void => {
    const all = rows();
    if (!all.length) return;
    selected = Math.max(0, Math.min(index, all.length - 1));
    all.forEach((row, i) => row.classList.toggle("is-selected", i === selected));
    all[selected].querySelector("a")?.focus();
  };
  const refresh = async (live = false): Promise<void> => {
    const html = await fragment(`${root.dataset.listUrl}${window.location.search}`, live);
    if (html === null) return;
    list.innerHTML = html;
    applyCounts();
    if (selected >= 0) select(selected);
  };
  const later = debounce(() => void refresh(true), 100);
  applyCounts();
  new Live(
    () => void refresh(true),
    (name, data) => {
      if (name === "conversation.typing") return; // shown in the conversation, not in the list
      handleNotice(name, data);
      if (name === "message.stored" && data.direction === "in" && data.status === "assigned") {
        const mine = list.querySelector(`nav.views a[data-view="mine"]`);
        if (mine && list.querySelector(`li[data-conversation="${String(data.conversation_id)}"]`))
          notify(root.dataset.notifyMessage ?? "", "", `/inbox/conversations/${String(data.conversation_id)}`);
      }
      later();
    },
  );
  const help = setupHelp();
  setupNotificationButton();
  setupPresence();
  document.addEventListener("keydown", (event) => {
    if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "?") {
      help?.showModal();
    } else if (event.key === "j" || event.key === "ArrowDown") {
      event.preventDefault();
      select(selected + 1);
    } else if (event.key === "k" || event.key === "ArrowUp") {
      event.preventDefault();
      select(selected - 1);
    } else if (event.key === "Enter" && selected >= 0) {
      rows()[selected]?.querySelector("a")?.click();
    }
  });
}

// --- the conversation page -----------------------------------------------------------------------------

function conversationPage(root: HTMLElement): void {
  const id = root.dataset.conversation ?? "";
  const thread = document.getElementById("thread");
  const form = document.querySelector<HTMLFormElement>("[data-reply]");
  const textarea = document.querySelector<HTMLTextAreaElement>("#reply-text");
  const noteMode = document.querySelector<HTMLInputElement>("[data-note-mode]");
  const errorBox = document.querySelector<HTMLElement>("[data-reply-error]");
  const draftState = document.querySelector<HTMLElement>("[data-draft-state]");
  const hint = document.querySelector<HTMLElement>("[data-holder-hint]");
  const limit = Number(root.dataset.limit ?? 4000);
  const draftKey = `frontline:draft:${root.dataset.operator ?? ""}:${id}`;
  if (!thread || !form || !textarea) return;

  const showError = (text: string, signIn = false): void => {
    if (!errorBox) return;
    errorBox.textContent = text;
    if (signIn) {
      const link = document.createElement("a");
      link.href = `/login?next=${encodeURIComponent(window.location.pathname)}`;
      link.textContent = ` ${root.dataset.signIn ?? ""}`;
      errorBox.append(" ", link);
    }
    errorBox.hidden = false;
  };
  const clearError = (): void => {
    if (errorBox) errorBox.hidden = true;
  };
  const scrollDown = (): void => {
    const last = thread.querySelector("ol.messages li:last-child");
    last?.scrollIntoView({ block: "nearest" });
  };
  const state = (): HTMLElement | null => thread.querySelector<HTMLElement>(".thread-state");
  const syncHint = (): void => {
    if (hint) hint.hidden = state()?.dataset.mine === "yes";
  };
  const refresh = async (live = false): Promise<void> => {
    const html = await fragment(root.dataset.threadUrl ?? "", live);
    if (html === null) return;
    thread.innerHTML = html;
    syncHint();
    scrollDown();
  };
  const later = debounce(() => void refresh(true), 80);

  // The draft: restored on load, saved on every change, removed after the server stored the reply.
  const saved = window.localStorage.getItem(draftKey);
  if (saved) textarea.value = saved;
  const saveDraft = (): void => {
    if (textarea.value) window.localStorage.setItem(draftKey, textarea.value);
    else window.localStorage.removeItem(draftKey);
    if (draftState) draftState.textContent = textarea.value ? (draftState.dataset.saved ?? "") : "";
  };
  textarea.addEventListener("input", saveDraft);
  // Only the holder's reply is announced to the customer; a note never is.
  const holderTyping = new HolderTyping(
    `/api/inbox/conversations/${id}/typing`,
    () => state()?.dataset.mine === "yes" && !noteMode?.checked,
  );
  textarea.addEventListener("input", () => holderTyping.input());
  const customerTyping = new CustomerTyping(document.querySelector<HTMLElement>("[data-customer-typing]"));

  const failed = (error: unknown): void => {
    if (error instanceof ApiError && error.status === 401) {
      showError(root.dataset.expired ?? "", true);
      return;
    }
    const reason = error instanceof Error ? error.message : String(error);
    showError(fill(root.dataset.failed ?? "{reason}", { reason }));
  };

  const act = async (action: string): Promise<void> => {
    clearError();
    if (action === "close" && !window.confirm(root.dataset.confirmClose ?? "")) return;
    try {
      await api("POST", `/api/inbox/conversations/${id}/${action}`);
    } catch (error) {
      if (error instanceof ApiError && error.status === 409 && action === "take") {
        const who = error.details.assignee;
        showError(
          who
            ? fill(root.dataset.claimLost ?? "", { name: String(who) })
            : fill(root.dataset.claimGone ?? "", { status: String(error.details.status ?? "") }),
        );
      } else {
        failed(error);
      }
    }
    await refresh();
  };
  thread.addEventListener("click", (event) => {
    const target = event.target as HTMLElement;
    const button = target.closest<HTMLButtonElement>("button[data-action]");
    if (button?.dataset.action) void act(button.dataset.action);
    if (target.closest("button[data-transfer-open]")) transfer?.open();
  });
  const transfer = transferDialog(id, async () => {
    await refresh();
  });

  for (const button of document.querySelectorAll<HTMLButtonElement>("[data-insert]")) {
    button.addEventListener("click", () => {
      const text = button.dataset.insert ?? "";
      textarea.value = textarea.value ? `${textarea.value.trimEnd()}\n\n${text}` : text;
      saveDraft();
      textarea.focus();
    });
  }

  // Canned responses: searched by shortcut, rendered by the server for this customer, inserted on click.
  const cannedBox = document.querySelector<HTMLElement>("[data-canned]");
  const cannedInput = cannedBox?.querySelector<HTMLInputElement>("input");
  const cannedList = cannedBox?.querySelector<HTMLElement>("[data-canned-results]");
  const searchCanned = debounce(() => {
    const q = cannedInput?.value ?? "";
    void api<{ items: { shortcut: string; title: string; text: string }[] }>(
      "GET",
      `${cannedBox?.dataset.url ?? ""}?q=${encodeURIComponent(q.replace(/^\//, ""))}`,
    )
      .then((found) => {
        if (!cannedList) return;
        cannedList.replaceChildren();
        if (!found.items.length) {
          const li = document.createElement("li");
          li.className = "muted small";
          li.textContent = cannedBox?.dataset.none ?? "";
          cannedList.append(li);
        }
        for (const item of found.items) {
          const li = document.createElement("li");
          const button = document.createElement("button");
          button.type = "button";
          button.className = "secondary small";
          button.textContent = `/${item.shortcut} — ${item.title}`;
          button.addEventListener("click", () => {
            textarea.value = textarea.value ? `${textarea.value.trimEnd()}\n${item.text}` : item.text;
            saveDraft();
            cannedList.replaceChildren();
            if (cannedInput) cannedInput.value = "";
            textarea.focus();
          });
          li.append(button);
          cannedList.append(li);
        }
      })
      .catch(failed);
  }, 150);
  cannedInput?.addEventListener("input", searchCanned);

  const send = async (): Promise<void> => {
    clearError();
    const text = textarea.value.trim();
    if (!text) return;
    if (text.length > limit) {
      showError(fill(root.dataset.tooLong ?? "", { length: text.length, limit }));
      return;
    }
    const kind = noteMode?.checked ? "note" : "reply";
    holderTyping.stop();
    const button = form.querySelector<HTMLButtonElement>("[data-send]");
    if (button) button.disabled = true;
    try {
      await api("POST", `/api/inbox/conversations/${id}/${kind}`, { text });
      textarea.value = "";
      saveDraft();
      if (noteMode) noteMode.checked = false;
      await refresh();
    } catch (error) {
      failed(error);
    } finally {
      if (button) button.disabled = false;
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void send();
  });
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      void send();
    }
  });

  new Live(
    () => void refresh(true),
    (name, data) => {
      handleNotice(name, data);
      if (String(data.conversation_id ?? "") !== id && name !== "resync") return;
      if (name === "conversation.typing") {
        customerTyping.show(data.on === true);
        return;
      }
      if (name === "message.stored" && data.direction === "in") customerTyping.show(false);
      if (name === "message.stored" && data.direction === "in" && document.hidden)
        notify(root.dataset.notifyMessage ?? "", root.dataset.title ?? "", window.location.pathname);
      later();
    },
  );
  const help = setupHelp();
  setupNotificationButton();
  setupPresence();
  syncHint();
  scrollDown();
  document.addEventListener("keydown", (event) => {
    if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
    const click = (action: string): void => {
      thread.querySelector<HTMLButtonElement>(`button[data-action="${action}"]`)?.click();
    };
    if (event.key === "?") help?.showModal();
    else if (event.key === "t") click("take");
    else if (event.key === "c") click("close");
    else if (event.key === "r" || event.key === "n") {
      event.preventDefault();
      if (noteMode) noteMode.checked = event.key === "n";
      textarea.focus();
    } else if (event.key === "u") window.location.href = "/inbox";
  });
}

// --- transfer (the conversation page) --------------------------------------------------------------------

function transferDialog(id: string, done: () => Promise<void>): { open: () => void } | null {
  const dialog = document.querySelector<HTMLDialogElement>("dialog[data-transfer]");
  const form = dialog?.querySelector<HTMLFormElement>("form[data-transfer-form]");
  const errorBox = dialog?.querySelector<HTMLElement>("[data-transfer-error]");
  if (!dialog || !form || !errorBox) return null;
  const operatorSelect = form.querySelector<HTMLSelectElement>("select[name=to_operator_id]");
  const teamSelect = form.querySelector<HTMLSelectElement>("select[name=to_team]");
  const sync = (): void => {
    const toTeam = form.querySelector<HTMLInputElement>("input[name=target]:checked")?.value === "team";
    if (operatorSelect) operatorSelect.disabled = toTeam;
    if (teamSelect) teamSelect.disabled = !toTeam;
  };
  form.addEventListener("change", () => {
    errorBox.hidden = true;
    sync();
  });
  form.addEventListener("input", () => {
    errorBox.hidden = true; // the reason was about the previous choice
  });
  dialog.querySelector("[data-transfer-cancel]")?.addEventListener("click", () => dialog.close());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    const toTeam = form.querySelector<HTMLInputElement>("input[name=target]:checked")?.value === "team";
    const note = form.querySelector<HTMLTextAreaElement>("textarea[name=note]")?.value ?? "";
    const body: Record<string, unknown> = { note };
    if (toTeam) body.to_team = teamSelect?.value ?? "";
    else body.to_operator_id = Number(operatorSelect?.value ?? 0);
    api("POST", dialog.dataset.url ?? `/api/inbox/conversations/${id}/transfer`, body)
      .then(async () => {
        form.reset();
        sync();
        dialog.close();
        await done();
      })
      .catch((error: unknown) => {
        const reason = error instanceof Error ? error.message : String(error);
        let text = fill(dialog.dataset.failed ?? "{reason}", { reason });
        if (error instanceof ApiError && error.status !== 401 && error.status !== 403) {
          // The server names what it refused: an operator who is not active, a team unknown or disabled.
          if (error.details.field === "to_operator_id") text = dialog.dataset.badOperator ?? text;
          else if (error.details.field === "to_team" || error.details.team !== undefined)
            text = dialog.dataset.badTeam ?? text;
        }
        errorBox.textContent = text;
        errorBox.hidden = false;
      });
  });
  sync();
  return {
    open: () => {
      errorBox.hidden = true;
      dialog.showModal();
    },
  };
}

// --- forms sent to the JSON API (the ticket page) -----------------------------------------------------

function apiForms(): void {
  for (const form of document.querySelectorAll<HTMLFormElement>("form[data-api-form]")) {
    // The reason a change was refused shows in the form's own card.
    const errorBox =
      form.closest("section")?.querySelector<HTMLElement>("[data-form-error]") ??
      document.querySelector<HTMLElement>("[data-form-error]");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const body: Record<string, string> = {};
      new FormData(form).forEach((value, key) => {
        if (typeof value === "string") body[key] = value;
      });
      api(form.dataset.method ?? "POST", form.dataset.url ?? "", body)
        .then(() => window.location.reload())
        .catch((error: unknown) => {
          if (!errorBox) return;
          errorBox.textContent = error instanceof Error ? error.message : String(error);
          errorBox.hidden = false;
        });
    });
  }
}

function ticketForm(): void {
  const form = document.querySelector<HTMLFormElement>("form[data-ticket-form]");
  const errorBox = form?.parentElement?.querySelector<HTMLElement>("[data-form-error]");
  form?.addEventListener("submit", (event) => {
    event.preventDefault();
    const body: Record<string, string> = {};
    new FormData(form).forEach((value, key) => {
      if (typeof value === "string" && value) body[key] = value;
    });
    api<{ number: string }>("POST", form.dataset.url ?? "", body)
      .then((created) => {
        window.location.href = `/inbox/tickets/${created.number}`;
      })
      .catch((error: unknown) => {
        if (!errorBox) return;
        errorBox.textContent = error instanceof Error ? error.message : String(error);
        errorBox.hidden = false;
      });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  apiForms();
  ticketForm();
  const queueRoot = document.querySelector<HTMLElement>("[data-inbox]");
  if (queueRoot) queuePage(queueRoot);
  const conversationRoot = document.querySelector<HTMLElement>("[data-conversation-page]");
  if (conversationRoot) conversationPage(conversationRoot);
});
