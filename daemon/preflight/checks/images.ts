/**
 * images: the infra agent and manager images (kubernetes.deploy) are in containerd, where kubelet
 * looks first (`crictl inspecti IMAGE`); the fix pulls the missing ones (`crictl pull IMAGE`), and a
 * registry that cannot be reached is said as such. A warning, not a failure: the datapath does not
 * need the images, only the infra pods do (the init job's `images` step pulls them too, and fails
 * there). containerd not running yet (init starts it after preflight) is a warning as well.
 */
import { ContainerImages, RuntimeUnreachableError } from "../../host/container-images";
import { ExternalTools } from "../../host/external-tools";
import type { Check, CheckContext, Planned } from "../types";

function images(ctx: CheckContext): string[] {
  const dep = ctx.cfg.kubernetes.deploy;
  return dep ? [dep.infraAgentImage, dep.infraManagerImage] : [];
}

function store(ctx: CheckContext): ContainerImages {
  const k = ctx.cfg.kubernetes;
  return new ContainerImages(
    new ExternalTools({ path: k.toolPath, env: ctx.env, timeoutMs: k.commandTimeoutSec * 1000 }),
  );
}

async function missing(ctx: CheckContext): Promise<string[]> {
  const s = store(ctx);
  const out: string[] = [];
  for (const image of images(ctx)) if (!(await s.present(image))) out.push(image);
  return out;
}

export const imagesCheck: Check = {
  id: "images",
  fixable: true,
  expected: (ctx) => {
    const want = images(ctx);
    return want.length > 0 ? `${want.join(" and ")} in containerd` : "nothing (kubernetes.deploy is null)";
  },
  run: async (ctx) => {
    const want = images(ctx);
    if (want.length === 0) return { status: "skip", observed: "kubernetes.deploy is null: no infra images" };
    let gone: string[];
    try {
      gone = await missing(ctx);
    } catch (err) {
      if (err instanceof RuntimeUnreachableError)
        return { status: "warn", observed: `containerd cannot be asked (${err.message})` };
      throw err;
    }
    if (gone.length === 0) return { status: "pass", observed: `${want.join(" and ")} in containerd` };
    return { status: "warn", observed: `not in containerd: ${gone.join(", ")} (the fix pulls them)` };
  },
  plan: async (ctx): Promise<Planned[]> => {
    const s = store(ctx);
    return (await missing(ctx)).map((image) => ({
      change: { command: `crictl pull ${image}`, action: "run" as const },
      apply: () => s.pull(image),
    }));
  },
};
