/**
 * The container runtime's images through crictl (the CRI: what kubelet pulls with): whether an image
 * is there (`crictl inspecti IMAGE`) and pulling it (`crictl pull IMAGE`). A registry that cannot be
 * reached is said as such, naming the registry, instead of crictl's last line of gRPC error.
 */
import { describeFailure } from "./command";
import type { ExternalTools, ToolRun } from "./external-tools";

/** What crictl (containerd's CRI) says when an image is not in the store. */
const ABSENT = /no such image|not found/i;
/** Network failures on the way to a registry (Go's net errors, as containerd passes them on). */
const UNREACHABLE =
  /dial tcp|connection refused|no such host|i\/o timeout|network is unreachable|no route to host|TLS handshake timeout|server gave HTTP response to HTTPS client|context deadline exceeded/i;
/** crictl cannot talk to the runtime itself (containerd not running, or its socket elsewhere). */
const NO_RUNTIME =
  /containerd\.sock|connect: no such file|transport: Error while dialing|validate service connection/i;

/** The registry an image reference names (Docker's rule: a first part with '.' or ':' or localhost). */
export function registryOf(image: string): string {
  const first = image.split("/")[0] ?? "";
  return image.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost")
    ? first
    : "docker.io";
}

/** The runtime cannot be asked (containerd down): not the same as an image missing. */
export class RuntimeUnreachableError extends Error {
  override readonly name = "RuntimeUnreachableError";
}

const lastLines = (r: ToolRun) => (r.stderr || r.stdout).trim().split("\n").slice(-1).join(" ");

export class ContainerImages {
  constructor(private readonly tools: ExternalTools) {}

  /** True when the runtime has the image; rejects RuntimeUnreachableError when it cannot be asked. */
  async present(image: string): Promise<boolean> {
    const r = await this.tools.run("crictl", ["inspecti", image]);
    if (r.code === 0) return true;
    const text = `${r.stderr}\n${r.stdout}`;
    if (NO_RUNTIME.test(text)) throw new RuntimeUnreachableError(describeFailure(r.argv, r));
    if (ABSENT.test(text)) return false;
    throw new Error(describeFailure(r.argv, r));
  }

  /** `crictl pull IMAGE`; a registry that cannot be reached is an error naming it. */
  async pull(image: string): Promise<void> {
    const r = await this.tools.run("crictl", ["pull", image]);
    if (r.code === 0) return;
    const text = `${r.stderr}\n${r.stdout}`;
    if (NO_RUNTIME.test(text)) throw new RuntimeUnreachableError(describeFailure(r.argv, r));
    if (UNREACHABLE.test(text)) {
      throw new Error(
        `cannot pull ${image}: the registry ${registryOf(image)} cannot be reached (${lastLines(r)}); start it (the guide: docker run -d -p 5000:5000 --restart=always --name registry registry:2) or check containerd's proxy settings (NO_PROXY)`,
      );
    }
    throw new Error(`cannot pull ${image}: ${describeFailure(r.argv, r)}`);
  }

  /** Pulls the images not there yet; says which were there and which were pulled. */
  async ensure(images: readonly string[]): Promise<{ present: string[]; pulled: string[] }> {
    const out = { present: [] as string[], pulled: [] as string[] };
    for (const image of images) {
      if (await this.present(image)) out.present.push(image);
      else {
        await this.pull(image);
        out.pulled.push(image);
      }
    }
    return out;
  }
}
