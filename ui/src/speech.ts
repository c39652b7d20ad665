/**
 * The logic of the speech screen, apart from its markup so that it is tested on its own: model
 * sizes and checksums as shown, and the request the install form sends. The same rules as the
 * Rust side are checked here first so that a mistake is explained before anything is downloaded.
 */

import type { AppError, InstallModelRequest, Language } from "./bridge";

/** A model's size in megabytes (10⁶ bytes, as model hubs list them), one decimal under 10 MB. */
export function formatMegabytes(bytes: number, lang: Language): string {
  const mb = Math.max(0, bytes) / 1e6;
  return new Intl.NumberFormat(lang === "fr" ? "fr-FR" : "en-GB", { maximumFractionDigits: mb < 10 ? 1 : 0 }).format(mb);
}

/** The first 12 hex digits of a SHA-256: enough to compare with a published checksum by eye. */
export function shortSha(sha256: string): string {
  return sha256.length > 12 ? `${sha256.slice(0, 12)}…` : sha256;
}

/** A SHA-256 as typed or pasted (spaces, upper case, a `sha256:` prefix) in its canonical form. */
export function normalizeSha256(input: string): string {
  return input.trim().replace(/^sha256:/i, "").replace(/\s+/g, "").toLowerCase();
}

export function isSha256(s: string): boolean {
  return /^[0-9a-f]{64}$/.test(s);
}

/** Model names the Rust side accepts (the `speech` crate's store): ASCII letters, digits, `.`, `_`, `-`, not starting with a dot. */
export function isModelName(name: string): boolean {
  return /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(name);
}

export interface InstallForm {
  name: string;
  path: string;
  url: string;
  sha256: string;
  /** Download from the IT department's `speechModelUrl`. */
  fromPolicy: boolean;
}

export const EMPTY_INSTALL_FORM: InstallForm = { name: "", path: "", url: "", sha256: "", fromPolicy: false };

/**
 * The `install_model` request for the form, or the error to show: a name, and exactly one source
 * (the IT department's address, else an address, else a file on this computer); a download needs
 * its SHA-256, a local file is checked against one when it is given. Errors carry the codes Rust
 * would answer with and a technical detail.
 */
export function installRequest(form: InstallForm): { request: InstallModelRequest } | { error: AppError } {
  const name = form.name.trim();
  const path = form.path.trim();
  const url = form.url.trim();
  const sha256 = normalizeSha256(form.sha256);
  const invalid = (message: string) => ({ error: { code: "model_invalid" as const, message } });
  if (!isModelName(name)) return invalid(`model name "${name.slice(0, 80)}": use letters, digits, ".", "_" or "-", not starting with "."`);
  if (form.fromPolicy) {
    if (!isSha256(sha256)) return invalid("the SHA-256 must be 64 hexadecimal digits");
    return { request: { name, fromPolicy: true, sha256 } };
  }
  if (path !== "" && url !== "") return invalid("give a file on this computer or a download address, not both");
  if (url !== "") {
    if (!isSha256(sha256)) return invalid("the SHA-256 must be 64 hexadecimal digits");
    return { request: { name, url, sha256 } };
  }
  if (path === "") return invalid("no model file or address given");
  // A checksum typed for a local file is checked too (the file must match it); none: not checked.
  if (sha256 === "") return { request: { name, path } };
  if (!isSha256(sha256)) return invalid("the SHA-256 must be 64 hexadecimal digits");
  return { request: { name, path, sha256 } };
}
