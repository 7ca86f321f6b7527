/**
 * The preflight checks, one per file, each with what it expects, what it sees and (when a fix
 * exists) the plan that makes it pass, beside the names of the tests that cover it. Plans only
 * read; applying them is the caller's (daemon/preflight/index.ts), so a dry run lists exactly what
 * the real run changes. Shared text parsers: daemon/preflight/parsers.ts.
 */
import type { Check } from "../types";
import { artifacts } from "./artifacts";
import { binaries } from "./binaries";
import { chassisConfig } from "./chassis-config";
import { cniHostPaths } from "./cni-host-paths";
import { containerd } from "./containerd";
import { crictl } from "./crictl";
import { firewall } from "./firewall";
import { hugepages } from "./hugepages";
import { hugepagesBoot } from "./hugepages-boot";
import { imagesCheck } from "./images";
import { kernel } from "./kernel";
import { modules } from "./modules";
import { proxy } from "./proxy";
import { selinux } from "./selinux";
import { swap } from "./swap";
import { sysctl } from "./sysctl";

/** Every check, in the order they run (config's CHECK_IDS). */
export const CHECKS: readonly Check[] = [
  kernel,
  swap,
  modules,
  sysctl,
  selinux,
  firewall,
  hugepages,
  containerd,
  crictl,
  proxy,
  cniHostPaths,
  binaries,
  artifacts,
  chassisConfig,
  hugepagesBoot,
  imagesCheck,
];
