// Uses the official @civitai/client exactly as an application would, with only baseUrl and auth
// pointing at the fake. Prints one JSON report on stdout for tests/test_node_client.py to judge.
import {
  createCivitaiClient, submitWorkflow, getWorkflow, queryWorkflows, deleteWorkflow, addWorkflowTag,
  removeWorkflowTag, updateWorkflow, patchWorkflow, getWorkflowStep, refreshBlob,
} from "@civitai/client";

const [baseUrl, token] = process.argv.slice(2);
const client = createCivitaiClient({ baseUrl, auth: token });
const advance = (seconds) => fetch(`${baseUrl}/_mock/clock/advance`, {
  method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ seconds }),
});
const body = (prompt) => ({
  steps: [{ $type: "videoGen", input: { engine: "kling-v3", operation: "text-to-video", prompt, duration: 5 } }],
});
const report = {};

const submitted = await submitWorkflow({ client, body: body("[mock:runtime=30] a flower"), query: { wait: 0 } });
report.submit = { status: submitted.response.status, id: submitted.data?.id, workflowStatus: submitted.data?.status };
const id = submitted.data.id;

await advance(600);
const polled = await getWorkflow({ client, path: { workflowId: id } });
const video = polled.data?.steps?.[0]?.output?.video;
report.poll = { status: polled.response.status, workflowStatus: polled.data?.status, videoUrl: video?.url ?? null };
const download = await fetch(video.url);
report.download = { status: download.status, type: download.headers.get("content-type"),
                    bytes: (await download.arrayBuffer()).byteLength };
const refreshed = await refreshBlob({ client, path: { blobId: video.id } });
report.refresh = { status: refreshed.response.status, sameBlob: refreshed.data?.id === video.id };
const step = await getWorkflowStep({ client, path: { workflowId: id, stepName: "$0" } });
report.step = { status: step.response.status, name: step.data?.name };

await addWorkflowTag({ client, path: { workflowId: id }, body: "campaign-7" });
await addWorkflowTag({ client, path: { workflowId: id }, body: "to-remove" });
await removeWorkflowTag({ client, path: { workflowId: id, tag: "to-remove" } });
const updated = await updateWorkflow({ client, path: { workflowId: id }, body: { metadata: { order: 42 } } });
report.update = { status: updated.response.status, metadata: updated.data?.metadata };
const patched = await patchWorkflow({ client, path: { workflowId: id },
                                      body: [{ op: "add", path: "/tags/-", value: "patched" }] });
report.patch = { status: patched.response.status };
const listed = await queryWorkflows({ client, query: { take: 10 } });
report.query = { status: listed.response.status, ids: listed.data?.items?.map((w) => w.id),
                 tags: listed.data?.items?.[0]?.tags };

// cancel as Civitai's web app does: UpdateWorkflow with status "canceled"; then DeleteWorkflow makes it gone
const running = await submitWorkflow({ client, body: body("a long one"), query: { wait: 0 } });
const canceled = await updateWorkflow({ client, path: { workflowId: running.data.id }, body: { status: "canceled" } });
const afterCancel = await getWorkflow({ client, path: { workflowId: running.data.id } });
report.cancel = { status: canceled.response.status, workflowStatus: afterCancel.data?.status };
const deleted = await deleteWorkflow({ client, path: { workflowId: running.data.id } });
const afterDelete = await getWorkflow({ client, path: { workflowId: running.data.id } });
report.delete = { status: deleted.response.status, after: afterDelete.response.status };

const invalid = await submitWorkflow({ client, body: { steps: [{ $type: "videoGen",
  input: { engine: "kling", prompt: "x", duration: 5 } }] } });
report.invalid = { status: invalid.response.status, errors: invalid.error?.errors ?? null };
const missing = await getWorkflow({ client, path: { workflowId: "does-not-exist" } });
report.missing = { status: missing.response.status };
console.log(JSON.stringify(report));
