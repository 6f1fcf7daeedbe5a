// The notices pages without reloads: the delivery counts refresh while a notice is going out, and the send
// button is disabled once pressed (the server sends a notice once anyway).
import "./notices.css";

const REFRESH_MS = 3000;

function refreshStatus(): void {
  const section = document.getElementById("status");
  if (!section) return;
  const pending = section.querySelector('[data-state="pending"] td');
  const sending = section.dataset.state === "sending";
  if (!sending && pending?.textContent?.trim() === "0") return;
  window.setTimeout(async () => {
    try {
      const response = await fetch(window.location.pathname, { credentials: "same-origin" });
      if (!response.ok) return;
      // The page is server-rendered and escaped; its #status section replaces ours as a whole.
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html").getElementById("status");
      if (fresh) section.replaceWith(document.importNode(fresh, true));
    } catch {
      // Offline for a moment: the next round tries again.
    }
    refreshStatus();
  }, REFRESH_MS);
}

function guardSend(): void {
  const button = document.getElementById("send");
  const form = button?.closest("form");
  form?.addEventListener("submit", () => {
    window.setTimeout(() => button?.setAttribute("disabled", ""), 0);
  });
}

refreshStatus();
guardSend();
