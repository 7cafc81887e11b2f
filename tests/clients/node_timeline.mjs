// A correct client built on the unmodified official @civitai/client, for the timeline corpus.
// Reads one JSON request per stdin line ({"body": {...}}), generates one video per line, and prints one
// JSON result per line ({"status", "reason", "video"}). Time passes through the fake's control API
// (POST /_mock/clock/advance) wherever a real app would sleep. Bundled by tests/test_node_client.py.
import { createInterface } from "node:readline";
import { createCivitaiClient, submitWorkflow, getWorkflow, refreshBlob } from "@civitai/client";

const [baseUrl, token] = process.argv.slice(2);
const client = createCivitaiClient({ baseUrl, auth: token });
// The SDK replaces every non-2xx response with a bare one (its error interceptor), dropping Retry-After;
// a fetch of our own keeps the header the retry policy needs.
let retryAfter = 0;
client.setConfig({
  fetch: async (request) => {
    const response = await fetch(request);
    retryAfter = Number(response.headers.get("retry-after") ?? 0);
    return response;
  },
});
const TERMINAL = new Set(["succeeded", "failed", "expired", "canceled"]);
const CADENCE = [10, 30, 60];
const MAX_TRIES = 5;

const sleep = (seconds) => fetch(`${baseUrl}/_mock/clock/advance`, {
  method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ seconds }),
});

// One SDK call with the documented retry policy: back off on 429 / 5xx (at least Retry-After), 5 tries.
async function call(operation, options) {
  for (let attempt = 1; ; attempt++) {
    const answer = await operation({ client, ...options });
    const status = answer.response.status;
    if (status < 400) return answer.data;
    if ((status !== 429 && status < 500) || attempt === MAX_TRIES) throw new Error(`HTTP ${status}`);
    await sleep(Math.max(2 ** (attempt - 1) * (1 + Math.random() / 2), retryAfter));
  }
}

async function download(video) {
  let url = video.url;
  for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
    const response = await fetch(url);
    if (response.status === 200) return (await response.arrayBuffer()).byteLength > 0;
    if (response.status !== 403) throw new Error(`blob HTTP ${response.status}`);
    url = (await call(refreshBlob, { path: { blobId: video.id } })).url;
  }
  return false;
}

async function generate(body) {
  let workflow = await call(submitWorkflow, { body, query: { wait: 0 } });
  for (let polls = 0; !TERMINAL.has(workflow.status); polls++) {
    await sleep(CADENCE[Math.min(polls, CADENCE.length - 1)]);
    workflow = await call(getWorkflow, { path: { workflowId: workflow.id } });
  }
  const step = workflow.steps[0];
  const job = (step.jobs ?? []).at(-1) ?? {};
  const video = workflow.status === "succeeded" ? step.output?.video : null;
  return { status: workflow.status, reason: job.reason ?? null, video: video ? await download(video) : false };
}

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  try {
    console.log(JSON.stringify(await generate(JSON.parse(line).body)));
  } catch (error) {
    console.log(JSON.stringify({ error: String(error) }));
  }
}
