// A small Kling V3 video app on the unmodified official @civitai/client, written the way the docs ask:
//   - submit with wait=0 (every Kling job outlives the 100 s inline wait),
//   - poll GetWorkflow on the recipe's 10 s -> 30 s -> 60 s cadence until a terminal status,
//   - retry 429 / 5xx with backoff (at least Retry-After), at most 5 tries; never resend a 4xx unchanged,
//   - download the MP4 from its signed URL (no token) and, when that URL answers 403 (expired),
//     ask RefreshBlob for a fresh one and never fetch the dead URL again.
// Time is injected: `sleep(seconds)` defaults to a real timer; tests pass one that advances the fake's
// virtual clock over HTTP (POST /_mock/clock/advance), so a "3-minute" job runs in milliseconds.
import { createCivitaiClient, getWorkflow, refreshBlob, submitWorkflow } from "@civitai/client";

export const TERMINAL = new Set(["succeeded", "failed", "expired", "canceled"]);
/** Seconds between polls (the Kling recipe, "Long-running jobs"); the last one repeats. */
export const POLL_CADENCE = [10, 30, 60];
export const MAX_TRIES = 5;

/** Wait `seconds` of real time. */
export const realSleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

/** The SubmitWorkflow body for one Kling V3 text-to-video step (documented input properties only). */
export function klingV3Body({ prompt, duration = 5, aspectRatio = "16:9", mode = "standard" }) {
  return {
    steps: [{ $type: "videoGen", input: { engine: "kling-v3", operation: "text-to-video", prompt, duration, aspectRatio, mode } }],
  };
}

/** Whether `bytes` start like an MP4 file (an ISO BMFF `ftyp` box). */
export const isMp4 = (bytes) => bytes?.length > 8 && new TextDecoder().decode(bytes.subarray(4, 8)) === "ftyp";

/**
 * Generate one video and report what happened.
 * @returns {Promise<{workflowId: string, status: string, reason: string|null, blockedReason: string|null,
 *   errors: string[], polls: number, video: Uint8Array|null, blobFetches: {url: string, status: number}[],
 *   refreshes: number}>}
 */
export async function generateVideo({ baseUrl, token, prompt, duration, aspectRatio, mode, sleep = realSleep,
                                      log = () => {} }) {
  const client = createCivitaiClient({ baseUrl, auth: token });
  // The SDK turns every non-2xx into a bare Response and drops its headers (its error interceptor);
  // this fetch sees the real one first and keeps the Retry-After the retry policy needs.
  let retryAfter = 0;
  client.setConfig({
    fetch: async (request) => {
      const response = await fetch(request);
      retryAfter = Number(response.headers.get("retry-after") ?? 0) || 0;
      return response;
    },
  });

  /** One SDK call with the documented retry policy. */
  async function call(name, operation, options) {
    for (let attempt = 1; ; attempt++) {
      const { data, error, response } = await operation({ client, ...options });
      if (response.status < 400) return data;
      const retryable = response.status === 429 || response.status >= 500;
      if (!retryable || attempt === MAX_TRIES) {
        throw new Error(`${name}: HTTP ${response.status} ${JSON.stringify(error ?? null)}`);
      }
      const wait = Math.max(2 ** (attempt - 1), retryAfter);
      log(`${name}: HTTP ${response.status}, retrying in ${wait} s`);
      await sleep(wait);
    }
  }

  const result = { workflowId: null, status: null, reason: null, blockedReason: null, errors: [], polls: 0,
                   video: null, blobFetches: [], refreshes: 0 };

  const body = klingV3Body({ prompt, duration, aspectRatio, mode });
  let workflow = await call("SubmitWorkflow", submitWorkflow, { body, query: { wait: 0 } });
  result.workflowId = workflow.id;
  log(`submitted ${workflow.id} (${workflow.status})`);
  while (!TERMINAL.has(workflow.status)) {
    await sleep(POLL_CADENCE[Math.min(result.polls, POLL_CADENCE.length - 1)]);
    workflow = await call("GetWorkflow", getWorkflow, { path: { workflowId: workflow.id } });
    result.polls += 1;
    log(`poll ${result.polls}: ${workflow.status}`);
  }

  const step = workflow.steps?.[0] ?? {};
  const job = (step.jobs ?? []).at(-1) ?? {};
  Object.assign(result, { status: workflow.status, reason: job.reason ?? null,
                          blockedReason: job.blockedReason ?? null, errors: step.output?.errors ?? [] });
  const blob = workflow.status === "succeeded" ? step.output?.video : null;
  if (blob?.url) result.video = await download(blob);
  return result;

  /** The blob's bytes; a 403 (expired URL) is answered with RefreshBlob, never by fetching it again. */
  async function download({ id, url }) {
    for (let attempt = 1; attempt <= MAX_TRIES; attempt++) {
      const response = await fetch(url);
      result.blobFetches.push({ url, status: response.status });
      log(`GET ${id}: HTTP ${response.status}`);
      if (response.ok) return new Uint8Array(await response.arrayBuffer());
      await response.body?.cancel();
      if (response.status === 403) {
        ({ url } = await call("RefreshBlob", refreshBlob, { path: { blobId: id } }));
        result.refreshes += 1;
      } else if (response.status === 429 || response.status >= 500) {
        await sleep(Math.max(2 ** (attempt - 1), Number(response.headers.get("retry-after") ?? 0) || 0));
      } else {
        throw new Error(`GET blob ${id}: HTTP ${response.status}`);
      }
    }
    throw new Error(`GET blob ${id}: no usable URL after ${MAX_TRIES} tries`);
  }
}
