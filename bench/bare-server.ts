/** The reference for bench/api: a bare fastify route answering fixed bytes. argv: port file */
import { readFileSync } from "node:fs";
import Fastify from "fastify";

const [port, file] = process.argv.slice(2);
const body = readFileSync(file as string);
const app = Fastify({ logger: false });
app.get("/v1/status", (_req, reply) => {
  reply.type("application/json; charset=utf-8").send(body);
});
app.listen({ host: "127.0.0.1", port: Number(port) }).then(() => process.send?.("listening"));
