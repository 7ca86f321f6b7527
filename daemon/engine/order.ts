import type { Component } from "./component";

/**
 * Dependency order (Kahn's algorithm, ties kept in declaration order so the order is stable).
 * Throws on an unknown dependency or a cycle: both are programming errors caught at start-up.
 */
export function topoOrder(components: readonly Component[]): string[] {
  const names = new Set(components.map((c) => c.name));
  if (names.size !== components.length) throw new Error("duplicate component names");
  for (const c of components) {
    for (const d of c.dependsOn) {
      if (!names.has(d)) throw new Error(`component ${c.name} depends on unknown component ${d}`);
    }
  }
  const done: string[] = [];
  const left = [...components];
  while (left.length > 0) {
    const i = left.findIndex((c) => c.dependsOn.every((d) => done.includes(d)));
    if (i < 0) throw new Error(`dependency cycle among: ${left.map((c) => c.name).join(", ")}`);
    done.push((left.splice(i, 1)[0] as Component).name);
  }
  return done;
}
