// <time datetime="…" data-local> is rendered by the server in the page's language and zone; with
// JavaScript we re-render it in the reader's own zone so a deadline reads the same as the wall clock.
export function localizeTimes(root: ParentNode): void {
  const lang = document.documentElement.lang || "ru";
  const format = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
  for (const el of root.querySelectorAll<HTMLTimeElement>("time[data-local]")) {
    const when = new Date(el.dateTime);
    if (!Number.isNaN(when.getTime())) el.textContent = format.format(when);
  }
}
