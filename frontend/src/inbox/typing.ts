// Typing, both ways, on the conversation page. Nothing of it is stored: the server relays it through the
// event bus to the customer's widget (the holder's typing) or to the inbox tabs (the customer's typing).
// - The holder: "typing" at most every SEND_EVERY while keys are pressed, "stopped" after a pause or on send.
// - The customer: shown on "typing", hidden on "stopped", on their next message, or SHOW_FOR after the last
//   "typing" (a "stopped" lost with a closing widget must not leave the indicator up for good).
import { api } from "../shared/http";

const SEND_EVERY = 3000;
const STOP_AFTER = 4000;
const SHOW_FOR = 6000;

export class HolderTyping {
  private on = false;
  private sentAt = 0;
  private stopTimer = 0;

  constructor(
    private readonly url: string,
    private readonly shown: () => boolean,
  ) {}

  input(): void {
    if (!this.shown()) {
      this.stop();
      return;
    }
    const now = Date.now();
    if (!this.on || now - this.sentAt >= SEND_EVERY) {
      this.on = true;
      this.sentAt = now;
      this.post(true);
    }
    window.clearTimeout(this.stopTimer);
    this.stopTimer = window.setTimeout(() => this.stop(), STOP_AFTER);
  }

  stop(): void {
    window.clearTimeout(this.stopTimer);
    if (!this.on) return;
    this.on = false;
    this.post(false);
  }

  private post(on: boolean): void {
    // Best effort: a lost "typing" only means the customer does not see it; the reply itself is what counts.
    void api("POST", this.url, { on }).catch(() => undefined);
  }
}

export class CustomerTyping {
  private timer = 0;

  constructor(private readonly el: HTMLElement | null) {}

  show(on: boolean): void {
    if (!this.el) return;
    window.clearTimeout(this.timer);
    this.el.hidden = !on;
    if (on) this.timer = window.setTimeout(() => this.show(false), SHOW_FOR);
  }
}
