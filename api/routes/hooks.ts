import type { FastifyPluginAsync } from "fastify";
import { type HookName, hookKind, INIT_KIND, RESET_KIND } from "../../daemon/jobs/kinds";
import { commonErrors, errorRef, NoQuerySchema } from "../schemas/common";
import { HookParamsSchema } from "../schemas/jobs";
import { type JobsApi, jobsUnavailable, jobView, needJobs } from "./jobs";

const started = {
  $ref: "Job#",
  description: "The job, started: it runs in the background; follow it with GET /v1/jobs/{id} or the events.",
};
const conflict = { ...errorRef, description: "Another hook or reset job is running; the message names it." };

/** The kubeadm hooks and the node reset: each starts a job and answers 202 at once. */
const hookRoutes: FastifyPluginAsync<{ jobs: JobsApi | null }> = async (app, { jobs }) => {
  app.post<{ Params: { name: HookName } }>(
    "/v1/hooks/:name",
    {
      schema: {
        summary: "Run a kubeadm hook",
        description:
          "kubeadm has no hooks of its own: an admin runs these around it. pre-init: preflight, bring the " +
          "datapath up and wait until it is ready. post-init: on a single-node install remove the " +
          "control-plane taint, then apply the configured infra manifests (recorded, so reset deletes " +
          "exactly those). pre-reset: the reset steps before `kubeadm reset` (delete the manifests). " +
          "post-reset: the steps after it (directories, leftover pods, kubelet and containerd, the " +
          "datapath and the daemon's TAPs). Answers 202 with the job; one hook or reset job runs at a " +
          "time. Takes no request body.",
        tags: ["jobs"],
        operationId: "runHook",
        params: HookParamsSchema,
        querystring: NoQuerySchema,
        response: { 202: started, 409: conflict, 503: jobsUnavailable, ...commonErrors },
      },
    },
    async (request, reply) =>
      reply.code(202).send(jobView(needJobs(jobs).start(hookKind(request.params.name)))),
  );

  app.post(
    "/v1/init",
    {
      schema: {
        summary: "Make this node a cluster's control plane (the guide's set-up) as one job",
        description:
          "Steps, in order: preflight, bring the datapath up, `systemctl enable --now containerd`, wait until " +
          "the datapath is ready, `kubeadm init --pod-network-cidr host.podCIDR --service-cidr " +
          "host.serviceCIDR` plus kubernetes.kubeadmInitArgs (skipped when /etc/kubernetes/admin.conf exists), " +
          "admin.conf copied to ~/.kube/config of kubernetes.kubeconfigUser, the control-plane taint removed " +
          "on a single-node install, then with kubernetes.deploy the infra images pulled into containerd, the " +
          "infra components applied as upstream's `make deploy` renders them and Calico (`make " +
          "deploy-calico`, its CRDs established before the FelixConfiguration), and the configured manifests. " +
          "Every step is idempotent; a daemon restart resumes the job. Answers 202 with the job. Takes no " +
          "request body.",
        tags: ["jobs"],
        operationId: "initNode",
        querystring: NoQuerySchema,
        response: { 202: started, 409: conflict, 503: jobsUnavailable, ...commonErrors },
      },
    },
    async (_request, reply) => reply.code(202).send(jobView(needJobs(jobs).start(INIT_KIND))),
  );

  app.post(
    "/v1/reset",
    {
      schema: {
        summary: "Reset the node (the guide's teardown) as one job",
        description:
          "Steps, in order: with kubernetes.deploy, delete the FelixConfiguration, Calico and the infra " +
          "components (rendered as for init); delete the infra manifests (`kubectl delete -f F --ignore-not-found`, last " +
          "applied first), `kubeadm reset -f`, remove /etc/cni /etc/kubernetes /var/lib/etcd " +
          "/var/lib/kubelet /var/lib/cni /var/run/kubernetes $HOME/.kube (below host.root), stop and " +
          "remove leftover pods (crictl stopp/rmp), `systemctl stop kubelet containerd`, stop the " +
          "datapath (ARP proxy, OVS) and remove the TAPs the daemon created. A failing step does not " +
          "stop the others. Answers 202 with the job. Takes no request body.",
        tags: ["jobs"],
        operationId: "resetNode",
        querystring: NoQuerySchema,
        response: { 202: started, 409: conflict, 503: jobsUnavailable, ...commonErrors },
      },
    },
    async (_request, reply) => reply.code(202).send(jobView(needJobs(jobs).start(RESET_KIND))),
  );
};

export default hookRoutes;
