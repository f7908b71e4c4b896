// Runs the demo workflow app through the official Node SDK (npm dify-client, unmodified):
// `CompletionClient.runWorkflow` in blocking and in streaming mode.
// Usage: node workflow.mjs <base_url> <workflow_key>; prints one JSON summary line.
import { CompletionClient } from "dify-client";
import { readStream } from "./sse.mjs";

const [baseUrl, key] = process.argv.slice(2);
const client = new CompletionClient(key, baseUrl);

const blocking = (await client.runWorkflow({ name: "Node" }, "sdk-node-workflow")).data;
const streamed = await readStream(await client.runWorkflow({ name: "Stream" }, "sdk-node-workflow", true));
const finished = streamed[streamed.length - 1];
console.log(
  JSON.stringify({
    blockingStatus: blocking.data.status,
    blockingOutputs: blocking.data.outputs,
    blockingRunId: blocking.workflow_run_id,
    streamEvents: streamed.map((e) => e.event),
    streamOutputs: finished.data.outputs,
  }),
);
