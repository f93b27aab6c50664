/**
 * The console page and its script. The script (`app/main.tsx`, Preact) is bundled by esbuild
 * from node_modules when first asked for and kept in memory: nothing comes from a CDN, and
 * there is no build step to forget before `npm start`.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const APP_ENTRY = join(dirname(fileURLToPath(import.meta.url)), 'app', 'main.tsx');

let bundled: Promise<string> | undefined;

/** Bundles the page's script (once per process). */
export function consoleScript(): Promise<string> {
  bundled ??= build({
    entryPoints: [APP_ENTRY],
    bundle: true,
    write: false,
    format: 'esm',
    target: 'es2020',
    minify: true,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    legalComments: 'none',
    logLevel: 'silent',
  })
    .then((result) => result.outputFiles[0]?.text ?? '')
    .catch((err: unknown) => {
      bundled = undefined;
      throw err;
    });
  return bundled;
}

/**
 * The page shell. A system font stack whose fonts carry Vietnamese glyphs (Segoe UI, Roboto,
 * Noto Sans, Helvetica Neue, Arial); the viewport fits a phone.
 */
export const INDEX_HTML = `<!doctype html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>chat-relay console</title>
<style>
:root { color-scheme: light; --line: #e3e5e8; --muted: #667085; --accent: #2563eb; --bad: #c2410c; --ok: #15803d; --bg: #f7f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Helvetica Neue", Arial, sans-serif; color: #111827; background: var(--bg); }
header { display: flex; gap: .75rem; align-items: center; padding: .6rem 1rem; background: #111827; color: #fff; flex-wrap: wrap; }
header h1 { font-size: 1rem; margin: 0; font-weight: 600; }
header select { font: inherit; }
header .dlq { margin-left: auto; font-size: .85rem; display: flex; gap: .4rem; align-items: center; flex-wrap: wrap; }
main { display: grid; grid-template-columns: minmax(16rem, 24rem) 1fr; min-height: calc(100vh - 3rem); }
aside { border-right: 1px solid var(--line); background: #fff; overflow-y: auto; max-height: calc(100vh - 3rem); }
.conv { display: flex; width: 100%; gap: .6rem; padding: .6rem .8rem; border: none; border-bottom: 1px solid var(--line); border-radius: 0; background: #fff; text-align: left; color: inherit; cursor: pointer; align-items: flex-start; }
.conv:hover, .conv.sel { background: #eef2ff; }
.icon { flex: none; width: 2rem; height: 2rem; border-radius: 50%; display: grid; place-items: center; color: #fff; font-weight: 700; font-size: .8rem; }
.ch-messenger { background: #0866ff; } .ch-instagram { background: #d62976; } .ch-whatsapp { background: #25d366; }
.ch-telegram { background: #229ed9; } .ch-zalo { background: #0068ff; } .ch-pancake { background: #f59e0b; }
.conv > span:not(.icon) { display: block; } .conv > span:nth-child(2) { min-width: 0; } .conv .who, .conv .last, .conv .meta > span { display: block; }
.conv .who { font-weight: 600; overflow-wrap: anywhere; }
.conv .last { color: var(--muted); font-size: .9rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; max-width: 17rem; }
.conv .meta { margin-left: auto; text-align: right; font-size: .75rem; color: var(--muted); white-space: nowrap; }
.badge { display: inline-block; padding: 0 .4rem; border-radius: .6rem; font-size: .72rem; background: #fde68a; color: #713f12; }
.badge.ok { background: #dcfce7; color: var(--ok); } .badge.bad { background: #ffedd5; color: var(--bad); }
section.detail { padding: .8rem 1rem; overflow-y: auto; max-height: calc(100vh - 3rem); }
.bar { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; margin-bottom: .6rem; }
.bar h2 { font-size: 1rem; margin: 0; overflow-wrap: anywhere; }
button { font: inherit; padding: .35rem .8rem; border-radius: .4rem; border: 1px solid #cbd5e1; background: #fff; cursor: pointer; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
.turn { background: #fff; border: 1px solid var(--line); border-radius: .5rem; padding: .6rem .8rem; margin-bottom: .6rem; }
.turn h3 { font-size: .85rem; margin: 0 0 .3rem; color: var(--muted); font-weight: 600; }
.msg { padding: .35rem .6rem; border-radius: .6rem; margin: .25rem 0; max-width: 36rem; overflow-wrap: anywhere; }
.msg.in { background: #f1f5f9; } .msg.out { background: #dbeafe; margin-left: auto; }
.small { font-size: .78rem; color: var(--muted); }
.stages { display: flex; gap: .4rem; flex-wrap: wrap; margin: .3rem 0; }
.stage { font-size: .78rem; border: 1px solid var(--line); border-radius: .3rem; padding: 0 .35rem; }
form.play { display: flex; gap: .4rem; flex-wrap: wrap; padding: .6rem; background: #fff; border: 1px solid var(--line); border-radius: .5rem; margin-top: .6rem; }
form.play input[type=text] { flex: 1 1 12rem; font: inherit; padding: .35rem .5rem; border: 1px solid #cbd5e1; border-radius: .4rem; }
form.play select, form.play input { font: inherit; }
.empty { color: var(--muted); padding: 1rem; }
@media (max-width: 720px) {
  main { grid-template-columns: 1fr; }
  aside { max-height: 40vh; border-right: none; border-bottom: 1px solid var(--line); }
  section.detail { max-height: none; }
  .conv .last { max-width: 60vw; }
}
</style>
</head>
<body>
<div id="app"><p class="empty">Đang tải…</p></div>
<script type="module" src="/console/app.js"></script>
</body>
</html>
`;
