import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEVICE_KINDS, ERROR_CODES, LOW_BANDWIDTH_MODES, QUALITIES } from "../bridge";
import { SHORTCUTS } from "../shortcuts";
import { SERVER_KINDS } from "../accounts";
import { catalogs, flatKeys, LANGUAGES, lookup, setLanguage, t } from "./i18n";

const srcDir = join(__dirname, "..");

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return /\.tsx?$/.test(name) && !/\.test\.ts$/.test(name) ? [path] : [];
  });
}

const fr = flatKeys(catalogs.fr);
const en = flatKeys(catalogs.en);
const namespaces = Object.keys(catalogs.fr);

describe("i18n", () => {
  it("has every key in both French and English, none empty", () => {
    expect(fr.filter((k) => !en.includes(k))).toEqual([]);
    expect(en.filter((k) => !fr.includes(k))).toEqual([]);
    for (const lang of LANGUAGES) {
      for (const key of fr) expect(lookup(lang, key)?.trim(), `${lang}:${key}`).toBeTruthy();
    }
  });

  it("uses the same placeholders in both languages", () => {
    const vars = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const key of fr) expect(vars(lookup("en", key) ?? ""), key).toEqual(vars(lookup("fr", key) ?? ""));
  });

  it("defines every key the sources use", () => {
    const files = sources(srcDir);
    expect(files.length).toBeGreaterThan(10);
    const keyLike = new RegExp(`["'\`]((?:${namespaces.join("|")})\\.[A-Za-z0-9_.-]+)["'\`]`, "g");
    const used = new Set<string>();
    for (const file of files) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(keyLike)) if (m[1]) used.add(m[1]);
    }
    expect(used.size).toBeGreaterThan(80);
    expect([...used].filter((k) => !fr.includes(k))).toEqual([]);
  });

  it("defines the keys the sources build from values", () => {
    // Keys built with a template (`error.${code}.title`, ...) for every value they can take.
    const built = [
      ...ERROR_CODES.flatMap((c) => [`error.${c}.title`, `error.${c}.action`]),
      ...QUALITIES.map((q) => `quality.${q}`),
      ...LOW_BANDWIDTH_MODES.map((m) => `settings.lowBandwidthModes.${m}`),
      ...LANGUAGES.map((l) => `settings.languages.${l}`),
      ...SHORTCUTS.map((s) => `shortcuts.${s.id}`),
      ...DEVICE_KINDS.map((k) => `meeting.deviceLost.${k}`),
      ...SERVER_KINDS.map((k) => `accounts.kinds.${k}`),
    ];
    expect(built.filter((k) => !fr.includes(k))).toEqual([]);
    // And no template key in the sources outside those families.
    const templated = new Set<string>();
    for (const file of sources(srcDir)) {
      for (const m of readFileSync(file, "utf8").matchAll(/\bt\(`([^`$]*)\$\{/g)) if (m[1] !== undefined) templated.add(m[1]);
    }
    expect([...templated].sort()).toEqual(["accounts.kinds.", "error.", "meeting.deviceLost.", "quality.", "settings.languages.", "settings.lowBandwidthModes.", "shortcuts."]);
  });

  it("has no visible text hard-coded in the components", () => {
    // Text between JSX tags that contains a letter is text a user sees: it must come from t().
    const offenders: string[] = [];
    for (const file of sources(srcDir).filter((f) => f.endsWith(".tsx"))) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/(?<![=-])>\s*([^<>{}\n]*[A-Za-zÀ-ÿ][^<>{}\n]*)\s*(?=<\/?[A-Za-z])/g)) {
        const s = m[1]?.trim() ?? "";
        if (s && !/^[\s=&|?:().,;!]*$/.test(s) && !s.includes("=>") && !s.includes("&&")) offenders.push(`${file.slice(srcDir.length)}: ${s}`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it("fills placeholders and falls back to the key", () => {
    setLanguage("en");
    expect(t("meeting.pageOf", { page: 2, pages: 3 })).toBe("Page 2 of 3");
    setLanguage("fr");
    expect(t("meeting.pageOf", { page: 2, pages: 3 })).toBe("Page 2 sur 3");
    expect(t("no.such.key")).toBe("no.such.key");
  });
});
