import type { HostFs } from "../host/hostfs";
import type { Planned } from "./types";

/** A whole configuration file replaced with new text (HostFs.writeFile backs it up first when it exists). */
export function fileChange(fs: HostFs, file: string, before: string | null, after: string): Planned {
  return {
    change: {
      file,
      action: before === null ? "create" : "edit",
      ...(before === null ? {} : { before }),
      after,
    },
    apply: () => fs.writeFile(file, after),
  };
}
