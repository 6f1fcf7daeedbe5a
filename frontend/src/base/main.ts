// Shared by every server-rendered page: the stylesheet, and small enhancements that work without it.
import "./base.css";
import { localizeTimes } from "../shared/time";

document.addEventListener("DOMContentLoaded", () => {
  localizeTimes(document);
});
