// The help center and the portal: everything works without this script; it only enhances.
// - "Chat with us" opens the web-chat widget with the question prefilled when the widget is on the page
//   (contract: the widget defines window.FrontlineChat.open({ text })); otherwise the link to the
//   Telegram bot stays a plain link.
// - "Was this helpful?" is sent without leaving the article (the same form, posted with fetch).
import "./help.css";

interface FrontlineChatApi {
  open(options: { text?: string }): void;
}

declare global {
  interface Window {
    FrontlineChat?: FrontlineChatApi;
  }
}

function widget(): FrontlineChatApi | undefined {
  const api = window.FrontlineChat;
  return api && typeof api.open === "function" ? api : undefined;
}

function enhanceChat(root: ParentNode): void {
  for (const el of root.querySelectorAll<HTMLElement>("[data-chat-text]")) {
    if (el.dataset.chatReady) continue;
    el.dataset.chatReady = "1";
    el.addEventListener("click", (event) => {
      const api = widget();
      if (!api) return; // no widget: the link goes to the Telegram bot
      event.preventDefault();
      api.open({ text: el.dataset.chatText ?? "" });
    });
  }
  // A chat button without a Telegram link exists only for the widget: show it once the widget is here.
  if (widget()) {
    for (const button of root.querySelectorAll<HTMLButtonElement>("button.chat-with-us[hidden]")) {
      button.hidden = false;
    }
  }
}

function enhanceVote(form: HTMLFormElement): void {
  const result = form.querySelector<HTMLElement>(".vote-result");
  form.addEventListener("submit", async (event) => {
    const submitter = (event as SubmitEvent).submitter as HTMLButtonElement | null;
    if (!result || !submitter || form.dataset.plain) return;
    event.preventDefault();
    const body = new URLSearchParams();
    new FormData(form).forEach((value, name) => {
      if (typeof value === "string") body.append(name, value);
    });
    body.set("helpful", submitter.value);
    const buttons = form.querySelectorAll<HTMLButtonElement>("button");
    buttons.forEach((b) => (b.disabled = true));
    try {
      const response = await fetch(form.action, {
        method: "POST",
        headers: { Accept: "application/json" },
        body,
        credentials: "same-origin",
      });
      if (!response.ok) throw new Error(`vote refused: ${response.status}`);
      const data = (await response.json()) as { result?: string };
      const key = data.result === "again" ? "again" : submitter.value;
      result.textContent = form.dataset[`thanks${key[0].toUpperCase()}${key.slice(1)}`] ?? "";
      result.hidden = false;
      form.querySelector(".vote-buttons")?.remove();
    } catch {
      // The script could not do it: let the browser post the form the plain way.
      buttons.forEach((b) => (b.disabled = false));
      form.dataset.plain = "1";
      form.requestSubmit(submitter);
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  enhanceChat(document);
  document.querySelectorAll<HTMLFormElement>("form.vote").forEach(enhanceVote);
});
// The widget script loads on its own schedule: look again once everything has loaded.
window.addEventListener("load", () => enhanceChat(document));
