/**
 * Which infra manifests the daemon applied (post-init) and has not undeployed since. The record is the
 * job history itself: every manifest is one step named after it, and a succeeded step is the proof
 * that kubectl applied (or deleted) it. So reset undeploys exactly what was applied, whatever the
 * configuration says by then.
 */

export const APPLY_STEP = "apply-manifest ";
export const UNDEPLOY_STEP = "undeploy-manifest ";

/**
 * Replays succeeded step names (oldest first): the manifests applied and still deployed, in the order
 * they were applied; null when the daemon never applied any (an admin deployed them by hand).
 */
export function appliedManifests(succeededSteps: readonly string[]): string[] | null {
  const deployed = new Set<string>();
  let everApplied = false;
  for (const name of succeededSteps) {
    if (name.startsWith(APPLY_STEP)) {
      const path = name.slice(APPLY_STEP.length);
      everApplied = true;
      deployed.delete(path); // applied again: it now comes last in apply order
      deployed.add(path);
    } else if (name.startsWith(UNDEPLOY_STEP)) {
      deployed.delete(name.slice(UNDEPLOY_STEP.length));
    }
  }
  return everApplied ? [...deployed] : null;
}

/** What reset undeploys, in order: the applied manifests (else the configured ones), last applied first. */
export function manifestsToUndeploy(
  succeededSteps: readonly string[],
  configured: readonly string[],
): string[] {
  return [...(appliedManifests(succeededSteps) ?? configured)].reverse();
}
