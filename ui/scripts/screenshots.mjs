// Walks every screen of the built UI (ui/dist) on the mock bridge in headless Chromium: checks what
// each shows (texts, pixels drawn, subscriptions asked, keyboard, axe-core accessibility) and saves
// a screenshot of it. `npm run build && npm run screenshots [outdir]` (default ui/screenshots, the
// pictures kept in git; `make test` writes to tests/artifacts/ui-screens instead).
// Needs Debian's `chromium`. Prints one line per screen; exits non-zero when a check fails.
import { chromium } from "playwright-core";
import { createServer } from "node:http";
import { readFile, mkdir } from "node:fs/promises";
import { extname, join, resolve } from "node:path";

const dist = resolve(import.meta.dirname, "../dist");
const out = resolve(process.argv[2] ?? resolve(import.meta.dirname, "../screenshots"));
await mkdir(out, { recursive: true });
const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" };
const server = createServer(async (req, res) => {
  const path = new URL(req.url ?? "/", "http://x").pathname;
  try {
    const body = await readFile(join(dist, path === "/" ? "index.html" : path));
    res.writeHead(200, { "content-type": types[extname(path)] ?? "text/html" });
    res.end(body);
  } catch {
    res.writeHead(404);
    res.end();
  }
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${server.address().port}/`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let failed = 0;
let passed = 0;
const check = (ok, what) => {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
};

async function page(query = "", viewport = { width: 1280, height: 800 }) {
  const p = await browser.newPage({ viewport });
  p.on("pageerror", (e) => check(false, `page error: ${e.message}`));
  await p.goto(base + query);
  return p;
}

// The colours the tile's canvas shows, read back (WebGL keeps its buffer for this).
async function canvasColours(p, trackSid) {
  return p.evaluate((sid) => {
    const c = document.querySelector(`[data-track-sid="${sid}"]`);
    if (!c || c.width === 0) return [];
    const tmp = document.createElement("canvas");
    tmp.width = c.width;
    tmp.height = c.height;
    const ctx = tmp.getContext("2d");
    ctx.drawImage(c, 0, 0);
    return [0.3, 0.6, 0.9].map((fx) => Array.from(ctx.getImageData(Math.floor(c.width * fx), Math.floor(c.height * 0.2), 1, 1).data.slice(0, 3)));
  }, trackSid);
}
// Polls `fn` in the page until it is true (the machine may be busy): true, or false after `ms`.
const until = (p, fn, arg, ms = 15000) => p.waitForFunction(fn, arg, { timeout: ms }).then(() => true, () => false);
const near = (a, b) => a.every((v, i) => Math.abs(v - b[i]) <= 12);

async function toMeeting(p) {
  await p.getByTestId("home-link-input").fill("ABCDEFGHIJ");
  await p.getByTestId("home-join-button").click();
  await p.getByTestId("prejoin-join-button").click();
  await p.getByTestId("meeting-root").waitFor();
}

const axePath = resolve(import.meta.dirname, "../node_modules/axe-core/axe.min.js");

// Each screen is checked with axe-core (WCAG 2.1 A/AA: names, contrast, roles) before its picture.
async function shot(p, name) {
  await p.addScriptTag({ path: axePath });
  const violations = await p.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] });
    return r.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
  });
  check(violations.length === 0, `${name}: accessibility${violations.length ? "\n     " + violations.join("\n     ") : ""}`);
  await p.screenshot({ path: join(out, `${name}.png`) });
}

try {
  let p = await page();
  await p.getByTestId("recent-room").first().waitFor();
  check((await p.textContent("h1")) === "Rejoindre une réunion", "home in French by default");
  await shot(p, "home");
  await p.getByTestId("home-link-input").fill("https://visio.numerique.gouv.fr/abc-defg");
  await p.getByTestId("home-join-button").click();
  check((await p.getByTestId("home-error").getAttribute("data-code")) === "invalid_link", "invalid link refused on home");
  await shot(p, "home-invalid-link");
  await p.close();

  p = await page("?locked=lowBandwidth,captions&lang=en");
  await p.getByTestId("home-settings-button").click();
  check((await p.textContent("h1")) === "Join a meeting", "home in English");
  check((await p.locator(".locked").count()) === 2, "locked settings shown as locked");
  check((await p.locator(".locked").first().textContent()).includes("Set by your IT department"), "locked settings say who set them");
  await shot(p, "home-settings-en");
  await p.close();

  // Accounts: a Visio profile whose server is unreachable offers the offline PIN unlock.
  p = await page("?accounts=1&offline=1&lang=en");
  await p.getByTestId("home-accounts-button").click();
  await p.locator('[data-testid="profile"][data-state="offline"]').waitFor();
  check((await p.getByTestId("profile").count()) === 2, "accounts list the Visio and local profiles");
  await p.getByTestId("unlock-pin").fill("000000");
  await p.getByTestId("unlock-button").click();
  check(await until(p, () => document.querySelector('[data-testid="accounts-error"]')?.getAttribute("data-code") === "wrong_pin"), "a wrong PIN is refused with its message");
  check((await p.getByTestId("accounts-error").textContent()).includes("4 attempts left"), "the attempts left are shown");
  await shot(p, "accounts-offline-en");
  await p.getByTestId("unlock-pin").fill("246810");
  await p.getByTestId("unlock-button").click();
  check(await until(p, () => document.querySelector('[data-testid="accounts-notice"]')?.textContent === "Unlocked offline as Dominique Agent"), "the right PIN unlocks offline");
  await p.getByTestId("add-kind").selectOption("liveKit");
  check((await p.getByTestId("add-apiSecret").getAttribute("type")) === "password", "the API secret field hides what is typed");
  await p.close();

  p = await page("?accounts=1");
  await p.getByTestId("home-accounts-button").click();
  await p.locator('[data-testid="profile"][data-state="online"]').waitFor();
  check((await p.textContent("#accounts-panel")).includes("Connecté en tant que Dominique Agent"), "accounts: signed in, in French");
  await shot(p, "accounts-fr");
  await p.close();

  // Speech recognition: status, the installed models (verify, remove asked twice), install from a
  // file, a wrong checksum refused, the IT department's address, and the settings.
  p = await page("?speechpolicy=1");
  await p.getByTestId("home-speech-button").click();
  await p.getByTestId("speech-panel").waitFor();
  check(await until(p, () => document.querySelectorAll('[data-testid="model"]').length === 2), "speech: the two installed models listed");
  check((await p.getByTestId("speech-status").getAttribute("data-ready")) === "true", "speech: ready on this device");
  check((await p.locator('[data-testid="model"][data-name="whisper-base-fr"]').textContent()).includes("148 Mo"), "speech: model size in MB");
  check((await p.getByTestId("home-speech-button").getAttribute("aria-expanded")) === "true", "speech: the button says the panel is open");
  await shot(p, "speech");
  await p.locator('[data-testid="model"][data-name="whisper-small"] [data-testid="model-verify"]').click();
  check(await until(p, () => document.querySelector('[data-testid="speech-notice"]')?.textContent?.includes("whisper-small est intact") === true), "speech: a model verified");
  check((await p.getByTestId("speech-notice").getAttribute("role")) === "status", "speech: notices are announced (role=status)");
  await p.getByTestId("model-install-name").fill("whisper-medium");
  await p.getByTestId("model-install-path").fill("/home/dominique/modeles/ggml-medium.bin");
  await p.getByTestId("model-install-submit").click();
  check(await until(p, () => document.querySelectorAll('[data-testid="model"]').length === 3 && document.querySelector('[data-testid="speech-notice"]')?.textContent?.includes("whisper-medium est installé") === true), "speech: a model installed from a file");
  check((await p.getByTestId("setting-captions-model").locator("option").count()) === 4, "speech: the model select offers the best one and each installed model");
  const removeMedium = p.locator('[data-testid="model"][data-name="whisper-medium"] [data-testid="model-remove"]');
  await removeMedium.click();
  check((await removeMedium.getAttribute("aria-label"))?.startsWith("Confirmer") === true && (await p.getByTestId("model").count()) === 3, "speech: removing asks for confirmation first");
  await removeMedium.click();
  check(await until(p, () => document.querySelectorAll('[data-testid="model"]').length === 2), "speech: a model removed on the second click");
  check(await until(p, () => document.activeElement?.closest('[data-testid="speech-panel"]') !== null), "speech: the focus stays in the panel after a removal");
  await p.getByTestId("model-install-name").fill("bad");
  await p.getByTestId("model-install-url").fill("https://example.gouv.fr/ggml-small.bin");
  await p.getByTestId("model-install-sha256").fill("0".repeat(64));
  await p.getByTestId("model-install-submit").click();
  check(await until(p, () => document.querySelector('[data-testid="speech-error"]')?.getAttribute("data-code") === "model_invalid"), "speech: a wrong checksum refused, explained");
  await shot(p, "speech-error");
  await p.getByTestId("model-install-url").fill("");
  await p.getByTestId("model-install-policy").check();
  check((await p.getByTestId("model-install-path").count()) === 0 && (await p.getByTestId("model-install-sha256").count()) === 1, "speech: the IT department's address still asks for the SHA-256");
  await p.getByTestId("model-install-name").fill("ggml-small-fr");
  await p.getByTestId("model-install-sha256").fill("ab".repeat(32));
  await p.getByTestId("model-install-submit").click();
  check(await until(p, () => !!document.querySelector('[data-testid="model"][data-name="ggml-small-fr"]')), "speech: a model installed from the IT department's address");
  await p.getByTestId("setting-on-device-captions").click();
  check(await until(p, () => document.querySelector('[data-testid="setting-on-device-captions"]')?.checked === true && !document.querySelector('[data-testid="speech-error"]')), "speech: on-device captions switched on");
  await p.getByTestId("setting-captions-model").selectOption("whisper-small");
  check(await until(p, () => document.querySelector('[data-testid="model"][data-name="whisper-small"]')?.textContent?.includes("utilisé") === true), "speech: the chosen model marked as used");
  await p.keyboard.press("Escape");
  check(await until(p, () => !document.querySelector('[data-testid="speech-panel"]') && document.activeElement?.getAttribute("data-testid") === "home-speech-button"), "speech: Escape closes the panel, focus back on its button");
  await p.close();

  p = await page("?nospeech=1&locked=onDeviceCaptions,publishMyCaptions&lang=en");
  await p.getByTestId("home-speech-button").click();
  check(await until(p, () => document.querySelector('[data-testid="speech-status"]')?.getAttribute("data-ready") === "false"), "speech: missing runtime reported");
  check((await p.getByTestId("speech-status").textContent()).includes("silero_vad.onnx"), "speech: says what is missing");
  check((await p.getByTestId("setting-on-device-captions").isDisabled()) && (await p.getByTestId("setting-publish-my-captions").isDisabled()) && !(await p.getByTestId("setting-save-transcripts").isDisabled()), "speech: locked settings disabled, the others not");
  check((await p.locator("#speech-panel .locked").count()) === 2 && (await p.locator("#speech-panel .locked").first().textContent()).includes("Set by your IT department"), "speech: locked settings say who set them");
  await shot(p, "speech-locked-en");
  await p.close();

  p = await page("?nomodels=1");
  await p.getByTestId("home-speech-button").click();
  await p.getByTestId("setting-on-device-captions").click();
  check(await until(p, () => document.querySelector('[data-testid="speech-error"]')?.getAttribute("data-code") === "model_missing"), "speech: on-device captions without a model refused, explained");
  check(await until(p, () => document.querySelector('[data-testid="setting-on-device-captions"]')?.checked === false), "speech: the refused setting stays off");
  await p.close();

  // Transcripts: the list, a search (debounced) with highlighted hits, a hit opened on its line,
  // export, delete asked twice.
  p = await page();
  await p.getByTestId("home-transcripts-button").click();
  check(await until(p, () => document.querySelectorAll('[data-testid="transcript"]').length === 3), "transcripts: three listed");
  check((await p.getByTestId("transcript").first().textContent()).includes("9 lignes"), "transcripts: number of lines shown");
  await shot(p, "transcripts");
  await p.getByTestId("transcripts-search").fill("budget");
  check(await until(p, () => document.querySelectorAll('[data-testid="transcript-hit"]').length === 3), "transcripts: the search finds 3 lines");
  const hitText = await p.getByTestId("transcript-hit").nth(1).textContent();
  check(/\d\d:\d\d/.test(hitText) && hitText.includes("Dominique Agent") && (await p.locator('[data-testid="transcript-hit"] mark').count()) === 3, `transcripts: hits show speaker, mm:ss and the match (${hitText})`);
  await shot(p, "transcripts-search");
  await p.getByTestId("transcript-hit").nth(1).click();
  await p.getByTestId("transcript-view").waitFor();
  check(await until(p, () => document.querySelectorAll('[data-testid="transcript-line"]').length === 9), "transcripts: the hit's transcript opened");
  check(await until(p, () => document.activeElement?.classList.contains("hit") && document.activeElement?.getAttribute("data-speaker") === "Dominique Agent"), "transcripts: the hit's line highlighted and focused");
  await p.getByTestId("transcript-export-vtt").click();
  check(await until(p, () => document.querySelector('[data-testid="transcript-export-path"]')?.textContent?.endsWith("reunion-ddd-equi-pex.vtt") === true), "transcripts: export says where the file is");
  await p.locator(".exported summary").click();
  check((await p.locator(".exported pre").textContent()).startsWith("WEBVTT"), "transcripts: export text shown");
  await shot(p, "transcript-view");
  await p.getByTestId("transcript-delete").click();
  check((await p.getByTestId("transcript-view").count()) === 1 && (await p.getByTestId("transcript-delete").getAttribute("aria-label")).startsWith("Confirmer"), "transcripts: deleting asks for confirmation first");
  await p.getByTestId("transcript-delete").click();
  check(await until(p, () => !document.querySelector('[data-testid="transcript-view"]') && document.querySelectorAll('[data-testid="transcript-hit"]').length === 1), "transcripts: deleted, back to the hits (its 2 hits gone)");
  await p.getByTestId("transcripts-search").fill("");
  check(await until(p, () => document.querySelectorAll('[data-testid="transcript"]').length === 2), "transcripts: the list lost the deleted one");
  await p.getByTestId("transcript").first().click();
  await p.getByTestId("transcript-view").waitFor();
  await p.keyboard.press("Escape");
  check(await until(p, () => !document.querySelector('[data-testid="transcript-view"]') && document.activeElement?.getAttribute("data-testid") === "transcript"), "transcripts: Escape returns to the list, on the transcript it came from");
  await p.close();

  p = await page("?keychainlocked=1&lang=en");
  await p.getByTestId("home-transcripts-button").click();
  check(await until(p, () => document.querySelector('[data-testid="transcripts-error"]')?.getAttribute("data-code") === "keychain_locked"), "transcripts: a locked keychain explained");
  await shot(p, "transcripts-keychain-locked-en");
  await p.close();

  // On-device captions in a meeting: the control, `device` captions marked, the transcript saved.
  p = await page("?participants=3");
  await toMeeting(p);
  const dc = p.getByTestId("control-device-captions");
  check((await dc.getAttribute("aria-pressed")) === "false", "device captions: off at first");
  await dc.click();
  check(await until(p, () => document.querySelector('[data-testid="control-device-captions"]')?.getAttribute("data-state") === "on"), "device captions: starting, then on");
  check((await dc.getAttribute("aria-pressed")) === "true", "device captions: the control is pressed");
  check(await until(p, () => !!document.querySelector('[data-testid="captions-region"] p[data-source="device"][data-final="true"][data-identity]')), "device captions: captions with data-source=device and data-identity");
  check((await p.locator('[data-testid="captions-region"] p[data-source="device"] .caption-source').first().textContent()) === "sur cet appareil", "device captions: marked as computed on this device");
  await p.waitForTimeout(300);
  await shot(p, "meeting-device-captions");
  // A meeting room: marked in the participants panel, its voices are named in the captions.
  await p.getByTestId("control-participants").click();
  const room = p.locator('#participants-panel li[data-identity="user-1"] [data-testid="participant-several-voices"]');
  check((await room.getAttribute("aria-pressed")) === "false", "meeting room: not marked at first");
  await room.click();
  check(await until(p, () => document.querySelector('#participants-panel li[data-identity="user-1"] [data-testid="participant-several-voices"]')?.getAttribute("aria-pressed") === "true"), "meeting room: marked, the toggle pressed");
  check(await until(p, () => [...document.querySelectorAll('[data-testid="captions-region"] p[data-identity="user-1"][data-voice]:not([data-voice=""]) strong')].some((s) => / – intervenant [12]$/.test(s.textContent ?? "")), undefined, 15000), "meeting room: captions name the voice (intervenant N)");
  await shot(p, "meeting-room-voices");
  await p.getByTestId("control-participants").click();
  await dc.click();
  check(await until(p, () => document.querySelector('[data-testid="meeting-info"]')?.textContent?.startsWith("Transcription enregistrée") === true), "device captions: off, the transcript saved");
  check((await dc.getAttribute("aria-pressed")) === "false", "device captions: the control is released");
  await p.getByTestId("control-leave").click();
  check(await until(p, () => !!document.querySelector('[data-testid="home-transcript-saved"]')), "device captions: home says a transcript was saved");
  await p.getByTestId("home-transcript-saved").getByRole("button").first().click();
  check(await until(p, () => document.querySelector('[data-testid="transcript-view"]')?.getAttribute("data-id")?.startsWith("tr-abc-defg-hij") === true && document.querySelectorAll('[data-testid="transcript-line"]').length > 0), "device captions: the saved transcript opens from home");
  await p.close();

  p = await page("?participants=3&nomodels=1");
  await toMeeting(p);
  await p.getByTestId("control-device-captions").click();
  check(await until(p, () => document.querySelector(".banner.warn")?.textContent?.includes("Aucun modèle de reconnaissance vocale") === true), "device captions: no model, explained in the meeting");
  check(await until(p, () => document.querySelector('[data-testid="control-device-captions"]')?.getAttribute("aria-pressed") === "false"), "device captions: refused, the control goes back off");
  await p.close();

  p = await page("?participants=3&devicecaptions=1&nospeech=1&lang=en");
  await toMeeting(p);
  check(await until(p, () => document.querySelector(".banner.warn")?.textContent?.includes("Speech recognition is not available") === true), "device captions: failing at the start of a meeting, explained");
  await p.close();

  p = await page();
  await p.getByTestId("home-link-input").fill("abc defg hij");
  await p.getByTestId("home-join-button").click();
  await p.getByTestId("prejoin-join-button").waitFor();
  await p.waitForFunction(() => Number(document.querySelector('[data-testid="prejoin-preview"]')?.getAttribute("data-frames")) > 5);
  await p.waitForFunction(() => Number(document.querySelector('[data-testid="prejoin-mic-meter"]')?.getAttribute("aria-valuenow")) > 0);
  check(true, "pre-join: camera preview drawn, microphone level moving");
  check((await p.textContent("h1")).includes("abc-defg-hij"), "pre-join shows the normalised code");
  await p.waitForTimeout(300);
  await shot(p, "prejoin");
  await p.close();

  p = await page("?nocamera=1");
  await p.getByTestId("home-link-input").fill("abc-defg-hij");
  await p.getByTestId("home-join-button").click();
  await p.getByTestId("prejoin-join-button").waitFor();
  await p.waitForSelector(".notice");
  check(await p.getByTestId("prejoin-camera-toggle").isDisabled(), "missing camera: toggle disabled, joining offered");
  await shot(p, "prejoin-no-camera");
  await p.close();

  p = await page();
  await toMeeting(p);
  await p.waitForFunction(() => document.querySelectorAll('[data-testid="tile-canvas"]').length >= 4 && [...document.querySelectorAll('[data-testid="tile-canvas"]')].every((c) => Number(c.getAttribute("data-frames")) > 3));
  check((await p.getByTestId("tile").count()) === 5, "meeting shows 5 tiles");
  const red = await canvasColours(p, "TR_v1");
  check(red.some((c) => near(c, [225, 0, 15])), `WebGL tile shows the sent colour (${JSON.stringify(red)})`);
  check((await p.locator('[data-track-sid="TR_v1"]').getAttribute("data-renderer")) === "webgl", "WebGL renderer in use");
  await until(p, () => JSON.stringify(window.__visioMock.subscriptions().map((s) => s.trackSid).sort()) === JSON.stringify(["TR_v0", "TR_v1", "TR_v2"]));
  const subs5 = await p.evaluate(() => window.__visioMock.subscriptions());
  check(JSON.stringify(subs5.map((s) => s.trackSid).sort()) === JSON.stringify(["TR_v0", "TR_v1", "TR_v2"]), `subscribed to the 3 remote cameras (${JSON.stringify(subs5)})`);
  check(subs5.every((s) => s.width > 200 && s.height > 100), "subscriptions carry the tile size");
  await p.keyboard.press("F2");
  check((await p.evaluate(() => document.activeElement?.getAttribute("data-testid"))) === "control-mic", "F2 focuses the control bar");
  await p.keyboard.press("Tab");
  await p.keyboard.press("Tab");
  await p.keyboard.press("Tab");
  check((await p.evaluate(() => document.activeElement?.getAttribute("data-testid"))) === "control-hand", "Tab walks the control bar");
  await p.getByTestId("control-reactions").click();
  await p.locator("#reactions-popover button").first().waitFor();
  check((await p.locator("#reactions-popover button").count()) === 7, "Visio's 7 reactions offered");
  await shot(p, "meeting-reactions");
  await p.keyboard.press("Escape");
  await p.getByTestId("control-devices").click();
  await p.locator("#pop-lowbw").selectOption("audio-only");
  check(await until(p, () => window.__visioMock.subscriptions().length === 0 && window.__visioMock.lowBandwidth() === "audio-only"), "audio-only mode: no video subscribed");
  await shot(p, "meeting-devices");
  await p.locator("#pop-lowbw").selectOption("speaker-only");
  check(await until(p, () => window.__visioMock.subscriptions().length === 1), "speaker-only mode: one video subscribed");
  await p.locator("#pop-lowbw").selectOption("off");
  await p.keyboard.press("Escape");
  await p.locator('[data-testid="tile"][data-identity="user-2"] .pin').click();
  check(await until(p, () => document.querySelector('.stage [data-testid="tile"]')?.getAttribute("data-identity") === "user-2"), "a pinned tile goes on the stage");
  check((await p.locator('[data-testid="tile"][data-identity="user-2"]').getAttribute("data-pinned")) === "true", "pinned tile marked data-pinned");
  await shot(p, "meeting-pinned");
  await p.locator('[data-testid="tile"][data-identity="user-2"] .pin').click();
  check(await until(p, () => !document.querySelector(".stage")), "unpinning returns to the grid");
  await p.getByTestId("control-participants").click();
  await shot(p, "meeting-participants");
  await p.getByTestId("control-participants").click();
  await p.keyboard.press("Control+/");
  await shot(p, "meeting-shortcuts");
  await p.keyboard.press("Escape");
  await p.getByTestId("control-captions").click();
  await p.waitForSelector('[data-testid="captions-region"] p.final', { timeout: 8000 });
  await p.waitForSelector('[data-testid="chat-unread"]', { timeout: 8000 });
  check(await until(p, () => document.querySelector('[data-testid="chat-unread"]')?.textContent === "1"), "unread chat count");
  await shot(p, "meeting-5");
  await p.getByTestId("control-chat").click();
  await p.getByTestId("chat-input").fill("Bonjour, je vous entends bien.");
  await p.getByTestId("chat-send").click();
  await p.waitForFunction(() => document.querySelectorAll('[data-testid="chat-message"]').length >= 3, null, { timeout: 5000 });
  await p.keyboard.press("Control+d");
  check(await until(p, () => document.querySelector('[data-testid="control-mic"]')?.getAttribute("aria-pressed") === "false"), "Ctrl+D mutes the microphone");
  await p.keyboard.press("Control+Shift+H");
  check(await until(p, () => document.querySelector('[data-testid="tile"][data-local="true"]')?.getAttribute("data-hand-raised") === "true"), "Ctrl+Shift+H raises the hand");
  await shot(p, "meeting-chat");
  await p.getByTestId("control-leave").click();
  await p.getByTestId("home-link-input").waitFor();
  check(true, "leave returns home");
  await p.close();

  p = await page("?participants=30");
  await toMeeting(p);
  // Settled: every camera canvas on the page is subscribed, nothing else.
  const settled = () => {
    const shown = [...document.querySelectorAll('[data-testid="tile-canvas"]')].map((c) => c.getAttribute("data-track-sid")).filter((s) => s !== "local-camera").sort();
    const subs = window.__visioMock.subscriptions().map((s) => s.trackSid).sort();
    return shown.length > 0 && JSON.stringify(shown) === JSON.stringify(subs);
  };
  await until(p, settled);
  const perPage = await p.getByTestId("tile").count();
  check(perPage < 30 && (await p.getByTestId("grid-next-page").count()) === 1, `30 participants paged (${perPage} on the first page)`);
  const subs = await p.evaluate(() => [...document.querySelectorAll('[data-testid="tile-canvas"]')].length);
  await shot(p, "meeting-30");
  const page1 = await p.evaluate(() => window.__visioMock.subscriptions().map((s) => s.trackSid));
  const shown1 = await p.evaluate(() => [...document.querySelectorAll('[data-testid="tile-canvas"]')].map((c) => c.getAttribute("data-track-sid")).filter((s) => s !== "local-camera"));
  check(page1.length === shown1.length && page1.every((s) => shown1.includes(s)), `page 1: exactly its ${shown1.length} cameras subscribed`);
  await p.getByTestId("grid-next-page").click();
  await until(p, (before) => window.__visioMock.subscriptions().length > 0 && window.__visioMock.subscriptions().every((s) => !before.includes(s.trackSid)), page1);
  const page2 = await p.evaluate(() => window.__visioMock.subscriptions().map((s) => s.trackSid));
  check(page2.length > 0 && page2.every((s) => !page1.includes(s)), `page 2: page 1's video unsubscribed (${page2.join(" ")})`);
  check((await p.getByTestId("tile").count()) === 30 - perPage, "second page holds the rest");
  check(subs > 0, "canvases on the page");
  await p.close();

  p = await page("?screenshare=1&participants=6");
  await toMeeting(p);
  await p.waitForFunction(() => Number(document.querySelector('.stage [data-testid="tile-canvas"]')?.getAttribute("data-frames")) > 3);
  check((await p.locator('.stage [data-testid="tile"]').getAttribute("data-kind")) === "screen", "screen share on the stage");
  await shot(p, "meeting-screenshare");
  await p.close();

  p = await page("?participants=3&renderer=2d");
  await toMeeting(p);
  await p.waitForFunction(() => Number(document.querySelector('[data-track-sid="TR_v1"]')?.getAttribute("data-frames")) > 3);
  const red2d = await canvasColours(p, "TR_v1");
  check((await p.locator('[data-track-sid="TR_v1"]').getAttribute("data-renderer")) === "2d" && red2d.some((c) => near(c, [225, 0, 15])), `2D fallback shows the sent colour (${JSON.stringify(red2d)})`);
  await p.close();

  p = await browser.newPage({ viewport: { width: 1280, height: 800 }, reducedMotion: "reduce" });
  await p.goto(base);
  await toMeeting(p);
  await p.waitForSelector(".reaction", { timeout: 10000 });
  check((await p.locator(".reaction").first().evaluate((e) => getComputedStyle(e).animationName)) === "none", "reduced motion: reactions do not fly");
  await p.close();

  p = await page("?participants=3&reconnect=1&waiting=1");
  await toMeeting(p);
  check(await until(p, () => !!document.querySelector('[data-testid="banner-reconnecting"]')), "reconnecting banner shown");
  check(await until(p, () => document.querySelectorAll('.banner[role="status"]').length === 2), "lobby notice shown");
  await shot(p, "meeting-reconnecting");
  check(await until(p, () => !document.querySelector('[data-testid="banner-reconnecting"]')), "banner gone once reconnected");
  await p.close();

  p = await page("?participants=3&lost=1");
  await toMeeting(p);
  check(await until(p, () => document.querySelector('[data-testid="error-screen"]')?.getAttribute("data-code") === "not_connected"), "connection lost for good: error screen");
  await shot(p, "error-connection-lost");
  await p.getByTestId("error-back-button").click();
  check(await until(p, () => !!document.querySelector('[data-testid="home-link-input"]')), "error screen back to home");
  await p.close();

  // The waiting room, guest side: waiting screen, leaving it, then admitted.
  p = await page();
  await p.getByTestId("home-link-input").fill("lob-defg-hij");
  await p.getByTestId("home-join-button").click();
  await p.getByTestId("prejoin-join-button").click();
  await p.getByTestId("prejoin-lobby").waitFor();
  check((await p.textContent("h1")) === "En attente d’admission", "lobby: waiting to be admitted");
  await shot(p, "prejoin-lobby");
  await p.getByTestId("prejoin-lobby-cancel").click();
  check(await until(p, () => !!document.querySelector('[data-testid="prejoin-join-button"]') && !document.querySelector('[data-testid="prejoin-lobby"]')), "lobby: leaving it returns to pre-join");
  await p.getByTestId("prejoin-join-button").click();
  await p.getByTestId("prejoin-lobby").waitFor();
  check(await until(p, () => !!document.querySelector('[data-testid="meeting-root"]'), undefined, 15000), "lobby: admitted, in the meeting");
  await p.close();

  // The organiser: lobby requests, raised hands in order, mute and remove.
  p = await page("?participants=5&admin=1&waiting=1");
  await toMeeting(p);
  check(await until(p, () => document.querySelectorAll('[data-testid="lobby-request"]').length === 2), "organiser: two people waiting, with admit and refuse");
  await shot(p, "meeting-lobby-requests");
  await p.getByTestId("lobby-admit").first().click();
  check(await until(p, () => document.querySelectorAll('[data-testid="lobby-request"]').length === 1), "organiser: admitted one, one left");
  await p.getByTestId("lobby-deny").first().click();
  check(await until(p, () => !document.querySelector('[data-testid="lobby-requests"]')), "organiser: refused the other, requests gone");
  await p.getByTestId("control-participants").click();
  const order = await p.evaluate(() => [...document.querySelectorAll('#participants-panel li[data-hand-order]:not([data-hand-order=""])')].map((li) => `${li.getAttribute("data-identity")}:${li.getAttribute("data-hand-order")}`));
  check(JSON.stringify(order) === JSON.stringify(["user-2:1", "user-0:2"]), `raised hands in the order raised, first on top (${order.join(" ")})`);
  await p.locator('#participants-panel li[data-identity="user-0"] [data-testid="participant-mute"]').click();
  check(await until(p, () => document.querySelector('#participants-panel li[data-identity="user-0"] [data-testid="participant-mute"]')?.disabled === true), "organiser mutes a participant");
  const remove = p.locator('#participants-panel li[data-identity="user-3"] [data-testid="participant-remove"]');
  await remove.click();
  check((await remove.getAttribute("aria-label"))?.startsWith("Confirmer") === true, "removal asks for confirmation");
  await shot(p, "meeting-moderation");
  await remove.click();
  check(await until(p, () => !document.querySelector('#participants-panel li[data-identity="user-3"]')), "organiser removes a participant");
  await p.close();

  // A camera unplugged during the meeting: message, the meeting goes on without it.
  p = await page("?participants=3&devicelost=1");
  await toMeeting(p);
  check(await until(p, () => document.querySelector('.banner.warn')?.textContent?.includes("caméra") === true), "camera lost: explained");
  check((await p.getByTestId("control-camera").getAttribute("aria-pressed")) === "false" && (await p.getByTestId("meeting-root").count()) === 1, "camera lost: off, still in the meeting");
  await p.close();

  p = await page("?participants=4", { width: 700, height: 900 });
  await toMeeting(p);
  await p.waitForTimeout(600);
  await shot(p, "meeting-narrow");
  await p.close();

  p = await page();
  await p.getByTestId("home-link-input").fill("zzz-defg-hij");
  await p.getByTestId("home-join-button").click();
  await p.getByTestId("prejoin-join-button").click();
  await p.getByTestId("error-screen").waitFor();
  check((await p.getByTestId("error-screen").getAttribute("data-code")) === "room_full", "room full: error screen");
  await shot(p, "error-room-full");
  await p.close();

  p = await page();
  await p.getByTestId("home-link-input").fill("https://down.example/abc-defg-hij");
  await p.getByTestId("home-join-button").click();
  check((await p.getByTestId("home-error").getAttribute("data-code")) === "unreachable", "unreachable server explained");
  await p.close();
} finally {
  await browser.close();
  server.close();
}
console.log(`screenshots in ${out}`);
console.log(`ui screens: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
