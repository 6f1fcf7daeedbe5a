// Styles live inside the shadow root: the host page's CSS cannot reach in, ours cannot leak out.
export const CSS = `
:host{all:initial}
*{box-sizing:border-box}
.root{position:fixed;right:20px;bottom:20px;z-index:2147483000;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1f24}
.launcher{display:flex;align-items:center;gap:8px;border:0;border-radius:28px;padding:14px 20px;background:#0b5cad;color:#fff;font-family:inherit;font-size:15px;font-weight:600;line-height:1;cursor:pointer;box-shadow:0 4px 16px rgba(0,0,0,.25)}
.launcher:hover{background:#094c8f}
.launcher[hidden]{display:none}
button:focus-visible,textarea:focus-visible,a:focus-visible{outline:3px solid #f5a623;outline-offset:2px}
.panel{display:flex;flex-direction:column;width:370px;height:min(600px,calc(100vh - 40px));background:#fff;border-radius:14px;box-shadow:0 8px 32px rgba(0,0,0,.3);overflow:hidden}
.panel[hidden]{display:none}
header{display:flex;align-items:center;justify-content:space-between;padding:12px 16px;background:#0b5cad;color:#fff}
header h2{margin:0;font-family:inherit;font-size:16px;font-weight:600;line-height:1.2}
.x{border:0;background:transparent;color:#fff;font-family:inherit;font-size:24px;line-height:1;cursor:pointer;padding:2px 8px;border-radius:6px}
.log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f5f7fa}
.msg{max-width:85%;padding:8px 12px;border-radius:12px;background:#fff;border:1px solid #dde3ea;overflow-wrap:anywhere}
.msg p{margin:0 0 6px}.msg p:last-child{margin:0}
.msg ul,.msg ol{margin:4px 0;padding-left:20px}
.msg a{color:#0b5cad}
.me{align-self:flex-end;background:#dcebfb;border-color:#b8d4f3;white-space:pre-wrap}
.who{display:block;font-size:12px;color:#59636e;margin-bottom:2px}
.mark{display:block;text-align:right;font-size:11px;color:#59636e;margin-top:2px}
.chips{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px}
.chips button{border:1px solid #0b5cad;background:#fff;color:#0b5cad;border-radius:16px;padding:6px 12px;font-family:inherit;font-size:14px;line-height:1.2;cursor:pointer}
.chips button:disabled{opacity:.5;cursor:default}
.quick{margin:0;padding:6px 10px 0}
.quick button{font-size:13px;padding:4px 10px}
.status{padding:6px 12px;font-size:13px;background:#fff4d6;color:#5c4400}
.status:empty{display:none}
.typing{padding:0 12px 6px;font-size:13px;color:#59636e;background:#f5f7fa}
.sugg{padding:6px 12px;border-top:1px solid #dde3ea;font-size:13px}
.sugg ul{margin:4px 0 0;padding-left:18px}
.sugg a{color:#0b5cad}
form{display:flex;gap:8px;padding:10px;border-top:1px solid #dde3ea;background:#fff}
label.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
textarea{flex:1;resize:none;border:1px solid #b7c0ca;border-radius:10px;padding:9px 10px;font-family:inherit;font-size:15px;line-height:1.4;color:#1b1f24;background:#fff;max-height:120px}
.send{border:0;border-radius:10px;background:#0b5cad;color:#fff;padding:0 14px;font-family:inherit;font-size:14px;font-weight:600;cursor:pointer}
@media (max-width:480px){.root{right:12px;bottom:12px;left:auto}.root.open{inset:0}.root.open .panel{width:100vw;height:100vh;height:100dvh;border-radius:0}}
`;
