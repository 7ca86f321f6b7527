/** The kinds of job the daemon runs (shared with the API schemas, so kept free of code). */

export const HOOK_NAMES = ["pre-init", "post-init", "pre-reset", "post-reset"] as const;
export type HookName = (typeof HOOK_NAMES)[number];

export const RESET_KIND = "reset";
export const INIT_KIND = "init";
export const hookKind = (name: HookName): string => `hook:${name}`;
