import { describe, expect, it } from "vitest";
import { EMPTY_INSTALL_FORM, formatMegabytes, installRequest, isModelName, normalizeSha256, shortSha, type InstallForm } from "./speech";

const SHA = "a3f1".repeat(16);
const form = (f: Partial<InstallForm>): InstallForm => ({ ...EMPTY_INSTALL_FORM, ...f });

describe("speech screen logic", () => {
  it("shows sizes in megabytes and short checksums", () => {
    expect(formatMegabytes(147_951_465, "en")).toBe("148");
    expect(formatMegabytes(1_533_763_059, "en")).toBe("1,534");
    expect(formatMegabytes(7_800_000, "en")).toBe("7.8");
    expect(formatMegabytes(7_800_000, "fr")).toBe("7,8");
    expect(formatMegabytes(-1, "en")).toBe("0");
    expect(shortSha(SHA)).toBe("a3f1a3f1a3f1…");
    expect(shortSha("abc")).toBe("abc");
  });

  it("accepts the model names the Rust store accepts", () => {
    for (const ok of ["whisper-small", "ggml_base.fr", "a", "v3.1-turbo"]) expect(isModelName(ok), ok).toBe(true);
    for (const bad of ["", ".hidden", "a/b", "../x", "with space", "modèle"]) expect(isModelName(bad), bad).toBe(false);
  });

  it("normalises a pasted SHA-256", () => {
    expect(normalizeSha256(`  SHA256:${SHA.toUpperCase().slice(0, 32)} ${SHA.slice(32)} `)).toBe(SHA);
  });

  it("builds one install request per source", () => {
    expect(installRequest(form({ name: " small ", path: " /tmp/ggml-small.bin " }))).toEqual({ request: { name: "small", path: "/tmp/ggml-small.bin" } });
    expect(installRequest(form({ name: "small", url: "https://example.gouv.fr/m.bin", sha256: SHA.toUpperCase() }))).toEqual({
      request: { name: "small", url: "https://example.gouv.fr/m.bin", sha256: SHA },
    });
    expect(installRequest(form({ name: "small", path: "/tmp/ggml-small.bin", sha256: SHA }))).toEqual({ request: { name: "small", path: "/tmp/ggml-small.bin", sha256: SHA } });
    // The IT department's address wins over whatever else was typed.
    expect(installRequest(form({ name: "it", path: "/tmp/x.bin", fromPolicy: true, sha256: SHA }))).toEqual({ request: { name: "it", fromPolicy: true, sha256: SHA } });
  });

  it("refuses what Rust would refuse, before anything is downloaded", () => {
    const code = (f: Partial<InstallForm>) => {
      const r = installRequest(form(f));
      return "error" in r ? r.error.code : null;
    };
    expect(code({ name: "", path: "/tmp/x.bin" })).toBe("model_invalid");
    expect(code({ name: ".x", path: "/tmp/x.bin" })).toBe("model_invalid");
    expect(code({ name: "x" })).toBe("model_invalid");
    expect(code({ name: "x", path: "/tmp/x.bin", url: "https://e/m.bin", sha256: SHA })).toBe("model_invalid");
    expect(code({ name: "x", url: "https://e/m.bin" })).toBe("model_invalid");
    expect(code({ name: "x", url: "https://e/m.bin", sha256: "1234" })).toBe("model_invalid");
    expect(code({ name: "x", fromPolicy: true })).toBe("model_invalid");
    expect(code({ name: "x", path: "/tmp/x.bin", sha256: "not a checksum" })).toBe("model_invalid");
  });
});
