import { Document, parseDocument } from "yaml";
import { fileChange } from "../file-change";
import type { Check, CheckContext } from "../types";

const CRICTL_FILE = "/etc/crictl.yaml";
const CONTAINERD_SOCKET = "unix:///run/containerd/containerd.sock";
const CRICTL_KEYS = ["runtime-endpoint", "image-endpoint"];

function crictlState({ fs }: CheckContext) {
  const text = fs.read(CRICTL_FILE);
  const doc = parseDocument(text ?? "");
  const wrong = CRICTL_KEYS.filter((k) => doc.get(k) !== CONTAINERD_SOCKET);
  return { text, doc, wrong };
}

/**
 * crictl: /etc/crictl.yaml points both endpoints at containerd's socket (as the guide writes it).
 * The fix sets the two keys and keeps the rest of the YAML.
 * Tests: test/unit/preflight.test.ts "missing crictl.yaml: …" (the scenario loop), "disabled
 * checks are skip and are not fixed", "GET /v1/preflight and POST /v1/preflight/fix against the real
 * engine", "the dry run lists exactly what …".
 */
export const crictl: Check = {
  id: "crictl",
  fixable: true,
  expected: () => `${CRICTL_FILE} with runtime-endpoint and image-endpoint ${CONTAINERD_SOCKET}`,
  run: (ctx) => {
    const s = crictlState(ctx);
    if (s.text === null) return { status: "fail", observed: `${CRICTL_FILE} missing` };
    if (s.doc.errors.length > 0)
      return { status: "fail", observed: `${CRICTL_FILE}: ${s.doc.errors[0]?.message}` };
    if (s.wrong.length === 0) return { status: "pass", observed: `both endpoints ${CONTAINERD_SOCKET}` };
    return {
      status: "fail",
      observed: s.wrong.map((k) => `${k}: ${JSON.stringify(s.doc.get(k) ?? null)}`).join(", "),
    };
  },
  plan: (ctx) => {
    const s = crictlState(ctx);
    if (s.wrong.length === 0) return [];
    if (s.doc.errors.length > 0) throw new Error(`${CRICTL_FILE} is not YAML: ${s.doc.errors[0]?.message}`);
    const doc: Document = s.text === null || s.doc.contents === null ? new Document({}) : s.doc;
    for (const k of CRICTL_KEYS) doc.set(k, CONTAINERD_SOCKET);
    return [fileChange(ctx.fs, CRICTL_FILE, s.text, String(doc))];
  },
};
