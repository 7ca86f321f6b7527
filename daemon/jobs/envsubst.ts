/**
 * What GNU `envsubst` (no SHELL-FORMAT argument) does to a stream, as upstream's `make deploy` pipes
 * the kustomize output through it: every `$NAME` and `${NAME}` (NAME: a letter or _, then letters,
 * digits, _) becomes the variable's value, or nothing when it is unset; any other `$` stays.
 */
const REF = /\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g;

export interface Substituted {
  text: string;
  /** Names referenced, in order of first use. */
  used: string[];
  /** Names referenced but unset (envsubst makes them empty). */
  unset: string[];
}

export function envsubst(text: string, env: Readonly<Record<string, string | undefined>>): Substituted {
  const used: string[] = [];
  const unset: string[] = [];
  const out = text.replace(REF, (_m, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare) as string;
    const value = env[name];
    if (!used.includes(name)) {
      used.push(name);
      if (value === undefined) unset.push(name);
    }
    return value ?? "";
  });
  return { text: out, used, unset };
}
