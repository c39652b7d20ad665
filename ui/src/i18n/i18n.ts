/**
 * Translations: every visible string comes from `fr.json` (the default) or `en.json`, looked up
 * by a dotted key; `{name}` placeholders are filled from `vars`. A missing key shows the key
 * itself (and the i18n test fails), never an empty control.
 */

import type { Language } from "../bridge";
import en from "./en.json";
import fr from "./fr.json";

type Tree = { [key: string]: string | Tree };

const catalogs: Record<Language, Tree> = { fr, en };
let current: Language = "fr";

export const LANGUAGES: readonly Language[] = ["fr", "en"];

export function setLanguage(lang: Language): void {
  current = lang;
  if (typeof document !== "undefined") {
    document.documentElement.lang = lang;
    document.title = t("app.name");
  }
}

export function language(): Language {
  return current;
}

/** Every dotted key of a catalog (leaves only). */
export function flatKeys(tree: Tree, prefix = ""): string[] {
  return Object.entries(tree).flatMap(([k, v]) =>
    typeof v === "string" ? [`${prefix}${k}`] : flatKeys(v, `${prefix}${k}.`),
  );
}

export function lookup(lang: Language, key: string): string | undefined {
  let node: string | Tree | undefined = catalogs[lang];
  for (const part of key.split(".")) {
    if (typeof node !== "object") return undefined;
    node = node[part];
  }
  return typeof node === "string" ? node : undefined;
}

/** The translated string for `key` in the current language. */
export function t(key: string, vars?: Record<string, string | number>): string {
  const text = lookup(current, key) ?? lookup("fr", key) ?? key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (m, name: string) => (name in vars ? String(vars[name]) : m));
}

/** A date and time (ISO 8601) in the current language, medium date and short time; "" when invalid. */
export function formatDateTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleString(current === "fr" ? "fr-FR" : "en-GB", { dateStyle: "medium", timeStyle: "short" });
}

export { catalogs };
