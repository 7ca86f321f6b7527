import type { Config } from "../config/types";
import {
  type Component,
  type ComponentDetails,
  type ComponentSignals,
  ConfigurationError,
  NotReadyYetError,
  noProcessDetails,
  type Probe,
} from "../engine/component";
import { errorText } from "../engine/engine";
import { absentArtifacts, verifyArtifacts } from "../host/artifacts";
import { describeFailure, runCommand } from "../host/command";
import type { P4RuntimeClient } from "../host/p4runtime-client";

/**
 * pipeline: the P4 pipeline check over P4Runtime. Refuses modified or missing artifacts (SHA-256
 * pins); ready when the target answers Capabilities and, when configured to load, a pipeline is
 * loaded (GetForwardingPipelineConfig, COOKIE_ONLY). Loading runs the vendor's loader
 * (`ovs-p4ctl set-pipe br0 k8s_dp.pb.bin p4Info.txt`): P4Info is protobuf text format, which we do
 * not parse ourselves (docs/architecture.md#p4runtime). A target restart blocks this component; the
 * engine starts it again afterwards, which loads again.
 *
 * Failure classes (component.ts): an artifact not present yet, or a target not listening yet, is
 * tried again by the engine; an artifact whose SHA-256 does not match its pin, or a loader that
 * names an artifact that is not configured, is a ConfigurationError: it waits for a restart.
 */
export class PipelineComponent implements Component {
  readonly name = "pipeline";
  readonly readiness: string;
  private signals: ComponentSignals | null = null;

  constructor(
    private readonly cfg: Config,
    private readonly p4rt: P4RuntimeClient,
    readonly dependsOn: string[],
    private readonly env: NodeJS.ProcessEnv,
  ) {
    const p = cfg.pipeline;
    this.readiness = p.load
      ? `a P4 pipeline loaded on device ${p.deviceId} (P4Runtime ${p4rt.address})`
      : `P4Runtime to answer Capabilities on ${p4rt.address}`;
  }

  attach(signals: ComponentSignals): void {
    this.signals = signals;
  }

  async start(): Promise<void> {
    const p = this.cfg.pipeline;
    if (p.artifacts) {
      const absent = absentArtifacts(p.artifacts);
      if (absent.length > 0) {
        const list = absent.map(([name, pin]) => `${name} (${pin.path})`).join(", ");
        throw new NotReadyYetError(`P4 artifact ${list} not present yet`);
      }
      try {
        verifyArtifacts(p.artifacts);
      } catch (err) {
        throw new ConfigurationError(errorText(err), { cause: err });
      }
    }
    const version = await this.p4rt.capabilities();
    let { loaded } = await this.p4rt.pipelineLoaded(p.deviceId);
    if (p.load && !loaded) {
      const argv = this.loaderArgv();
      const r = await runCommand(argv, { timeoutMs: 60_000, env: this.env });
      if (r.code !== 0) throw new Error(`pipeline loader failed: ${describeFailure(argv, r)}`);
      loaded = (await this.p4rt.pipelineLoaded(p.deviceId)).loaded;
      if (!loaded)
        throw new Error(`pipeline loader ${argv[0]} succeeded but P4Runtime reports no pipeline loaded`);
      this.signals?.note(
        this.name,
        "start",
        `loaded the P4 pipeline on device ${p.deviceId} with ${argv[0]}`,
      );
    }
    this.signals?.note(
      this.name,
      "start",
      `P4Runtime ${version} answers; pipeline ${loaded ? "loaded" : "not loaded"} on device ${p.deviceId}`,
    );
  }

  async probe(): Promise<Probe> {
    try {
      await this.p4rt.capabilities();
      if (!this.cfg.pipeline.load) return { ready: true };
      const { loaded } = await this.p4rt.pipelineLoaded(this.cfg.pipeline.deviceId);
      return loaded ? { ready: true } : { ready: false, waitingFor: this.readiness };
    } catch (err) {
      return { ready: false, waitingFor: `${this.readiness} (${errorText(err)})` };
    }
  }

  async stop(): Promise<void> {}

  details(): ComponentDetails {
    return noProcessDetails();
  }

  /** The loader's argv with {pbBin}, {p4info} and {conf} replaced by the artifact paths (no shell). */
  private loaderArgv(): string[] {
    const a = this.cfg.pipeline.artifacts;
    const paths: Record<string, string> = a
      ? { pbBin: a.pbBin.path, p4info: a.p4info.path, conf: a.conf.path }
      : {};
    return this.cfg.pipeline.loader.map((arg) =>
      arg.replace(/\{(pbBin|p4info|conf)\}/g, (_, k: string) => {
        const p = paths[k];
        if (!p)
          throw new ConfigurationError(
            `pipeline.loader uses {${k}} but pipeline.artifacts is not configured`,
          );
        return p;
      }),
    );
  }
}
