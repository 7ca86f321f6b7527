/**
 * The guide's three commands after `kubeadm init`, for one user, with file calls below host.root
 * instead of a shell:
 *
 *   mkdir -p $HOME/.kube
 *   cp -i /etc/kubernetes/admin.conf $HOME/.kube/config
 *   chown $(id -u):$(id -g) $HOME/.kube/config
 *
 * The user's home, uid and gid come from host.root's /etc/passwd (what `id` and `$HOME` would say on
 * that host), never from the daemon's own user database.
 */
import { chownSync, statSync } from "node:fs";
import { join } from "node:path";
import { HostFs } from "./hostfs";

export const ADMIN_CONF = "/etc/kubernetes/admin.conf";

export interface PasswdEntry {
  user: string;
  uid: number;
  gid: number;
  home: string;
}

/** The user's line of /etc/passwd text (name:x:uid:gid:gecos:home:shell); null when absent. */
export function passwdEntry(passwd: string, user: string): PasswdEntry | null {
  for (const line of passwd.split("\n")) {
    const f = line.split(":");
    if (f.length < 7 || f[0] !== user) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    const home = f[5] ?? "";
    if (!Number.isInteger(uid) || !Number.isInteger(gid) || !home.startsWith("/")) return null;
    return { user, uid, gid, home };
  }
  return null;
}

export interface CopyOutcome {
  file: string;
  /** copied: written now; same: it already had admin.conf's text (only owner and mode made right). */
  how: "copied" | "same";
  owner: string;
}

export class AdminKubeconfig {
  private readonly fs: HostFs;

  constructor(hostRoot: string) {
    this.fs = new HostFs(hostRoot);
  }

  /** True when kubeadm init has written its admin kubeconfig (init done on this host). */
  initDone(): boolean {
    return this.fs.exists(ADMIN_CONF);
  }

  /**
   * Copies admin.conf to ~user/.kube/config (0600, as kubeadm writes admin.conf) owned by the user.
   * Idempotent: the same text is left alone; a different one (a new cluster after a reset) is
   * replaced, the old one kept as config.k8s-offloadd.bak.
   */
  copyFor(user: string): CopyOutcome {
    const admin = this.fs.read(ADMIN_CONF);
    if (admin === null) throw new Error(`${ADMIN_CONF} not found: kubeadm init has not written it`);
    const passwd = this.fs.read("/etc/passwd");
    if (passwd === null) throw new Error("/etc/passwd not found");
    const who = passwdEntry(passwd, user);
    if (!who) throw new Error(`user ${user} not found in /etc/passwd (kubernetes.kubeconfigUser)`);
    const dir = join(who.home, ".kube");
    const file = join(dir, "config");
    this.fs.mkdir(dir);
    const same = this.fs.read(file) === admin;
    if (!same) this.fs.writeFile(file, admin, 0o600);
    try {
      const target = this.fs.path(file);
      if (statSync(target).isFile()) chownSync(target, who.uid, who.gid);
      // The guide's user runs mkdir -p itself: the directory is theirs.
      if (who.uid !== 0) chownSync(this.fs.path(dir), who.uid, who.gid);
    } catch (err) {
      throw new Error(
        `cannot chown ${file} to ${who.uid}:${who.gid}: ${(err as NodeJS.ErrnoException).code}`,
      );
    }
    return { file, how: same ? "same" : "copied", owner: `${who.uid}:${who.gid}` };
  }
}
